// The lending rules as `meshlet run` flags (core/policy): the same rules the desktop app sets in
// its Overview, for a headless machine.
import {
  findIdleReader,
  IdleUnavailableError,
  parseWindow,
  RulesError,
  type LendingRules,
  type PolicyHooks,
} from '../policy/index.js'
import { intFlag, UsageError, type Options } from './args.js'

export const POLICY_FLAGS = {
  'lend-when-idle': { type: 'string' },
  'when-in-use': { type: 'string' },
  'throttle-to': { type: 'string' },
  'on-battery': { type: 'string' },
  'min-battery': { type: 'string' },
  'quiet-hours': { type: 'string' },
  'lend-hours': { type: 'string' },
  'max-host-load': { type: 'string' },
} as const satisfies Options

export const POLICY_HELP = `        Lending rules (like BOINC's preferences; each change is in the log and the
        dashboard's activity, and a rule waits a minute before it lets go):
          --lend-when-idle <minutes>
                                    lend only after this many minutes without keyboard
                                    or mouse input in the desktop session (read with
                                    xprintidle, GNOME's IdleMonitor or
                                    org.freedesktop.ScreenSaver over D-Bus, or logind's
                                    IdleHint; refused where none answers, e.g. on a
                                    server without a desktop session)
          --when-in-use pause|throttle
                                    while in use: pause (guests drain, the default) or
                                    throttle guests' CPU
          --throttle-to <percent>   guests' CPU while throttled, in percent of what they
                                    asked for (5-90, default 25)
          --on-battery pause|lend   pause lending on battery, or not (default: lend)
          --min-battery <percent>   on battery, keep lending down to this level, pause
                                    below it (implies --on-battery pause)
          --quiet-hours HH:MM-HH:MM never lend in this daily window (local time; may
                                    cross midnight, e.g. 22:00-07:00)
          --lend-hours HH:MM-HH:MM  lend only in this daily window
          --max-host-load <percent> pause while this machine's own CPU load, guests
                                    excluded, is above this percent
`

type Values = Partial<Record<keyof typeof POLICY_FLAGS, string | boolean | undefined>>

export interface PolicyFlags {
  rules: Partial<LendingRules>
  pauseOnBattery?: boolean
  hooks: PolicyHooks
}

function window(flag: string, value: string): { from: string; to: string } {
  try {
    return parseWindow(value)
  } catch (err) {
    if (err instanceof RulesError) throw new UsageError(`--${flag}: ${err.message}`)
    throw err
  }
}

/** The rules the flags give (only those given: the rest stay as the dashboard saved them), and
 *  the desktop session's idle time where it can be read. Throws UsageError for a bad flag and
 *  IdleUnavailableError when --lend-when-idle is given where idle time cannot be read. */
export async function policyFromFlags(
  values: Values,
  env: NodeJS.ProcessEnv,
): Promise<PolicyFlags> {
  const rules: Partial<LendingRules> = {}
  let pauseOnBattery: boolean | undefined
  if (values['lend-when-idle'] !== undefined) {
    rules.idleMinutes = intFlag(values, 'lend-when-idle', 0, 1, 1440)
  }
  const inUse = values['when-in-use']
  if (inUse !== undefined) {
    if (inUse !== 'pause' && inUse !== 'throttle') {
      throw new UsageError('--when-in-use must be pause or throttle')
    }
    rules.whenInUse = inUse
  }
  if (values['throttle-to'] !== undefined) {
    rules.throttlePercent = intFlag(values, 'throttle-to', 25, 5, 90)
  }
  const battery = values['on-battery']
  if (battery !== undefined) {
    if (battery !== 'pause' && battery !== 'lend') {
      throw new UsageError('--on-battery must be pause or lend')
    }
    pauseOnBattery = battery === 'pause'
  }
  if (values['min-battery'] !== undefined) {
    if (pauseOnBattery === false) {
      throw new UsageError('--min-battery pauses on battery; it does not go with --on-battery lend')
    }
    rules.minBatteryPercent = intFlag(values, 'min-battery', 0, 1, 100)
    pauseOnBattery = true
  } else if (pauseOnBattery === true) {
    rules.minBatteryPercent = 0
  }
  const quiet = values['quiet-hours']
  const only = values['lend-hours']
  if (quiet !== undefined && only !== undefined) {
    throw new UsageError('give --quiet-hours or --lend-hours, not both')
  }
  if (typeof quiet === 'string')
    rules.quietHours = { ...window('quiet-hours', quiet), mode: 'quiet' }
  if (typeof only === 'string') rules.quietHours = { ...window('lend-hours', only), mode: 'only' }
  if (values['max-host-load'] !== undefined) {
    rules.maxHostLoadPercent = intFlag(values, 'max-host-load', 0, 1, 100)
  }

  const hooks: PolicyHooks = {}
  try {
    const reader = await findIdleReader(env)
    hooks.source = { idleSeconds: () => reader.read() }
  } catch (err) {
    // Asked for on the command line: say so now rather than lend while the lender works.
    if (rules.idleMinutes !== undefined && err instanceof IdleUnavailableError) {
      throw new UsageError(`--lend-when-idle: ${err.message}`)
    }
  }
  return { rules, ...(pauseOnBattery !== undefined ? { pauseOnBattery } : {}), hooks }
}
