// The owner's own workloads: publish one, see where its replicas landed, delete it (which stops
// it everywhere: DESIGN §1).
import { Switch } from '../components/switch.js'
import { useId, useState, type ChangeEvent, type FormEvent } from 'react'
import {
  LIMITS,
  type DashboardState,
  type ReplicaView,
  type WorkloadDraft,
  type WorkloadLogsView,
  type WorkloadView,
} from '../../../core/api.js'
import { ConfirmAction } from '../components/confirm.js'
import { EmptyState, ErrorText, Spinner } from '../components/feedback.js'
import { Field } from '../components/field.js'
import { TrashIcon, WorkloadsIcon } from '../components/icons.js'
import {
  formatCores,
  formatDateTime,
  formatMemory,
  formatRelative,
  shortDid,
} from '../lib/format.js'
import { joinShellWords } from '../lib/shell-words.js'
import { checkWorkload, type WorkloadField, type WorkloadForm } from '../lib/validate.js'
import { useAction, useApi, useNow } from '../state/hooks.js'

const TONE: Record<string, string> = {
  running: 'ok',
  starting: 'info',
  pending: 'info',
  bidding: 'info',
  pulling: 'info',
  draining: 'warn',
  yielded: 'muted',
  exited: 'muted',
  stopped: 'muted',
  failed: 'error',
  lost: 'error',
}

/** A replica's or guest's state as the core names it; colour by what it means. */
export function StateChip({ state }: { state: string }) {
  return (
    <span
      className={`chip chip-${TONE[state] ?? 'muted'}`}
      data-testid="state-chip"
      data-state={state}
    >
      {state.charAt(0).toUpperCase() + state.slice(1)}
    </span>
  )
}

const EMPTY_FORM: WorkloadForm = {
  image: '',
  cpuMillis: '500',
  memoryMiB: '256',
  replicas: '1',
  command: '',
  secrets: '',
}

export function Workloads({ state }: { state: DashboardState }) {
  const workloads = [...state.workloads].sort((a, b) => b.createdAt.localeCompare(a.createdAt))
  return (
    <div className="stack-lg">
      <SubmitWorkload />
      <section className="card" aria-labelledby="workloads-title">
        <div className="card-head">
          <h2 id="workloads-title">Published</h2>
          <p className="card-sub">Deleting a workload stops it on every machine that runs it.</p>
        </div>
        {workloads.length === 0 ? (
          <EmptyState icon={<WorkloadsIcon size={28} />} title="No workloads yet">
            Submit one above; machines in your cluster bid for it within seconds.
          </EmptyState>
        ) : (
          <ul className="list" aria-label="Workloads">
            {workloads.map((w) => (
              <WorkloadRow key={w.uri} workload={w} />
            ))}
          </ul>
        )}
      </section>
    </div>
  )
}

/** Secret environment variables: sealed to the machines that may run the workload (core/sealing),
 *  never published in plain text. A textarea: one NAME=VALUE per line. */
function SecretsField(props: {
  value: string
  error?: string | undefined
  onChange: (v: string) => void
}) {
  const id = useId()
  const described = props.error ? `${id}-error` : `${id}-hint`
  return (
    <div className="field span-2">
      <label htmlFor={id} className="field-label">
        Secrets
      </label>
      <div className="input-wrap">
        <textarea
          id={id}
          name="secrets"
          className="input"
          rows={2}
          autoCapitalize="none"
          autoComplete="off"
          spellCheck={false}
          placeholder="API_TOKEN=…"
          aria-invalid={props.error ? true : undefined}
          aria-describedby={described}
          value={props.value}
          onChange={(e) => props.onChange(e.target.value)}
        />
      </div>
      {props.error ? (
        <p id={`${id}-error`} className="field-error" data-testid="field-error">
          {props.error}
        </p>
      ) : (
        <p id={`${id}-hint`} className="field-hint">
          Optional. One NAME=VALUE per line. Sealed to the machines that may run it and passed to
          the guest as environment variables; never published in plain text.
        </p>
      )}
    </div>
  )
}

