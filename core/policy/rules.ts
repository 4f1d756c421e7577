// The lender's rules, as data: what they chose, with the checks that every place taking them in
// (the contract, the `meshlet run` flags, the saved settings) shares. Pure and free of Node, since
// the renderer's bundle imports the contract that imports this.

/** What lending does while the person at the machine is using it. */
export type WhenInUse = 'pause' | 'throttle'

/** quiet: the machine never lends inside the window. only: it lends only inside the window. */
export type QuietMode = 'quiet' | 'only'

export interface QuietHours {
  /** Local clock, "HH:MM"; `from` after `to` is a window across midnight. */
  from: string
  to: string
  mode: QuietMode
}

/** The rules beside `pauseOnBattery` (a setting older than this folder, kept where it was). */
export interface LendingRules {
  /** Lend only after this many minutes without keyboard or mouse input; 0: off. */
  idleMinutes: number
  whenInUse: WhenInUse
  /** Guests' CPU while throttled, in percent of what their workload asked for. */
  throttlePercent: number
  /** With `pauseOnBattery`: keep lending on battery while the level is at least this; 0: pause
   *  whenever on battery. */
  minBatteryPercent: number
  quietHours: QuietHours | null
  /** Pause while this machine's own CPU load (guests excluded) is above this percent; 0: off. */
  maxHostLoadPercent: number
}

/** What the policy reads: the rules and the battery switch. */
export type PolicyRules = LendingRules & { pauseOnBattery: boolean }

export const DEFAULT_RULES: LendingRules = {
  idleMinutes: 0,
  whenInUse: 'pause',
  throttlePercent: 25,
  minBatteryPercent: 0,
  quietHours: null,
  maxHostLoadPercent: 0,
}

export const RULE_LIMITS = {
  /** A day: longer idle thresholds are a mistake, not a wish. */
  idleMinutes: 1440,
  /** Docker's floor is 0.01 CPU; below 5 % a throttled guest mostly times out. */
  minThrottlePercent: 5,
  maxThrottlePercent: 90,
  maxBatteryPercent: 100,
  maxHostLoadPercent: 100,
} as const

export class RulesError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options)
    this.name = 'RulesError'
  }
}

const CLOCK = /^([01]\d|2[0-3]):([0-5]\d)$/

/** "HH:MM" → minutes after midnight; RulesError for anything else. */
export function parseClock(text: string): number {
  const m = CLOCK.exec(text)
  if (!m) throw new RulesError(`not a time of day (HH:MM, 24-hour): ${text.slice(0, 20)}`)
  return Number(m[1]) * 60 + Number(m[2])
}

export function formatClock(minuteOfDay: number): string {
  const m = ((Math.floor(minuteOfDay) % 1440) + 1440) % 1440
  return `${String(Math.floor(m / 60)).padStart(2, '0')}:${String(m % 60).padStart(2, '0')}`
}

/** "09:00-18:00" (or with an en dash) → the window's two ends. */
export function parseWindow(text: string): { from: string; to: string } {
  const parts = text.split(/[-–]/)
  if (parts.length !== 2) throw new RulesError(`not a window HH:MM-HH:MM: ${text.slice(0, 40)}`)
  const [from, to] = parts.map((p) => p.trim()) as [string, string]
  if (parseClock(from) === parseClock(to)) {
    throw new RulesError(`a window needs two different times, got ${from}-${to}`)
  }
  return { from, to }
}

/** Whether a local minute of the day lies in [from, to), across midnight when from > to. */
export function inWindow(minuteOfDay: number, from: string, to: string): boolean {
  const a = parseClock(from)
  const b = parseClock(to)
  return a < b ? minuteOfDay >= a && minuteOfDay < b : minuteOfDay >= a || minuteOfDay < b
}

function whole(value: unknown, name: string, min: number, max: number): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value)) {
    throw new RulesError(`${name} must be a whole number`)
  }
  if (value < min || value > max) throw new RulesError(`${name} must be between ${min} and ${max}`)
  return value
}

/** Checks rules that crossed a boundary (the contract, a settings file): the shape, bounds and
 *  no extra fields. Missing fields take `base`'s values, so a partial change can be checked. */
export function checkRules(input: unknown, base: LendingRules = DEFAULT_RULES): LendingRules {
  if (typeof input !== 'object' || input === null || Array.isArray(input)) {
    throw new RulesError('rules must be an object')
  }
  const o = input as Record<string, unknown>
  const keys = Object.keys(DEFAULT_RULES)
  const extra = Object.keys(o).filter((k) => !keys.includes(k))
  if (extra.length > 0) throw new RulesError(`unexpected rule: ${extra[0]!.slice(0, 40)}`)
  const out: LendingRules = { ...base }
  if (o.idleMinutes !== undefined) {
    out.idleMinutes = whole(o.idleMinutes, 'idleMinutes', 0, RULE_LIMITS.idleMinutes)
  }
  if (o.whenInUse !== undefined) {
    if (o.whenInUse !== 'pause' && o.whenInUse !== 'throttle') {
      throw new RulesError('whenInUse must be "pause" or "throttle"')
    }
    out.whenInUse = o.whenInUse
  }
  if (o.throttlePercent !== undefined) {
    out.throttlePercent = whole(
      o.throttlePercent,
      'throttlePercent',
      RULE_LIMITS.minThrottlePercent,
      RULE_LIMITS.maxThrottlePercent,
    )
  }
  if (o.minBatteryPercent !== undefined) {
    out.minBatteryPercent = whole(
      o.minBatteryPercent,
      'minBatteryPercent',
      0,
      RULE_LIMITS.maxBatteryPercent,
    )
  }
  if (o.maxHostLoadPercent !== undefined) {
    out.maxHostLoadPercent = whole(
      o.maxHostLoadPercent,
      'maxHostLoadPercent',
      0,
      RULE_LIMITS.maxHostLoadPercent,
    )
  }
  if (o.quietHours !== undefined) out.quietHours = checkQuietHours(o.quietHours)
  return out
}

function checkQuietHours(value: unknown): QuietHours | null {
  if (value === null) return null
  if (typeof value !== 'object' || Array.isArray(value)) {
    throw new RulesError('quietHours must be an object or null')
  }
  const q = value as Record<string, unknown>
  const extra = Object.keys(q).filter((k) => !['from', 'to', 'mode'].includes(k))
  if (extra.length > 0) throw new RulesError(`unexpected field in quietHours: ${extra[0]}`)
  if (typeof q.from !== 'string' || typeof q.to !== 'string') {
    throw new RulesError('quietHours needs from and to as HH:MM')
  }
  const { from, to } = parseWindow(`${q.from}-${q.to}`)
  if (q.mode !== 'quiet' && q.mode !== 'only') {
    throw new RulesError('quietHours.mode must be "quiet" or "only"')
  }
  return { from, to, mode: q.mode }
}

/** The minute of the day on the local clock of a time zone (the system's when not given). */
export function minuteOfDay(at: number, timeZone?: string): number {
  // The system's clock needs no formatter: Intl's pages in some 6 MB of locale data, which a
  // daemon (the policy reads the clock at its start) would keep for its whole life.
  if (!timeZone) {
    const d = new Date(at)
    return d.getHours() * 60 + d.getMinutes()
  }
  const parts = new Intl.DateTimeFormat('en-GB', {
    hour: '2-digit',
    minute: '2-digit',
    hourCycle: 'h23',
    timeZone,
  }).formatToParts(new Date(at))
  const get = (type: string) => Number(parts.find((p) => p.type === type)?.value ?? 0)
  return get('hour') * 60 + get('minute')
}
