// First run: the owner signs in, then this machine's own account, then the two are linked
// (DESIGN §1: a meshlet has its own DID, linked both ways to its owner).
import { useEffect, useRef, useState, type FormEvent } from 'react'
import type { Account, DashboardState, MachineAccountDraft, Role } from '../../../core/api.js'
import { ApiError } from '../api/errors.js'
import { Field } from '../components/field.js'
import { Banner, ErrorText, Spinner } from '../components/feedback.js'
import { ExternalIcon, LinkIcon, LogoMark } from '../components/icons.js'
import { displayName } from '../lib/format.js'
import { checkHandle } from '../lib/validate.js'
import { useAction, useApi } from '../state/hooks.js'

type Step = 'owner' | 'meshlet' | 'link'

export function onboardingStep(state: DashboardState): Step | undefined {
  if (!state.owner) return 'owner'
  if (!state.meshlet) return 'meshlet'
  if (state.phase === 'needs-meshlet') return 'link'
  return undefined
}

const STEPS: { step: Step; label: string }[] = [
  { step: 'owner', label: 'Your account' },
  { step: 'meshlet', label: 'This machine' },
  { step: 'link', label: 'Link' },
]

export function Onboarding({ state, step }: { state: DashboardState; step: Step }) {
  const current = STEPS.findIndex((s) => s.step === step)
  return (
    <div className="onboarding">
      <div className="onboarding-card card">
        <div className="onboarding-brand">
          <LogoMark size={40} />
          <div>
            <p className="eyebrow">Commune meshlet</p>
            <p className="onboarding-tagline">Lend spare compute to the people you trust.</p>
          </div>
        </div>
        <ol className="steps" aria-label="Setup steps">
          {STEPS.map((s, i) => (
            <li
              key={s.step}
              className={`step ${i < current ? 'step-done' : ''} ${i === current ? 'step-current' : ''}`}
              aria-current={i === current ? 'step' : undefined}
            >
              <span className="step-num" aria-hidden="true">
                {i + 1}
              </span>
              {s.label}
            </li>
          ))}
        </ol>
        {state.phase === 'error' && state.detail && (
          <Banner tone="error" title="Something needs your attention" testId="phase-error">
            {state.detail}
          </Banner>
        )}
        {step === 'owner' && <AccountSignIn role="owner" state={state} />}
        {step === 'meshlet' && state.owner && (
          <>
            <SignedInAs account={state.owner} role="owner" />
            <AccountSignIn role="meshlet" state={state} />
            <CreateMachineAccount />
          </>
        )}
        {step === 'link' && state.owner && state.meshlet && (
          <LinkMachine owner={state.owner} meshlet={state.meshlet} />
        )}
      </div>
    </div>
  )
}

const COPY: Record<Role, { title: string; lead: string; placeholder: string }> = {
  owner: {
    title: 'Sign in with your Bluesky handle',
    lead: 'Your handle is who you are in the commune: members add you by it, and the workloads you run are published from your account.',
    placeholder: 'alice.bsky.social',
  },
  meshlet: {
    title: 'Sign in this machine’s account',
    lead: 'Each machine has an account of its own (a second account on any PDS), so its bids and status records are its own. Sign in with the account you made for this machine.',
    placeholder: 'laptop.alice.bsky.social',
  },
}

