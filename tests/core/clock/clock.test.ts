// Timers that cannot overflow and the allowed skew of record dates: pure, time is an input.
import { describe, expect, it } from 'vitest'
import {
  DEFAULT_SKEW,
  MAX_TIMER_MS,
  MAX_WAKE_MS,
  checkDates,
  clampDelay,
  wakeDelay,
} from '../../../core/clock/index.js'
import { NSID } from '../../../core/lexicon/index.js'

const now = Date.parse('2026-12-02T03:00:00.000Z')
const iso = (t: number) => new Date(t).toISOString()
const DAY = 86_400_000

describe('clampDelay', () => {
  it.each([
    [Number.NaN, 0],
    [-5, 0],
    [0, 0],
    [1.2, 2],
    [40 * DAY, MAX_TIMER_MS],
    [Infinity, MAX_TIMER_MS],
  ])('%s ms -> %s ms', (ms, want) => expect(clampDelay(ms)).toBe(want))
})

describe('wakeDelay', () => {
  it('is the distance to a near wake-up', () => expect(wakeDelay(now + 1500, now)).toBe(1500))
  it('is 0 for a wake-up in the past', () => expect(wakeDelay(now - 1, now)).toBe(0))
  it('turns a wake-up 40 days ahead into a re-check within the hour', () => {
    expect(wakeDelay(now + 40 * DAY, now)).toBe(MAX_WAKE_MS)
    expect(MAX_WAKE_MS).toBeLessThan(MAX_TIMER_MS)
  })
  it('re-checks within the hour for an unparsable time', () =>
    expect(wakeDelay(Number.NaN, now)).toBe(MAX_WAKE_MS))
})

// Every collection with each of its date fields, far ahead and far behind.
const cases: [string, Record<string, unknown>, string][] = [
  [NSID.meshlet, { meshlet: 'did:plc:x' }, 'createdAt'],
  [NSID.meshletOwner, { owner: 'did:plc:x' }, 'createdAt'],
  [NSID.membership, { members: [] }, 'createdAt'],
  [NSID.workload, {}, 'createdAt'],
  [NSID.workload, { createdAt: iso(now) }, 'updatedAt'],
  [NSID.workload, { createdAt: iso(now) }, 'deletedAt'],
  [NSID.bid, {}, 'createdAt'],
  [NSID.workloadStatus, {}, 'updatedAt'],
  [NSID.workloadStatus, { updatedAt: iso(now) }, 'startedAt'],
  [NSID.workloadStatus, { updatedAt: iso(now) }, 'finishedAt'],
  ['commune.scheduler.presence', {}, 'updatedAt'],
  [NSID.challenge, { subject: 'did:plc:x' }, 'createdAt'],
  [NSID.settlement, { round: 0, winners: [] }, 'createdAt'],
  [NSID.workloadSecrets, { workload: 'at://x', boxes: [] }, 'updatedAt'],
  [NSID.sealingKey, {}, 'key.createdAt'],
  [NSID.meshletOwner, { owner: 'did:plc:x' }, 'sealingKey.createdAt'],
]

// A dotted field names a date inside an object of the record.
function withField(base: Record<string, unknown>, field: string, value: string) {
  const [outer, inner] = field.split('.')
  return inner === undefined
    ? { ...base, [field]: value }
    : { ...base, [outer!]: { [inner]: value } }
}

describe('checkDates', () => {
  it.each(cases)('%s accepts %s within the skew', (collection, base, field) => {
    for (const t of [now, now + DEFAULT_SKEW.aheadMs, now - 400 * DAY]) {
      expect(checkDates(collection, withField(base, field, iso(t)), now)).toEqual({ ok: true })
    }
  })

  it.each(cases)('%s refuses %s 40 days ahead, saying so', (collection, base, field) => {
    const check = checkDates(collection, withField(base, field, iso(now + 40 * DAY)), now)
    expect(check).toEqual({
      ok: false,
      reason: `${field} 40 days ahead of our clock (allowed 5 min)`,
    })
  })

  it.each(cases)('%s refuses %s dated before the protocol', (collection, base, field) => {
    const check = checkDates(collection, withField(base, field, '1970-01-02T00:00:00.000Z'), now)
    expect(check.ok).toBe(false)
    expect(!check.ok && check.reason).toMatch(new RegExp(`^${field} 1970-01-02.* is before 2023`))
  })

  it('refuses a date just past the allowance and one that does not parse', () => {
    const ahead = checkDates(NSID.bid, { createdAt: iso(now + DEFAULT_SKEW.aheadMs + 1000) }, now)
    expect(ahead.ok).toBe(false)
    expect(checkDates(NSID.bid, { createdAt: 'soon' }, now)).toEqual({
      ok: false,
      reason: 'createdAt is not a date',
    })
  })

  it('passes records of collections it does not date, and absent fields', () => {
    expect(checkDates('commune.scheduler.other', { createdAt: iso(now + 40 * DAY) }, now).ok).toBe(
      true,
    )
    expect(checkDates(NSID.workloadStatus, { updatedAt: iso(now) }, now).ok).toBe(true)
    expect(checkDates(NSID.bid, null, now).ok).toBe(true)
  })
})
