// How far a record's dates may stray from our clock. A date far ahead would hold a round, a
// heartbeat or a timer in the future (one workload 40 days ahead made idle daemons spin); a date
// before the protocol existed is broken or hostile. Pure: `now` is an input.

export interface SkewPolicy {
  /** A date later than now + aheadMs is refused: clocks of peers differ by seconds, not minutes. */
  aheadMs: number
  /** A date earlier than this (ms since the epoch) is refused. */
  notBefore: number
}

/**
 * Five minutes ahead covers clocks that drift between NTP syncs with room to spare, while a
 * round (seconds) or presence (tens of seconds) cannot be pushed out of reach for long. Behind,
 * only the protocol's birth year: a record may legitimately be as old as the workload it belongs
 * to (a service runs for months), and an old date cannot schedule anything (rounds fast-forward
 * arithmetically past it).
 */
export const DEFAULT_SKEW: SkewPolicy = Object.freeze({
  aheadMs: 5 * 60_000,
  notBefore: Date.UTC(2023, 0, 1),
})

/** The datetime fields of our records, by the last segment of the collection's NSID; a dotted
 *  path reaches into an object (the sealing key a meshletOwner or sealingKey record carries). */
const DATE_FIELDS: Record<string, readonly string[]> = {
  meshlet: ['createdAt'],
  meshletOwner: ['createdAt', 'sealingKey.createdAt'],
  membership: ['createdAt'],
  workload: ['createdAt', 'updatedAt', 'deletedAt'],
  bid: ['createdAt'],
  workloadStatus: ['updatedAt', 'startedAt', 'finishedAt'],
  presence: ['updatedAt'],
  challenge: ['createdAt'],
  settlement: ['createdAt'],
  workloadSecrets: ['updatedAt'],
  sealingKey: ['key.createdAt'],
}

function fieldOf(record: object, path: string): unknown {
  let value: unknown = record
  for (const part of path.split('.')) {
    if (typeof value !== 'object' || value === null) return undefined
    value = (value as Record<string, unknown>)[part]
  }
  return value
}

export type DateCheck = { ok: true } | { ok: false; reason: string }

/** Whether every date of a record lies within the allowed skew of `now`. Fields that are absent
 *  pass (the lexicon says which are required); unparsable ones are refused. */
export function checkDates(
  collection: string,
  record: unknown,
  now: number,
  policy: SkewPolicy = DEFAULT_SKEW,
): DateCheck {
  if (typeof record !== 'object' || record === null) return { ok: true }
  const fields = DATE_FIELDS[collection.slice(collection.lastIndexOf('.') + 1)] ?? []
  for (const field of fields) {
    const value = fieldOf(record, field)
    if (value === undefined) continue
    const t = typeof value === 'string' ? Date.parse(value) : Number.NaN
    if (Number.isNaN(t)) return { ok: false, reason: `${field} is not a date` }
    if (t > now + policy.aheadMs) {
      return {
        ok: false,
        reason: `${field} ${describeSpan(t - now)} ahead of our clock (allowed ${describeSpan(policy.aheadMs)})`,
      }
    }
    if (t < policy.notBefore) {
      return {
        ok: false,
        reason: `${field} ${String(value)} is before ${new Date(policy.notBefore).toISOString()}`,
      }
    }
  }
  return { ok: true }
}

function describeSpan(ms: number): string {
  const s = Math.round(ms / 1000)
  if (s < 120) return `${s} s`
  const m = Math.round(s / 60)
  if (m < 120) return `${m} min`
  const h = Math.round(m / 60)
  if (h < 48) return `${h} h`
  return `${Math.round(h / 24)} days`
}
