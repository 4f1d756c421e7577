// The screen the tray opens to: whether this machine lends, how much, and on what terms.
import { useEffect, useRef, type ReactNode } from 'react'
import {
  SOURCE_COSTS,
  SOURCE_KINDS,
  type Account,
  type Capacity,
  type DashboardState,
  type Role,
  type SourceKind,
} from '../../../core/api.js'
import { CapacitySlider } from '../components/capacity-slider.js'
import { ConfirmAction } from '../components/confirm.js'
import { ErrorText } from '../components/feedback.js'
import { ImagePolicySettings } from '../components/image-policy.js'
import { LendingRulesCard } from '../components/lending-rules.js'
import { CpuIcon, MemoryIcon, StorageIcon } from '../components/icons.js'
import { Switch } from '../components/switch.js'
import { coresNumber, displayName, formatSignedUnits, gibNumber } from '../lib/format.js'
import { useApi, useConfirmed } from '../state/hooks.js'
import type { Section } from './sections.js'

export function Overview({ state, go }: { state: DashboardState; go: (section: Section) => void }) {
  return (
    <div className="stack-lg">
      <LendCard state={state} />
      <Stats state={state} go={go} />
      <CapacityCard state={state} />
      <LendingRulesCard state={state} />
      <SettingsCard state={state} />
      <AccountsCard state={state} />
    </div>
  )
}

function lendDescription(state: DashboardState, lending: boolean): string {
  if (!lending)
    return 'Not bidding on new work. Guests running here are stopped and placed elsewhere.'
  if (state.phase === 'paused') {
    return state.detail ?? 'Paused by the system; lending resumes on its own.'
  }
  if (state.phase === 'offline') return 'Lending resumes as soon as the network is back.'
  if (state.phase === 'error') return 'Lending resumes once the problem above is fixed.'
  if (state.phase === 'starting') return 'Catching up with the commune; bidding starts in a moment.'
  return 'This machine bids on the commune’s workloads and runs the ones it wins.'
}

function clockTime(iso: string): string {
  return new Date(iso).toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' })
}

function LendCard({ state }: { state: DashboardState }) {
  const client = useApi()
  const lending = useConfirmed(state.settings.lending, (v: boolean) =>
    client.call('lending.set', { lending: v }),
  )
  return (
    <section className={`card lend-card ${lending.value ? 'is-on' : ''}`} aria-label="Lending">
      <Switch
        size="lg"
        label="Lend compute"
        description={lendDescription(state, lending.value)}
        checked={lending.value}
        busy={lending.busy}
        onChange={lending.set}
        testId="lend-switch"
      />
      <ErrorText error={lending.error} />
      {state.rateLimitedUntil !== undefined && (
        <p className="muted" role="status" data-testid="rate-limited">
          Rate limited until {clockTime(state.rateLimitedUntil)}: your PDS refuses more writes for
          now. They wait and go out then, endings first; nothing is lost.
        </p>
      )}
      {state.pdsUnreachableSince !== undefined && (
        <p className="muted" role="status" data-testid="pds-unreachable">
          Your PDS has not answered since {clockTime(state.pdsUnreachableSince)}. Guests that ended
          are kept and published first once it answers; other changes fail until then.
        </p>
      )}
    </section>
  )
}

function Stats({ state, go }: { state: DashboardState; go: (section: Section) => void }) {
  const me = state.owner?.did
  const mine = state.balances.members.find((b) => b.did === me)
  const mutual = state.members.filter((m) => m.state === 'mutual').length
  // Labels differ from the section names on purpose: a test (or a screen reader user) asking
  // for the button "Running here" should find the navigation, not this tile as well.
  const tiles: { label: string; value: string; section: Section; note: string }[] = [
    {
      label: 'Guests',
      value: String(state.guests.length),
      section: 'guests',
      note: 'on this machine',
    },
    {
      label: 'Workloads',
      value: String(state.workloads.length),
      section: 'workloads',
      note: 'published by you',
    },
    {
      label: 'Members',
      value: String(mutual),
      section: 'cluster',
      note: 'mutual',
    },
    {
      label: 'Balance',
      value: mine ? formatSignedUnits(mine.balance) : '—',
      section: 'balances',
      note: 'units',
    },
  ]
  return (
    <ul className="stats" aria-label="At a glance">
      {tiles.map((t) => (
        <li key={t.section}>
          <button type="button" className="stat" onClick={() => go(t.section)}>
            <span className="stat-label">{t.label}</span>
            <span className="stat-value">{t.value}</span>
            <span className="stat-note">{t.note}</span>
          </button>
        </li>
      ))}
    </ul>
  )
}