function SubmitWorkload() {
  const client = useApi()
  const [form, setForm] = useState<WorkloadForm>(EMPTY_FORM)
  const [errors, setErrors] = useState<Partial<Record<WorkloadField, string>>>({})
  const [published, setPublished] = useState<string>()
  const [egress, setEgress] = useState(false)
  const submit = useAction((draft: WorkloadDraft) => client.call('workloads.submit', draft))

  const edit = (field: WorkloadField) => (e: ChangeEvent<HTMLInputElement>) => {
    setForm((f) => ({ ...f, [field]: e.target.value }))
    setErrors((es) => ({ ...es, [field]: undefined }))
    setPublished(undefined)
  }

  const onSubmit = async (e: FormEvent<HTMLFormElement>) => {
    e.preventDefault()
    const formEl = e.currentTarget
    const check = checkWorkload(form)
    if (!check.ok) {
      setErrors(check.errors)
      // Take the keyboard to the first field that needs fixing, once it is marked.
      window.requestAnimationFrame(() =>
        formEl.querySelector<HTMLInputElement>('[aria-invalid="true"]')?.focus(),
      )
      return
    }
    setErrors({})
    const r = await submit.run({ ...check.draft, ...(egress ? { egress: true } : {}) })
    if (r.ok) {
      setPublished(check.draft.image)
      setForm(EMPTY_FORM)
      setEgress(false)
    }
  }

  const cpu = Number(form.cpuMillis)
  const memory = Number(form.memoryMiB)
  return (
    <section className="card" aria-labelledby="submit-title">
      <div className="card-head">
        <h2 id="submit-title">Run a workload</h2>
        <p className="card-sub">
          Published to your account; machines in your cluster with room for it bid to run it.
        </p>
      </div>
      <form
        className="workload-form"
        onSubmit={onSubmit}
        noValidate
        aria-describedby="submit-title"
      >
        <Field
          className="span-2"
          label="Image"
          name="image"
          placeholder="registry.example/app:1.2"
          autoCapitalize="none"
          autoComplete="off"
          spellCheck={false}
          maxLength={LIMITS.image}
          value={form.image}
          error={errors.image}
          onChange={edit('image')}
        />
        <Field
          label="CPU"
          name="cpu"
          inputMode="numeric"
          suffix="millicores"
          value={form.cpuMillis}
          error={errors.cpuMillis}
          hint={
            Number.isFinite(cpu) && cpu > 0 ? `= ${formatCores(cpu)}` : '1000 millicores = 1 core'
          }
          onChange={edit('cpuMillis')}
        />
        <Field
          label="Memory"
          name="memory"
          inputMode="numeric"
          suffix="MiB"
          value={form.memoryMiB}
          error={errors.memoryMiB}
          hint={
            Number.isFinite(memory) && memory >= 1024
              ? `= ${formatMemory(memory)}`
              : `At least ${LIMITS.minMemoryMiB} MiB`
          }
          onChange={edit('memoryMiB')}
        />
        <Field
          label="Replicas"
          name="replicas"
          inputMode="numeric"
          value={form.replicas}
          error={errors.replicas}
          hint={`Each on a different machine; up to ${LIMITS.replicas}`}
          onChange={edit('replicas')}
        />
        <Field
          className="span-2"
          label="Command"
          name="command"
          placeholder={`sh -c 'echo hello from the commune'`}
          autoCapitalize="none"
          autoComplete="off"
          spellCheck={false}
          value={form.command}
          error={errors.command}
          hint="Optional. Split into words like a shell does; quotes keep spaces. Nothing is expanded."
          onChange={edit('command')}
        />
        <SecretsField
          value={form.secrets ?? ''}
          error={errors.secrets}
          onChange={(v) => {
            setForm((f) => ({ ...f, secrets: v }))
            setErrors((es) => ({ ...es, secrets: undefined }))
            setPublished(undefined)
          }}
        />
        <div className="span-2">
          <Switch
            label="Needs network access"
            description="Only machines whose owners allow guests on the network will bid for it."
            checked={egress}
            onChange={(v) => {
              setEgress(v)
              setPublished(undefined)
            }}
          />
        </div>
        <div className="form-footer span-2">
          <ErrorText error={submit.error} />
          {published && (
            <p className="success-text" role="status">
              Published {published}. Machines are bidding for it.
            </p>
          )}
          <button type="submit" className="btn btn-primary" disabled={submit.pending}>
            {submit.pending && <Spinner />}
            Submit workload
          </button>
        </div>
      </form>
    </section>
  )
}

function WorkloadRow({ workload: w }: { workload: WorkloadView }) {
  const client = useApi()
  const now = useNow(15_000)
  const running = w.placements.filter((p) => p.state === 'running').length
  return (
    <li className="list-row workload" data-testid="workload-row" data-uri={w.uri}>
      <div className="list-main">
        <div className="list-title">
          <span className="mono image-ref" title={w.image}>
            {w.image}
          </span>
          <span className="chip chip-muted">
            {running}/{w.replicas} running
          </span>
        </div>
        <p className="list-sub" data-testid="workload-headline">
          {w.headline}
        </p>
        <p className="list-meta">
          <span>{formatCores(w.cpuMillis)}</span>
          <span>{formatMemory(w.memoryMiB)}</span>
          <span>
            {w.replicas} {w.replicas === 1 ? 'replica' : 'replicas'}
          </span>
          <span title={formatDateTime(w.createdAt)}>
            published {formatRelative(w.createdAt, now)}
          </span>
        </p>
        {w.command && w.command.length > 0 && (
          <p className="command">
            <span className="sr-only">Command: </span>
            <code>{joinShellWords(w.command)}</code>
          </p>
        )}
      </div>
      <div className="list-actions">
        <ConfirmAction
          label={`Delete ${w.image}`}
          trigger={
            <>
              <TrashIcon size={16} />
              <span className="hide-narrow">Delete</span>
            </>
          }
          title={`Delete ${w.image}?`}
          confirmLabel="Delete"
          onConfirm={() => client.call('workloads.delete', { uri: w.uri })}
        >
          The workload record is deleted from your account, and every machine running a replica
          stops it.
        </ConfirmAction>
      </div>
      {/* Beside the title the Delete button; below, the placements take the full width. */}
      {w.placements.length > 0 && <Placements uri={w.uri} placements={w.placements} now={now} />}
      {w.voidBids && w.voidBids.length > 0 && (
        <ul className="list-sub why-not" aria-label="Bids that do not count">
          {w.voidBids.map((b) => (
            <li
              key={b.meshlet}
              data-testid="void-bid"
              data-meshlet={b.meshlet}
              data-reason={b.reason}
            >
              <span className="cell-name" title={b.meshlet}>
                {b.ownerHandle ?? shortDid(b.meshlet)}
              </span>
              : bid void — {b.sentence}
              {w.noBid && w.noBid.length > 0 && running < w.replicas && (
                <ul className="list-sub why-not" aria-label="Why other machines did not bid">
                  {w.noBid.map((n) => (
                    <li
                      key={n.meshlet}
                      data-testid="no-bid"
                      data-meshlet={n.meshlet}
                      data-reason={n.reason ?? 'unknown'}
                    >
                      <span className="cell-name" title={n.meshlet}>
                        {n.ownerHandle ?? shortDid(n.meshlet)}
                      </span>
                      : no bid — {n.sentence}
                    </li>
                  ))}
                </ul>
              )}
            </li>
          ))}
        </ul>
      )}
    </li>
  )
}

