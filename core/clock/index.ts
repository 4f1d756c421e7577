// Timers that cannot overflow: every delay the core schedules passes through here (see README).
export { checkDates, DEFAULT_SKEW, type DateCheck, type SkewPolicy } from './skew.js'

/** The longest delay Node's timers hold; a larger one fires at once (TimeoutOverflowWarning). */
export const MAX_TIMER_MS = 2 ** 31 - 1

/** A planned wake-up further away than this is replaced by a re-check at this distance. */
export const MAX_WAKE_MS = 60 * 60_000

/** A delay Node can hold: NaN and negatives become 0, anything past the limit the limit. */
export function clampDelay(ms: number): number {
  if (!(ms > 0)) return 0
  return Math.min(MAX_TIMER_MS, Math.ceil(ms))
}

/** The delay until `at` as seen at `now`, never negative and never beyond MAX_WAKE_MS. Far
 *  wake-ups become a re-check: the caller plans again then and computes the next one. */
export function wakeDelay(at: number, now: number): number {
  if (Number.isNaN(at)) return MAX_WAKE_MS
  return Math.min(MAX_WAKE_MS, clampDelay(at - now))
}
