import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { DEFAULT_CONFIG, roundOf, type RoundInfo } from '../../../core/scheduling/index.js'
import { BOB_M, CAROL_M, DAVE_M, SEC, T0, bid, cluster, status, workload } from './_util.js'

const MESHLETS = [BOB_M, CAROL_M, DAVE_M]
const STATES = ['starting', 'running', 'failed', 'exited', 'draining', 'stopped', 'yielded']
const SPAN = 1500 * SEC

const arbScenario = fc
  .record({
    replicas: fc.integer({ min: 1, max: 2 }),
    mode: fc.constantFrom('never', 'on-failure', 'always'),
    maxAttempts: fc.integer({ min: 0, max: 3 }),
    bids: fc.array(
      fc.record({
        meshlet: fc.constantFrom(...MESHLETS),
        round: fc.integer({ min: 0, max: 6 }),
        at: fc.integer({ min: 0, max: SPAN }),
        priority: fc.integer({ min: 0, max: 2 }),
      }),
      { maxLength: 10 },
    ),
    statuses: fc.array(
      fc.record({
        meshlet: fc.constantFrom(...MESHLETS),
        round: fc.integer({ min: 0, max: 6 }),
        at: fc.integer({ min: 0, max: SPAN }),
        state: fc.constantFrom(...STATES),
        exitCode: fc.constantFrom(0, 1),
      }),
      { maxLength: 10 },
    ),
  })
  .map((s) => {
    const w = workload({
      replicas: s.replicas,
      restartPolicy: { mode: s.mode, maxAttempts: s.maxAttempts, delayMs: 2000 },
    })
    // Bids land in a window when they can: round 0's, or just after a plausible opening.
    const bids = s.bids.map((b, i) =>
      bid(b.meshlet, w, {
        round: b.round,
        priority: b.priority,
        createdAt: b.round === 0 ? T0 + (b.at % (5 * SEC)) : T0 + b.at,
        cid: `bafyb${i}`,
      }),
    )
    const statuses = s.statuses.map((st, i) =>
      status(st.meshlet, w, {
        round: st.round,
        state: st.state,
        exitCode: st.exitCode,
        updatedAt: T0 + st.at,
        cid: `bafys${i}`,
      }),
    )
    return { w, bids, statuses }
  })

function comparable(info: RoundInfo) {
  const { nextChangeAt: _n, exhausted: _e, ...rest } = info
  return rest
}

describe('roundOf (properties)', () => {
  it('fast-forwarding over empty rounds gives what replaying each round gives', () => {
    fc.assert(
      fc.property(arbScenario, fc.integer({ min: 0, max: 3 * SPAN }), (s, dt) => {
        const now = T0 + dt
        const quick = roundOf(s.w, s.statuses, { bids: s.bids, cluster: cluster() }, now)
        // Invalid bids (an unlinked author) in every round change no selection but make every
        // round "active", which turns the fast-forward off.
        const noise = Array.from({ length: quick.round + 2 }, (_, round) =>
          bid('did:plc:unlinked', s.w, { round, cid: `bafynoise${round}` }),
        )
        const slow = roundOf(
          s.w,
          s.statuses,
          { bids: [...s.bids, ...noise], cluster: cluster() },
          now,
        )
        expect(slow).toEqual(quick)
      }),
    )
  })

  it('never rewrites a round that has opened: later answers extend earlier ones', () => {
    fc.assert(
      fc.property(
        arbScenario,
        fc.integer({ min: SPAN, max: 3 * SPAN }),
        fc.integer({ min: 0, max: SPAN }),
        (s, dt, later) => {
          // Every record is in the past at both times.
          const a = roundOf(s.w, s.statuses, { bids: s.bids, cluster: cluster() }, T0 + dt)
          const b = roundOf(s.w, s.statuses, { bids: s.bids, cluster: cluster() }, T0 + dt + later)
          expect(b.round).toBeGreaterThanOrEqual(a.round)
          if (b.round === a.round) expect(comparable(b)).toEqual(comparable(a))
          else expect(b.opensAt).toBeGreaterThan(T0 + dt)
          if (a.nextChangeAt !== undefined && T0 + dt + later < a.nextChangeAt) {
            expect(b).toEqual(a)
          }
        },
      ),
    )
  })

  it('does not depend on the order of records', () => {
    fc.assert(
      fc.property(arbScenario, fc.integer({ min: 0, max: 3 * SPAN }), (s, dt) => {
        const now = T0 + dt
        const a = roundOf(s.w, s.statuses, { bids: s.bids, cluster: cluster() }, now)
        const b = roundOf(
          s.w,
          [...s.statuses].reverse(),
          { bids: [...s.bids].reverse(), cluster: cluster() },
          now,
          DEFAULT_CONFIG,
        )
        expect(b).toEqual(a)
      }),
    )
  })
})

describe('roundOf, a case the property found', () => {
  it('a bar on the round after a failure is spent in the empty rounds fast-forwarded over', () => {
    // Bob's replica failed with no attempts left: bob sits out round 2 only. Rounds 2 and 3 are
    // empty; the fast-forward lands on round 3, which must not bar bob (a replay does not).
    const w = workload({
      replicas: 2,
      restartPolicy: { mode: 'on-failure', maxAttempts: 0, delayMs: 2000 },
    })
    const bids = [bid(BOB_M, w, { round: 0, priority: 0, createdAt: T0, cid: 'bafyb0' })]
    const statuses = [
      status(BOB_M, w, { round: 0, state: 'failed', exitCode: 0, updatedAt: T0, cid: 'bafys0' }),
    ]
    const now = T0 + 26_000
    const quick = roundOf(w, statuses, { bids, cluster: cluster() }, now)
    const noise = Array.from({ length: quick.round + 2 }, (_, round) =>
      bid('did:plc:unlinked', w, { round, cid: `bafynoise${round}` }),
    )
    const slow = roundOf(w, statuses, { bids: [...bids, ...noise], cluster: cluster() }, now)
    expect(quick.round).toBe(3)
    expect(quick).toEqual(slow)
    expect(quick.excluded).toEqual([])
  })
})
