// The window: loading and connection problems first, then first-run setup, then the dashboard
// with its sections.
import { useEffect, useRef, useState, type ReactNode } from 'react'
import type { DashboardState } from '../../core/api.js'
import type { ConnectionState } from './api/transport.js'
import { Banner, Spinner } from './components/feedback.js'
import {
  ActivityIcon,
  BalancesIcon,
  ClusterIcon,
  GuestsIcon,
  LogoMark,
  OfflineIcon,
  OverviewIcon,
  WorkloadsIcon,
} from './components/icons.js'
import { PhaseBadge } from './components/phase-badge.js'
import { displayName, formatDuration } from './lib/format.js'
import { Activity } from './screens/activity.js'
import { Balances } from './screens/balances.js'
import { Cluster } from './screens/cluster.js'
import { Guests } from './screens/guests.js'
import { Overview } from './screens/overview.js'
import { SECTIONS, type Section } from './screens/sections.js'
import { Onboarding, onboardingStep } from './screens/sign-in.js'
import { Workloads } from './screens/workloads.js'
import { useApi, useConnection, useDashboard, useNow } from './state/hooks.js'

const ICONS: Record<Section, () => ReactNode> = {
  overview: () => <OverviewIcon />,
  cluster: () => <ClusterIcon />,
  balances: () => <BalancesIcon />,
  guests: () => <GuestsIcon />,
  workloads: () => <WorkloadsIcon />,
  activity: () => <ActivityIcon />,
}

const SECTION_KEY = 'meshlet.section'

function initialSection(): Section {
  try {
    const saved = window.sessionStorage.getItem(SECTION_KEY)
    if (SECTIONS.some((s) => s.id === saved)) return saved as Section
  } catch {
    // Storage may be off; start on the overview.
  }
  return 'overview'
}

export function App() {
  const state = useDashboard()
  const connection = useConnection()

  if (connection.status === 'no-token' || connection.status === 'refused') {
    return <CannotConnect connection={connection} />
  }
  if (!state) {
    return (
      <div className="splash" aria-busy="true">
        <LogoMark size={48} />
        <ConnectionBanner connection={connection} neverConnected />
        <p className="splash-text">
          <Spinner />
          Connecting to your meshlet…
        </p>
      </div>
    )
  }
  const step = onboardingStep(state)
  if (step) {
    return (
      <>
        <ConnectionBanner connection={connection} floating />
        <Onboarding state={state} step={step} />
      </>
    )
  }
  return <Dashboard state={state} connection={connection} />
}

