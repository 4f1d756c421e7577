// A dashboard state for shell tests: signed in, lending, nothing running; override what matters.
import type { DashboardState, Phase } from '../../core/api.js'
import { DEFAULT_RULES } from '../../core/policy/rules.js'

/** Every phase, as a record so that a phase added to the contract fails to compile here. */
export const PHASES = Object.keys({
  'signed-out': 0,
  'needs-meshlet': 0,
  starting: 0,
  lending: 0,
  paused: 0,
  offline: 0,
  error: 0,
} satisfies Record<Phase, 0>) as Phase[]

const zero = { cpuMillis: 0, memoryMiB: 0, storageMiB: 0 }

export function dashboardState(overrides: Partial<DashboardState> = {}): DashboardState {
  return {
    phase: 'lending',
    owner: { did: 'did:plc:alice', handle: 'alice.test', method: 'oauth' },
    meshlet: { did: 'did:plc:mesh', handle: 'mesh.alice.test', method: 'app-password' },
    settings: {
      lending: true,
      offer: { cpuMillis: 2000, memoryMiB: 4096, storageMiB: 10240 },
      members: [],
      pauseOnBattery: true,
      startAtLogin: false,
      allowEgress: false,
      serveApi: false,
      rules: { ...DEFAULT_RULES },
    },
    capacity: { host: zero, used: zero, offer: zero, committed: zero, minimum: zero },
    members: [],
    balances: { members: [], history: [], halfLifeMs: 7 * 24 * 3600_000 },
    guests: [],
    workloads: [],
    activity: [],
    policy: { action: 'lend', cpuShare: 1, rules: [], idleReadable: true },
    canStartAtLogin: true,
    ...overrides,
  }
}