const FALLBACK_STEP: Capacity = { cpuMillis: 100, memoryMiB: 256, storageMiB: 1024 }

/** The three sliders differ only in these. */
const SLIDERS: {
  key: keyof Capacity
  label: string
  icon: ReactNode
  testId: string
  format: (v: number) => string
  unit: string
}[] = [
  {
    key: 'cpuMillis',
    label: 'CPU',
    icon: <CpuIcon />,
    testId: 'cpu-slider',
    format: coresNumber,
    unit: 'cores',
  },
  {
    key: 'memoryMiB',
    label: 'Memory',
    icon: <MemoryIcon />,
    testId: 'memory-slider',
    format: gibNumber,
    unit: 'GiB',
  },
  {
    key: 'storageMiB',
    label: 'Storage',
    icon: <StorageIcon />,
    testId: 'storage-slider',
    format: gibNumber,
    unit: 'GiB',
  },
]

function CapacityCard({ state }: { state: DashboardState }) {
  const client = useApi()
  const { host, used, committed, offer, minimum } = state.capacity
  // Each slider sends all three numbers; the other two must be what the user sees (possibly
  // still unconfirmed), or a quick second change would undo the first.
  const shown = useRef<Capacity>(offer)
  const send = (patch: Partial<Capacity>) => {
    shown.current = { ...shown.current, ...patch }
    return client.call('capacity.set', shown.current)
  }
  const cpu = useConfirmed(offer.cpuMillis, (v: number) => send({ cpuMillis: v }))
  const memory = useConfirmed(offer.memoryMiB, (v: number) => send({ memoryMiB: v }))
  const storage = useConfirmed(offer.storageMiB, (v: number) => send({ storageMiB: v }))
  useEffect(() => {
    shown.current = { cpuMillis: cpu.value, memoryMiB: memory.value, storageMiB: storage.value }
  }, [cpu.value, memory.value, storage.value])

  const confirmed = { cpuMillis: cpu, memoryMiB: memory, storageMiB: storage }
  const step = (k: keyof Capacity) => (minimum[k] > 0 ? minimum[k] : FALLBACK_STEP[k])
  const error = cpu.error ?? memory.error ?? storage.error
  return (
    <section className="card" aria-labelledby="capacity-title">
      <div className="card-head">
        <h2 id="capacity-title">What you lend</h2>
        <p className="card-sub">
          Guests never get more than this, whatever they ask for. Lowering it does not stop what
          already runs.
        </p>
      </div>
      <div className="sliders">
        {SLIDERS.map((r) => {
          const c = confirmed[r.key]
          return (
            <CapacitySlider
              key={r.key}
              label={r.label}
              ariaLabel={`${r.label} to lend`}
              icon={r.icon}
              testId={r.testId}
              value={c.value}
              min={step(r.key)}
              max={host[r.key]}
              step={step(r.key)}
              used={used[r.key]}
              committed={committed[r.key]}
              format={r.format}
              unit={r.unit}
              busy={c.busy}
              onCommit={c.set}
            />
          )
        })}
      </div>
      <ErrorText error={error} />
    </section>
  )
}

const SOURCE_NAMES: Record<SourceKind, string> = {
  jetstream: 'Jetstream',
  pds: 'Members’ PDSes',
  relay: 'The relay',
}

/** How peers tell this machine is up, which is what its presence writes cost. */
function LivenessNote({ state }: { state: DashboardState }) {
  const l = state.liveness
  if (!l) return null
  const at = l.endpoint ? ` at ${l.endpoint}` : ''
  const text =
    l.mode === 'challenge'
      ? `Peers check this machine${at} directly, so it writes its presence only every 5 minutes.`
      : l.reason === 'unreachable'
        ? `A peer could not reach this machine${at}, so for now it writes its presence every 20 s, a quarter of its write budget. Members on one network or VPN, or a forwarded port, avoid that.`
        : state.settings.serveApi
          ? 'No address of this machine that peers could reach was found, so it writes its presence every 20 s.'
          : 'It writes its presence every 20 s, a quarter of its write budget.'
  return (
    <p className="muted" role="status" data-testid="liveness">
      {text}
    </p>
  )
}