function AccountSignIn({ role, state }: { role: Role; state: DashboardState }) {
  const client = useApi()
  const copy = COPY[role]
  const [handle, setHandle] = useState('')
  const [password, setPassword] = useState('')
  const [handleError, setHandleError] = useState<string>()
  const [passwordError, setPasswordError] = useState<string>()
  const [started, setStarted] = useState<{ handle: string; url: string }>()
  const [finishError, setFinishError] = useState<string>()
  const oauth = useAction((h: string) => client.call('auth.signIn', { role, handle: h }))
  const withPassword = useAction((h: string, p: string) =>
    client.call('auth.signInWithPassword', { role, handle: h, password: p }),
  )
  const cancel = useAction(() => client.call('auth.cancelSignIn'))

  const fromCore = state.pendingSignIn?.role === role ? state.pendingSignIn : undefined
  const pending = fromCore ?? started

  // The core's record of the sign-in is the truth: once it has gone, so has ours.
  const hadPending = useRef(false)
  useEffect(() => {
    if (fromCore) hadPending.current = true
    else if (hadPending.current) {
      hadPending.current = false
      setStarted(undefined)
    }
  }, [fromCore])

  useEffect(
    () =>
      client.on('signIn', (e) => {
        if (e.role !== role) return
        setStarted(undefined)
        if (!e.ok) setFinishError(e.error ?? 'Signing in did not finish. Try again.')
      }),
    [client, role],
  )

  const validHandle = (): string | undefined => {
    const check = checkHandle(handle)
    setHandleError(check.ok ? undefined : check.error)
    return check.ok ? check.handle : undefined
  }

  const startOAuth = async (e: FormEvent) => {
    e.preventDefault()
    setFinishError(undefined)
    withPassword.clearError()
    const h = validHandle()
    if (!h) return
    const r = await oauth.run(h)
    if (r.ok) setStarted({ handle: h, url: r.value.url })
  }

  const signInWithPassword = async (e: FormEvent) => {
    e.preventDefault()
    setFinishError(undefined)
    oauth.clearError()
    const h = validHandle()
    const p = password.length === 0 ? 'Enter the app password.' : undefined
    setPasswordError(p)
    if (!h || p) return
    const r = await withPassword.run(h, password)
    if (r.ok) setPassword('')
  }

  if (pending) {
    return (
      <WaitingForBrowser
        handle={pending.handle}
        url={pending.url}
        hostOpensLinks={client.kind === 'ipc'}
        cancelling={cancel.pending}
        cancelError={cancel.error}
        onCancel={async () => {
          if ((await cancel.run()).ok) setStarted(undefined)
        }}
      />
    )
  }

  const busy = oauth.pending || withPassword.pending
  return (
    // Not a named region: the card holds one step at a time, and a region named after the
    // heading would share the word "handle" with the field's label.
    <section className="signin">
      <h1 className="onboarding-title">{copy.title}</h1>
      <p className="lead">{copy.lead}</p>
      {finishError && (
        <Banner tone="error" title="Signing in did not finish">
          {finishError}
        </Banner>
      )}
      <form className="stack" onSubmit={startOAuth} noValidate>
        <Field
          label="Handle"
          name="handle"
          autoComplete="username"
          autoCapitalize="none"
          spellCheck={false}
          placeholder={copy.placeholder}
          value={handle}
          maxLength={254}
          error={handleError}
          onChange={(e) => {
            setHandle(e.target.value)
            setHandleError(undefined)
          }}
        />
        <ErrorText error={oauth.error} />
        <button type="submit" className="btn btn-primary btn-block" disabled={busy}>
          {oauth.pending && <Spinner />}
          Sign in
        </button>
      </form>
      <details className="disclosure">
        <summary>Use an app password instead</summary>
        <form className="stack" onSubmit={signInWithPassword} noValidate>
          <p className="muted small">
            For a machine’s own account, or when a browser is not at hand. Make one in Bluesky under
            Settings → Privacy and security → App passwords; it signs in the handle above.
          </p>
          <Field
            label="App password"
            name="password"
            type="password"
            autoComplete="current-password"
            placeholder="xxxx-xxxx-xxxx-xxxx"
            value={password}
            maxLength={256}
            error={passwordError}
            onChange={(e) => {
              setPassword(e.target.value)
              setPasswordError(undefined)
            }}
          />
          <ErrorText error={withPassword.error} />
          <button type="submit" className="btn btn-secondary btn-block" disabled={busy}>
            {withPassword.pending && <Spinner />}
            Sign in with app password
          </button>
        </form>
      </details>
    </section>
  )
}

function WaitingForBrowser({
  handle,
  url,
  hostOpensLinks,
  cancelling,
  cancelError,
  onCancel,
}: {
  handle: string
  url: string
  hostOpensLinks: boolean
  cancelling: boolean
  cancelError: ApiError | undefined
  onCancel: () => void
}) {
  return (
    <section className="signin waiting" data-testid="signin-pending">
      <div className="waiting-spinner">
        <Spinner />
      </div>
      <h1 className="onboarding-title">Finish signing in in your browser</h1>
      {hostOpensLinks ? (
        <p className="lead">
          Your browser opened your account’s sign-in page for <strong>{handle}</strong>. Approve the
          request there; this window continues on its own.
        </p>
      ) : (
        <>
          <p className="lead">
            Your account’s sign-in page for <strong>{handle}</strong> opens in a new tab. Approve
            the request there; this page continues on its own.
          </p>
          {/* A link the user clicks, not window.open after an await: popup blockers allow it. */}
          <a
            className="btn btn-primary btn-block"
            href={url}
            target="_blank"
            rel="noopener noreferrer"
          >
            Continue in your browser
            <ExternalIcon size={16} />
          </a>
        </>
      )}
      <ErrorText error={cancelError} />
      <button
        type="button"
        className="btn btn-quiet btn-block"
        onClick={onCancel}
        disabled={cancelling}
      >
        Cancel sign-in
      </button>
    </section>
  )
}

function SignedInAs({ account, role }: { account: Account; role: Role }) {
  const client = useApi()
  const signOut = useAction(() => client.call('auth.signOut', { role }))
  return (
    <div className="signed-in-as">
      <span className="avatar avatar-sm" aria-hidden="true">
        {displayName(account).charAt(0).toUpperCase()}
      </span>
      <span>
        Signed in as <strong>{displayName(account)}</strong>
      </span>
      <button
        type="button"
        className="btn btn-link"
        onClick={() => void signOut.run()}
        disabled={signOut.pending}
      >
        Sign out
      </button>
      <ErrorText error={signOut.error} />
    </div>
  )
}

