// When a Jetstream record may act without its own proof (pure logic: no network).
import { describe, expect, it } from 'vitest'
import { OwnWrites, PresenceRefresh } from '../../../core/sync/shortcuts.js'

const P = 'commune.scheduler.presence'
const did = 'did:plc:host'
const replica = (n: number) => ({
  workload: { uri: `at://did:plc:owner/commune.scheduler.workload/w${n}`, cid: `bafy${n}` },
  round: 0,
})
const presence = (at: number, extra: Record<string, unknown> = {}) => ({
  $type: P,
  state: 'lending',
  replicas: [replica(1), replica(2)],
  seq: at,
  intervalMs: 20_000,
  updatedAt: new Date(at).toISOString(),
  ...extra,
})
const claim = (record: unknown, over: Record<string, unknown> = {}) => ({
  collection: P,
  rkey: 'self',
  operation: 'update',
  record,
  ...over,
})

describe('presence refreshes', () => {
  const T = Date.parse('2026-12-01T00:00:00Z')

  it('let a pure re-dating of the confirmed presence act, within the window only', () => {
    const r = new PresenceRefresh(P, 32_000)
    expect(r.check(did, claim(presence(T)))).toBe('no confirmed presence to refresh')
    r.confirmed(did, presence(T))
    expect(r.check(did, claim(presence(T + 20_000)))).toBeUndefined()
    r.refreshed(did, presence(T + 20_000))
    // Past the window of the confirmed one: must be confirmed (and then moves the baseline).
    expect(r.check(did, claim(presence(T + 40_000)))).toBe(
      'past the window of the confirmed presence',
    )
    r.confirmed(did, presence(T + 40_000))
    expect(r.check(did, claim(presence(T + 60_000)))).toBeUndefined()
  })

  it('confirm anything that changes what the presence says, or replays it', () => {
    const r = new PresenceRefresh(P, 32_000)
    r.confirmed(did, presence(T))
    r.refreshed(did, presence(T + 10_000))
    const why = (record: unknown, over?: Record<string, unknown>) =>
      r.check(did, claim(record, over))
    expect(why(presence(T + 20_000, { replicas: [replica(1)] }))).toBe('not a pure refresh')
    expect(why(presence(T + 20_000, { replicas: [replica(1), replica(3)] }))).toBe(
      'not a pure refresh',
    )
    expect(why(presence(T + 20_000, { state: 'draining' }))).toBe('not a pure refresh')
    expect(why(presence(T + 20_000, { extra: 1 }))).toBe('not a pure refresh')
    // Not later than what already acted: a replay.
    expect(why(presence(T + 10_000))).toBe('not later than the last presence')
    expect(why(presence(T + 5_000))).toBe('not later than the last presence')
    expect(why(presence(T + 20_000, { updatedAt: 'soon' }))).toBe('no updatedAt')
    expect(why(presence(T + 20_000), { operation: 'delete' })).toBe('not a presence update')
    expect(why(presence(T + 20_000), { rkey: 'other' })).toBe('not a presence update')
    expect(why(presence(T + 20_000), { collection: 'commune.scheduler.bid' })).toBe(
      'not a presence',
    )
    // Another DID has no baseline of its own.
    expect(r.check('did:plc:other', claim(presence(T + 20_000)))).toBe(
      'no confirmed presence to refresh',
    )
    // Forgotten (identity change, delete): confirmed again.
    r.forget(did)
    expect(why(presence(T + 20_000))).toBe('no confirmed presence to refresh')
  })
})

describe('own writes', () => {
  it('remember the last few versions of each record, and a bounded number of records', () => {
    const own = new OwnWrites(2, 2)
    own.add('at://a/x/1', 'c1')
    own.add('at://a/x/1', 'c2')
    own.add('at://a/x/1', 'c3')
    expect(own.has('at://a/x/1', 'c1')).toBe(false)
    expect(own.has('at://a/x/1', 'c3')).toBe(true)
    expect(own.has('at://a/x/1', null)).toBe(false)
    own.add('at://a/x/2', 'd1')
    own.add('at://a/x/3', 'e1')
    // The least recently written record is forgotten first.
    expect(own.has('at://a/x/1', 'c3')).toBe(false)
    expect(own.has('at://a/x/3', 'e1')).toBe(true)
  })
})