function Dashboard({ state, connection }: { state: DashboardState; connection: ConnectionState }) {
  const [section, setSection] = useState<Section>(initialSection)
  const heading = useRef<HTMLHeadingElement>(null)
  const moved = useRef(false)

  useEffect(() => {
    try {
      window.sessionStorage.setItem(SECTION_KEY, section)
    } catch {
      // Not remembering the section across reloads is fine.
    }
    // After a section change (not on first paint), take focus to the new page's heading so
    // keyboard and screen-reader users land on what they asked for.
    if (moved.current) heading.current?.focus()
    moved.current = true
  }, [section])

  const counts: Partial<Record<Section, number>> = {
    guests: state.guests.length,
    workloads: state.workloads.length,
  }
  const current = SECTIONS.find((s) => s.id === section) ?? SECTIONS[0]!

  return (
    <div className="shell">
      {/* Focus the page's heading directly: following "#main" would put a fragment in the
          address bar, where the token link lives. */}
      <a
        className="skip-link"
        href="#main"
        onClick={(e) => {
          e.preventDefault()
          heading.current?.focus()
        }}
      >
        Skip to content
      </a>
      <aside className="sidebar">
        <div className="brand">
          <LogoMark size={28} />
          <span className="brand-name">Commune meshlet</span>
        </div>
        <nav aria-label="Sections" className="nav">
          <ul>
            {SECTIONS.map((s) => (
              <li key={s.id}>
                <button
                  type="button"
                  className="nav-item"
                  aria-current={s.id === section ? 'page' : undefined}
                  data-testid={`nav-${s.id}`}
                  onClick={() => setSection(s.id)}
                >
                  {ICONS[s.id]()}
                  <span className="nav-label">{s.label}</span>
                  {counts[s.id] ? (
                    <span className="nav-count" aria-hidden="true">
                      {counts[s.id]}
                    </span>
                  ) : null}
                </button>
              </li>
            ))}
          </ul>
        </nav>
        <div className="sidebar-foot">
          {state.owner && (
            <div className="whoami" data-testid="whoami">
              <span className="avatar avatar-sm" aria-hidden="true">
                {displayName(state.owner).charAt(0).toUpperCase()}
              </span>
              <span className="whoami-text">
                <span className="whoami-name">{displayName(state.owner)}</span>
                {state.meshlet && (
                  <span className="whoami-machine">on {displayName(state.meshlet)}</span>
                )}
              </span>
            </div>
          )}
        </div>
      </aside>
      <main id="main" className="main" aria-labelledby="page-title">
        <header className="page-head">
          <h1 id="page-title" ref={heading} tabIndex={-1}>
            {current.label}
          </h1>
          {/* In an error the banner below carries the detail; saying it twice is noise. */}
          <PhaseBadge
            phase={state.phase}
            detail={state.phase === 'error' ? undefined : state.detail}
          />
        </header>
        <div className="banners">
          <ConnectionBanner connection={connection} />
          {state.phase === 'error' && (
            <Banner tone="error" title="Something needs your attention" testId="phase-error">
              {state.detail ?? 'The meshlet stopped because of an error. See Activity for more.'}
            </Banner>
          )}
          {state.update && (
            <Banner tone="info" title={`Version ${state.update.version} is ready`} testId="update">
              It installs when the app restarts: choose Restart to update in the tray menu, or quit.
              Guests running here drain first, so nobody’s work is cut off.
            </Banner>
          )}
        </div>
        <div className="page">
          {section === 'overview' && <Overview state={state} go={setSection} />}
          {section === 'cluster' && <Cluster state={state} />}
          {section === 'balances' && <Balances state={state} />}
          {section === 'guests' && <Guests state={state} />}
          {section === 'workloads' && <Workloads state={state} />}
          {section === 'activity' && <Activity state={state} />}
        </div>
      </main>
    </div>
  )
}

/** Shown while the link to the meshlet is down; the dashboard keeps its last state meanwhile. */
function ConnectionBanner({
  connection,
  floating,
  neverConnected,
}: {
  connection: ConnectionState
  floating?: boolean
  /** Nothing was ever heard from the meshlet: it is not "lost", it may not be running. */
  neverConnected?: boolean
}) {
  const client = useApi()
  const now = useNow(500)
  if (connection.status !== 'reconnecting') return null
  const wait = connection.retryAt - now
  return (
    <div className={floating ? 'floating-banner' : undefined}>
      <Banner
        tone="warn"
        title="Offline — reconnecting"
        testId="connection-banner"
        action={
          <button
            type="button"
            className="btn btn-secondary btn-sm"
            onClick={() => client.retryNow()}
          >
            Retry now
          </button>
        }
      >
        {neverConnected
          ? 'Cannot reach the meshlet — is it running? '
          : 'Lost the connection to the meshlet. '}
        {wait > 500 ? `Trying again in ${formatDuration(wait + 999)}.` : 'Trying again…'}
      </Banner>
    </div>
  )
}

function CannotConnect({ connection }: { connection: ConnectionState }) {
  return (
    <div className="splash">
      <LogoMark size={48} />
      <div className="card cannot-connect" role="alert" data-testid="cannot-connect">
        <OfflineIcon size={22} />
        <h1>Can’t open the dashboard</h1>
        <p>
          {connection.status === 'refused'
            ? connection.reason
            : 'This page needs the link your meshlet printed when it started (it ends in #token=…). Open that link again.'}
        </p>
      </div>
    </div>
  )
}