function LinkMachine({ owner, meshlet }: { owner: Account; meshlet: Account }) {
  const client = useApi()
  const link = useAction(() => client.call('meshlet.link'))
  const signOut = useAction(() => client.call('auth.signOut', { role: 'meshlet' }))
  return (
    <section className="signin">
      <h1 className="onboarding-title">Link this machine to you</h1>
      <p className="lead">
        Linking writes two public records: one in your repository naming this machine, one in the
        machine’s naming you. The commune trusts a machine only when both exist and agree.
      </p>
      <div className="link-diagram" aria-hidden="true">
        <div className="link-end">
          <span className="avatar">{displayName(owner).charAt(0).toUpperCase()}</span>
          <span className="link-name">{displayName(owner)}</span>
          <span className="muted small">you</span>
        </div>
        <div className="link-line">
          <LinkIcon size={18} />
        </div>
        <div className="link-end">
          <span className="avatar avatar-machine">
            {displayName(meshlet).charAt(0).toUpperCase()}
          </span>
          <span className="link-name">{displayName(meshlet)}</span>
          <span className="muted small">this machine</span>
        </div>
      </div>
      <p className="sr-only">
        Links {displayName(owner)} (you) with {displayName(meshlet)} (this machine).
      </p>
      <ErrorText error={link.error} />
      <button
        type="button"
        className="btn btn-primary btn-block"
        onClick={() => void link.run()}
        disabled={link.pending}
      >
        {link.pending && <Spinner />}
        Link this machine
      </button>
      <ErrorText error={signOut.error} />
      <button
        type="button"
        className="btn btn-quiet btn-block"
        onClick={() => void signOut.run()}
        disabled={signOut.pending || link.pending}
      >
        Use a different machine account
      </button>
    </section>
  )
}

/** No account for this machine yet: the app makes one on a PDS the owner names, keeps its
 *  password in the keychain and links it (core/accounts). */
function CreateMachineAccount() {
  const client = useApi()
  const [pds, setPds] = useState('')
  const [email, setEmail] = useState('')
  const [inviteCode, setInviteCode] = useState('')
  const [name, setName] = useState('')
  const [pdsError, setPdsError] = useState<string>()
  const create = useAction((draft: MachineAccountDraft) =>
    client.call('auth.createMachineAccount', draft),
  )
  const submit = async (e: FormEvent) => {
    e.preventDefault()
    const address = pds.trim()
    const bad = !/^https?:\/\/\S+$/.test(address)
      ? 'Enter the PDS’s address, like https://pds.example.com.'
      : undefined
    setPdsError(bad)
    if (bad) return
    await create.run({
      pds: address,
      ...(email.trim() ? { email: email.trim() } : {}),
      ...(inviteCode.trim() ? { inviteCode: inviteCode.trim() } : {}),
      ...(name.trim() ? { handle: name.trim() } : {}),
    })
  }
  return (
    <details className="disclosure">
      <summary>No account for this machine yet? Create one</summary>
      <form className="stack" onSubmit={submit} noValidate>
        <p className="muted small">
          The app makes the machine’s account on a PDS you choose — yours, or your commune’s — with
          a strong password kept in this computer’s keychain, and links it to you.
        </p>
        <Field
          label="PDS address"
          name="pds"
          type="url"
          autoCapitalize="none"
          spellCheck={false}
          placeholder="https://pds.example.com"
          value={pds}
          maxLength={2048}
          error={pdsError}
          onChange={(e) => {
            setPds(e.target.value)
            setPdsError(undefined)
          }}
        />
        <Field
          label="Email for the machine’s account"
          name="email"
          type="email"
          hint="Most PDSes ask for one; it must not belong to another account there (you+meshlet@… works)."
          value={email}
          maxLength={254}
          onChange={(e) => setEmail(e.target.value)}
        />
        <Field
          label="Invite code, if the PDS asks"
          name="invite-code"
          autoCapitalize="none"
          spellCheck={false}
          value={inviteCode}
          maxLength={128}
          onChange={(e) => setInviteCode(e.target.value)}
        />
        <Field
          label="Machine name (optional)"
          name="machine-name"
          autoCapitalize="none"
          spellCheck={false}
          hint="A name under the PDS’s domain, or a full address; left empty, one is made up."
          value={name}
          maxLength={253}
          onChange={(e) => setName(e.target.value)}
        />
        <ErrorText error={create.error} />
        <button type="submit" className="btn btn-secondary btn-block" disabled={create.pending}>
          {create.pending && <Spinner />}
          Create this machine’s account
        </button>
      </form>
    </details>
  )
}
