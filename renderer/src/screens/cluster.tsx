// Who this meshlet works with. Membership is mutual (DESIGN §1): adding someone is half of it,
// and each row says which half is missing.
import { useState, type FormEvent } from 'react'
import type { DashboardState, MemberView } from '../../../core/api.js'
import { ConfirmAction } from '../components/confirm.js'
import { EmptyState, ErrorText, Spinner } from '../components/feedback.js'
import { Field } from '../components/field.js'
import { ClusterIcon, PlusIcon, TrashIcon } from '../components/icons.js'
import { displayName } from '../lib/format.js'
import { checkHandle } from '../lib/validate.js'
import { useAction, useApi } from '../state/hooks.js'

const STATE_LABEL: Record<MemberView['state'], string> = {
  self: 'You',
  mutual: 'Mutual',
  waiting: 'Waiting',
  broken: 'Broken link',
  stranger: 'Not added',
}

/** Said when the core gives no reason of its own. */
const STATE_EXPLAINED: Record<MemberView['state'], string> = {
  self: 'Your own account.',
  mutual: 'You list each other, and both meshlets are linked both ways.',
  waiting: 'You list them; their meshlet does not list you yet.',
  broken: 'Their linkage records disagree.',
  stranger: 'They list you, but you have not added them.',
}

const ORDER: MemberView['state'][] = ['self', 'mutual', 'waiting', 'broken', 'stranger']

export function Cluster({ state }: { state: DashboardState }) {
  const members = [...state.members].sort(
    (a, b) =>
      ORDER.indexOf(a.state) - ORDER.indexOf(b.state) ||
      displayName(a).localeCompare(displayName(b)),
  )
  const count = (s: MemberView['state']) => state.members.filter((m) => m.state === s).length
  return (
    <div className="stack-lg">
      <AddMember />
      <section className="card" aria-labelledby="members-title">
        <div className="card-head row-between">
          <h2 id="members-title">Members</h2>
          <p className="card-sub">
            {count('mutual')} mutual · {count('waiting')} waiting
            {count('stranger') > 0 && ` · ${count('stranger')} asking to join`}
          </p>
        </div>
        {members.length === 0 ? (
          <EmptyState icon={<ClusterIcon size={28} />} title="No members yet">
            Add the people you want to share compute with. They add you too, and you are a cluster.
          </EmptyState>
        ) : (
          <ul className="list" aria-label="Members">
            {members.map((m) => (
              <MemberRow key={m.did} member={m} />
            ))}
          </ul>
        )}
      </section>
    </div>
  )
}

function AddMember() {
  const client = useApi()
  const [handle, setHandle] = useState('')
  const [invalid, setInvalid] = useState<string>()
  const [added, setAdded] = useState<string>()
  const add = useAction((h: string) => client.call('members.add', { handle: h }))

  const submit = async (e: FormEvent) => {
    e.preventDefault()
    setAdded(undefined)
    const check = checkHandle(handle)
    if (!check.ok) {
      setInvalid(check.error)
      return
    }
    const r = await add.run(check.handle)
    if (r.ok) {
      setHandle('')
      setAdded(displayName(r.value))
    }
  }

  return (
    <section className="card" aria-labelledby="add-member-title">
      <div className="card-head">
        <h2 id="add-member-title">Add a member</h2>
        <p className="card-sub">
          Add someone by their Bluesky handle. You share compute once their meshlet lists you too.
        </p>
      </div>
      <form className="inline-form" onSubmit={submit} noValidate>
        <Field
          label="Member handle"
          name="member-handle"
          placeholder="bob.bsky.social"
          autoCapitalize="none"
          autoComplete="off"
          spellCheck={false}
          value={handle}
          error={invalid}
          onChange={(e) => {
            setHandle(e.target.value)
            setInvalid(undefined)
            setAdded(undefined)
          }}
        />
        <button type="submit" className="btn btn-primary" disabled={add.pending}>
          {add.pending ? <Spinner /> : <PlusIcon size={16} />}
          Add member
        </button>
      </form>
      <ErrorText error={add.error} />
      {added && (
        <p className="success-text" role="status">
          Added {added}.
        </p>
      )}
    </section>
  )
}

function MemberRow({ member }: { member: MemberView }) {
  const client = useApi()
  const name = displayName(member)
  const addBack = useAction(() =>
    client.call('members.add', { handle: member.handle ?? member.did }),
  )
  const meshlets = member.meshlets.length
  return (
    <li
      className="list-row member"
      data-testid="member-row"
      data-did={member.did}
      data-state={member.state}
    >
      <span className={`avatar avatar-${member.state}`} aria-hidden="true">
        {name.charAt(0).toUpperCase()}
      </span>
      <div className="list-main">
        <div className="list-title">
          <span className="member-name">{name}</span>
          <span className={`chip chip-${member.state}`} data-testid="member-state">
            {STATE_LABEL[member.state]}
          </span>
        </div>
        <p className="list-sub" data-testid="member-reason">
          {member.reason ?? STATE_EXPLAINED[member.state]}
        </p>
        <p className="list-meta">
          {member.handle && <span className="mono">{member.did}</span>}
          <span title={member.meshlets.join('\n') || undefined}>
            {meshlets === 0
              ? 'no verified meshlet'
              : meshlets === 1
                ? '1 meshlet'
                : `${meshlets} meshlets`}
          </span>
        </p>
        <ErrorText error={addBack.error} />
      </div>
      <div className="list-actions">
        {member.state === 'stranger' && (
          <button
            type="button"
            className="btn btn-secondary btn-sm"
            aria-label={`Add ${name}`}
            disabled={addBack.pending}
            onClick={() => void addBack.run()}
          >
            <PlusIcon size={16} />
            Add
          </button>
        )}
        {member.state !== 'self' && member.state !== 'stranger' && (
          <ConfirmAction
            label={`Remove ${name}`}
            trigger={
              <>
                <TrashIcon size={16} />
                <span className="hide-narrow">Remove</span>
              </>
            }
            title={`Remove ${name}?`}
            confirmLabel="Remove"
            onConfirm={() => client.call('members.remove', { did: member.did })}
          >
            Your meshlet stops listing them: it will not run their workloads, and yours will not be
            placed on their machines. Your other machines keep their own lists. You can add them
            again later.
          </ConfirmAction>
        )}
      </div>
    </li>
  )
}
