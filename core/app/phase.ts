// What the app says it is doing — the phase and the sentence under it — as a function of who is
// signed in, whether the meshlet runs, what went wrong, and who holds lending back. Three parties
// may pause lending, kept apart so one's "resume" never undoes another's "pause": the user's
// toggle (a setting), the system (battery, sleep, quitting) and the lending rules (core/policy).
import type { Phase, SystemPause } from '../api.js'
import type { Decision } from '../policy/index.js'

/** Something keeps the meshlet from working: shown as the phase until it clears. */
export interface Problem {
  phase: 'error' | 'offline'
  detail: string
}

export interface PhaseInput {
  /** A saved session waits for the network to be restored. */
  restoring: boolean
  problem: Problem | undefined
  owner: boolean
  machine: boolean
  /** The owner is known (signed in, or fixed by the daemon's flags). */
  ownerKnown: boolean
  linked: boolean
  /** A start is under way (a linkage check among it). */
  starting: boolean
  /** The meshlet runs. */
  running: boolean
  /** The meshlet's own linkage is not two-way (its cluster report says so). */
  selfUnlinked: boolean
  /** Lending after the user, the system and the rules had their say. */
  lending: boolean
}

export function phaseOf(i: PhaseInput): Phase {
  // A saved session waiting for the network is not a signed-out user.
  if (i.restoring && i.problem?.phase === 'offline') return 'offline'
  if (!i.machine && !i.owner) return 'signed-out'
  if (!i.machine || !i.ownerKnown || (!i.linked && !i.starting)) {
    return i.owner || i.ownerKnown ? 'needs-meshlet' : 'signed-out'
  }
  if (i.problem) return i.problem.phase
  if (!i.running) return 'starting'
  if (i.selfUnlinked) return 'error'
  return i.lending ? 'lending' : 'paused'
}

export interface DetailInput {
  problem: Problem | undefined
  machine: boolean
  /** The user's own toggle. */
  userLending: boolean
  systemPauses: ReadonlySet<SystemPause>
  policy: Pick<Decision, 'action' | 'because' | 'cpuShare'>
}

/** The sentence under the phase; undefined where the phase says it all. */
export function detailOf(phase: Phase, i: DetailInput): string | undefined {
  switch (phase) {
    case 'error':
    case 'offline':
      return i.problem?.detail ?? 'This machine’s linkage to your account is broken: link it again.'
    case 'paused': {
      if (!i.userLending) return 'Paused by you.'
      const because = i.policy.because
      if (i.systemPauses.size === 0 && because) return `${sentence(because)}.`
      const why = [...i.systemPauses].map((p) => SYSTEM_PAUSES[p])
      return `Paused while ${why.join(' and ')}.`
    }
    case 'needs-meshlet':
      return i.machine
        ? 'Link this machine to your account to start lending.'
        : 'Sign in this machine’s own account.'
    case 'starting':
      return 'Reading the commune’s records…'
    case 'lending': {
      const d = i.policy
      return d.action === 'throttle' && d.because
        ? `Guests throttled to ${Math.round(d.cpuShare * 100)} % CPU: ${d.because}.`
        : undefined
    }
    default:
      return undefined
  }
}

const SYSTEM_PAUSES: Record<SystemPause, string> = {
  battery: 'on battery',
  suspend: 'asleep',
  quit: 'quitting',
}

/** Who holds lending back: the user's toggle, the system's pauses and the rules. */
export class LendingHolds {
  private readonly pauses = new Set<SystemPause>()

  constructor(
    private readonly opts: {
      userLending: () => boolean
      pauseOnBattery: () => boolean
      policyPaused: () => boolean
    },
  ) {}

  get systemPauses(): ReadonlySet<SystemPause> {
    return this.pauses
  }

  /** Lending after all three had their say. */
  get lending(): boolean {
    return this.opts.userLending() && this.pauses.size === 0 && !this.opts.policyPaused()
  }

  /** The system pauses or resumes for `reason`; returns whether anything changed. Battery
   *  pauses only when the user asked for it. */
  setSystemPause(reason: SystemPause, paused: boolean): boolean {
    if (reason === 'battery' && paused && !this.opts.pauseOnBattery()) return false
    if (paused === this.pauses.has(reason)) return false
    if (paused) this.pauses.add(reason)
    else this.pauses.delete(reason)
    return true
  }

  /** The user no longer pauses on battery: a battery pause in force ends. */
  batteryRuleOff(): void {
    this.pauses.delete('battery')
  }
}

function sentence(text: string): string {
  return text.charAt(0).toUpperCase() + text.slice(1)
}