function SettingsCard({ state }: { state: DashboardState }) {
  const client = useApi()
  const login = useConfirmed(state.settings.startAtLogin, (v: boolean) =>
    client.call('settings.set', { startAtLogin: v }),
  )
  const egress = useConfirmed(state.settings.allowEgress, (v: boolean) =>
    client.call('settings.set', { allowEgress: v }),
  )
  const serveApi = useConfirmed(state.settings.serveApi, (v: boolean) =>
    client.call('settings.set', { serveApi: v }),
  )
  const source = useConfirmed<SourceKind>(state.settings.source ?? 'relay', (v) =>
    client.call('settings.set', { source: v }),
  )
  return (
    <section className="card" aria-labelledby="settings-title">
      <div className="card-head">
        <h2 id="settings-title">Settings</h2>
      </div>
      <div className="settings">
        {state.canStartAtLogin && (
          <Switch
            label="Start at login"
            description="Open the meshlet in the tray when you log in."
            checked={login.value}
            busy={login.busy}
            onChange={login.set}
          />
        )}
        <Switch
          label="Allow network access for guests"
          description="Guests run without a network unless their workload asks for it and this is on."
          checked={egress.value}
          busy={egress.busy}
          onChange={egress.set}
        />
        <Switch
          label="Serve the meshlet API"
          description="Peers check that this machine is up by asking it, instead of it writing its presence every 20 s, and members can read their guests' logs from it. Works where they can reach it: the same network, a VPN, or a forwarded port. Off, it works fully through records, at a quarter of its write budget."
          checked={serveApi.value}
          busy={serveApi.busy}
          onChange={serveApi.set}
        />
        <LivenessNote state={state} />
        <fieldset className="switch-row source-choice" aria-busy={source.busy}>
          <legend className="switch-label">Read records from</legend>
          {SOURCE_KINDS.map((kind) => (
            <label key={kind} className="source-option">
              <input
                type="radio"
                name="source"
                value={kind}
                checked={source.value === kind}
                onChange={() => source.set(kind)}
              />
              <span>
                <span className="source-name">{SOURCE_NAMES[kind]}</span>
                <span className="switch-desc">{SOURCE_COSTS[kind]}</span>
              </span>
            </label>
          ))}
        </fieldset>
        <ImagePolicySettings settings={state.settings} />
      </div>
      <ErrorText error={login.error ?? egress.error ?? serveApi.error ?? source.error} />
    </section>
  )
}

function AccountsCard({ state }: { state: DashboardState }) {
  return (
    <section className="card" aria-labelledby="accounts-title">
      <div className="card-head">
        <h2 id="accounts-title">Accounts</h2>
      </div>
      <ul className="accounts">
        {state.owner && <AccountRow account={state.owner} role="owner" />}
        {state.meshlet && <AccountRow account={state.meshlet} role="meshlet" />}
      </ul>
    </section>
  )
}

function AccountRow({ account, role }: { account: Account; role: Role }) {
  const client = useApi()
  const name = displayName(account)
  const who = role === 'owner' ? 'You' : 'This machine'
  return (
    <li className="account" data-testid="account-row" data-role={role}>
      <span className={`avatar ${role === 'meshlet' ? 'avatar-machine' : ''}`} aria-hidden="true">
        {name.charAt(0).toUpperCase()}
      </span>
      <div className="account-text">
        <span className="account-name">{name}</span>
        <span className="muted small">
          {who} · {account.method === 'oauth' ? 'signed in with Bluesky' : 'app password'} ·{' '}
          <span className="mono">{account.did}</span>
        </span>
      </div>
      <ConfirmAction
        label={role === 'owner' ? 'Sign out' : 'Sign out this machine'}
        trigger="Sign out"
        title={role === 'owner' ? `Sign out ${name}?` : `Sign out this machine (${name})?`}
        confirmLabel="Sign out"
        onConfirm={() => client.call('auth.signOut', { role })}
      >
        {role === 'owner'
          ? 'You will need to sign in again to manage this machine and your workloads.'
          : 'This machine cannot bid or publish status until its account signs in again.'}
      </ConfirmAction>
    </li>
  )
}