function Placements({
  uri,
  placements,
  now,
}: {
  uri: string
  placements: ReplicaView[]
  now: number
}) {
  const client = useApi()
  const [shown, setShown] = useState<string>()
  const [logs, setLogs] = useState<WorkloadLogsView['hosts'][number]>()
  const fetchLogs = useAction(async (meshlet: string) => {
    setShown(meshlet)
    setLogs(undefined)
    const res = await client.call('workloads.logs', { uri, meshlet })
    setLogs(res.hosts.find((h) => h.meshlet === meshlet))
  })
  return (
    <div className="table-scroll placements">
      <table className="table table-compact">
        <caption className="sr-only">Where its replicas are placed</caption>
        <colgroup>
          <col />
          <col className="col-round" />
          <col className="col-state" />
          <col className="col-updated" />
        </colgroup>
        <thead>
          <tr>
            <th scope="col">Machine</th>
            <th scope="col" className="num">
              Round
            </th>
            <th scope="col">State</th>
            <th scope="col">Updated</th>
            <th scope="col">
              <span className="sr-only">Logs</span>
            </th>
          </tr>
        </thead>
        <tbody>
          {placements.map((p) => (
            <tr
              key={`${p.meshlet}-${p.round}`}
              data-testid="placement-row"
              data-meshlet={p.meshlet}
            >
              <th scope="row" data-label="Machine">
                <span className="cell-name" title={p.meshlet}>
                  {p.ownerHandle ??
                    (p.meshletOwner ? shortDid(p.meshletOwner) : shortDid(p.meshlet))}
                </span>
                {(p.ownerHandle || p.meshletOwner) && (
                  <span className="muted small block mono">{shortDid(p.meshlet)}</span>
                )}
              </th>
              <td className="num" data-label="Round">
                {p.round}
              </td>
              <td data-label="State">
                <StateChip state={p.state} />
                {p.exitCode !== undefined && (
                  <span className="muted small"> exit {p.exitCode}</span>
                )}
                {p.message && <span className="muted small block">{p.message}</span>}
              </td>
              <td data-label="Updated" title={formatDateTime(p.updatedAt)}>
                {formatRelative(p.updatedAt, now)}
              </td>
              <td data-label="Logs">
                <button
                  type="button"
                  className="btn btn-secondary btn-sm"
                  data-testid="logs-button"
                  aria-expanded={shown === p.meshlet}
                  disabled={fetchLogs.pending}
                  onClick={() => void fetchLogs.run(p.meshlet)}
                >
                  Logs
                </button>
              </td>
            </tr>
          ))}
        </tbody>
      </table>
      {shown && (
        <div className="replica-logs" data-testid="replica-logs" aria-live="polite">
          {fetchLogs.pending && <Spinner label="Asking the machine…" />}
          <ErrorText error={fetchLogs.error} />
          {logs && !logs.reachable && (
            <p className="muted" data-testid="logs-unreachable">
              This machine cannot be reached: it does not serve the meshlet API where you can reach
              it (it may be behind a home router). Its status still arrives through records.
            </p>
          )}
          {logs?.reachable && logs.replicas.length === 0 && (
            <p className="muted">{logs.reason ?? 'No output from this machine.'}</p>
          )}
          {logs?.replicas.map((r) => (
            <div key={r.round}>
              <p className="small muted">
                Round {r.round} ({r.state}){r.truncated ? ', older lines omitted' : ''}
              </p>
              <pre className="log-lines">
                {r.lines.map((l) => l.text).join('\n') || '(nothing printed yet)'}
              </pre>
            </div>
          ))}
        </div>
      )}
    </div>
  )
}
