import { describe, expect, it } from 'vitest'
import {
  DEFAULT_CONFIG,
  backoffMs,
  retryDelayMs,
  roundHistory,
  roundOf,
  type BidView,
  type PresenceView,
  type StatusView,
  type WorkloadView,
} from '../../../core/scheduling/index.js'
import {
  ALICE_M,
  BOB_M,
  CAROL_M,
  DAVE_M,
  SEC,
  T0,
  bid,
  cluster,
  status,
  workload,
} from './_util.js'

// The rules, with a lostAfter long enough that the times below read easily; the defaults'
// own arithmetic is in docs/write-budget.md.
const CONFIG = { ...DEFAULT_CONFIG, lostAfterMs: 90_000 }
const LOST = CONFIG.lostAfterMs
const DECIDE0 = T0 + 7 * SEC
const RETRY = DEFAULT_CONFIG.retryMs
/** One empty round: window + grace + the first retry delay. */
const PERIOD = 7 * SEC + RETRY

function at(w: WorkloadView, statuses: StatusView[], bids: BidView[], now: number) {
  return roundOf(w, statuses, { bids, cluster: cluster() }, now, CONFIG)
}

describe('round 0', () => {
  it('opens at createdAt with the workload window and grace', () => {
    const w = workload({ replicas: 2 })
    const info = at(w, [], [], T0 + SEC)
    expect(info).toMatchObject({
      round: 0,
      opensAt: T0,
      closesAt: T0 + 5 * SEC,
      decideAt: DECIDE0,
      slots: 2,
      excluded: [],
      holders: [],
      exhausted: false,
      nextChangeAt: T0 + 5 * SEC,
    })
  })

  it('uses the workload bid window', () => {
    const w = workload({ bidWindowMs: 20 * SEC })
    expect(at(w, [], [], T0)).toMatchObject({ closesAt: T0 + 20 * SEC, decideAt: T0 + 22 * SEC })
  })

  it('is not open yet before createdAt, and says when it opens', () => {
    const w = workload({ createdAt: T0 + 60 * SEC })
    expect(at(w, [], [], T0)).toMatchObject({ round: 0, nextChangeAt: T0 + 60 * SEC })
  })

  it('an updated workload (new cid) starts over at round 0 from updatedAt', () => {
    const v1 = workload({ restartPolicy: { mode: 'on-failure' } })
    const v2 = workload({
      cid: 'bafyworkloadv2',
      updatedAt: T0 + 600 * SEC,
      restartPolicy: { mode: 'on-failure' },
    })
    const oldBid = bid(BOB_M, v1)
    const oldStatus = status(BOB_M, v1, { state: 'failed', updatedAt: T0 + 20 * SEC })
    // The old version moved on to round 1 ...
    expect(at(v1, [oldStatus], [oldBid], T0 + 599 * SEC).round).toBeGreaterThan(0)
    // ... but its records say nothing about the new version.
    const info = at(v2, [oldStatus], [oldBid], T0 + 601 * SEC)
    expect(info).toMatchObject({ round: 0, opensAt: T0 + 600 * SEC, excluded: [], slots: 1 })
  })
})

describe('lost replicas open the next round', () => {
  const w = workload({ restartPolicy: { mode: 'on-failure' } })
  const won = [bid(BOB_M, w, { priority: 5 })]

  it('a heartbeat older than lostAfter: round r+1 opens at heartbeat + lostAfter', () => {
    const beat = status(BOB_M, w, { updatedAt: T0 + 40 * SEC })
    const before = at(w, [beat], won, T0 + 40 * SEC + LOST - 1)
    expect(before).toMatchObject({ round: 0, nextChangeAt: T0 + 40 * SEC + LOST })
    const after = at(w, [beat], won, T0 + 40 * SEC + LOST)
    expect(after).toMatchObject({
      round: 1,
      opensAt: T0 + 40 * SEC + LOST,
      slots: 1,
      excluded: [],
      holders: [],
      failures: 0,
    })
  })

  it('a fresh heartbeat keeps the round', () => {
    const beat = status(BOB_M, w, { updatedAt: T0 + 200 * SEC })
    expect(at(w, [beat], won, T0 + 250 * SEC)).toMatchObject({
      round: 0,
      slots: 1,
      nextChangeAt: T0 + 200 * SEC + LOST,
    })
  })

  it('a winner that never publishes a status is lost at decideAt + lostAfter, and excluded', () => {
    expect(at(w, [], won, DECIDE0 + LOST - 1).round).toBe(0)
    expect(at(w, [], won, DECIDE0 + LOST)).toMatchObject({
      round: 1,
      opensAt: DECIDE0 + LOST,
      excluded: [BOB_M],
    })
  })

  it('draining opens the next round at once, without back-off or exclusion', () => {
    const drain = status(BOB_M, w, { state: 'draining', updatedAt: T0 + 30 * SEC })
    expect(at(w, [drain], won, T0 + 30 * SEC)).toMatchObject({
      round: 1,
      opensAt: T0 + 30 * SEC,
      excluded: [],
      failures: 0,
    })
  })

  it('statuses of losers do not count; only winners hold replicas', () => {
    const bids = [bid(BOB_M, w, { priority: 5 }), bid(CAROL_M, w, { priority: 1 })]
    const loserFailed = status(CAROL_M, w, { state: 'failed', updatedAt: T0 + 8 * SEC })
    const beat = status(BOB_M, w, { updatedAt: T0 + 8 * SEC })
    expect(at(w, [beat, loserFailed], bids, T0 + 10 * SEC)).toMatchObject({ round: 0 })
  })

  it('healthy winners keep running; the next round fills only the missing replicas', () => {
    const w2 = workload({ replicas: 3 })
    const bids = [bid(BOB_M, w2), bid(CAROL_M, w2), bid(DAVE_M, w2)]
    const statuses = [
      status(BOB_M, w2, { updatedAt: T0 + 100 * SEC }),
      status(CAROL_M, w2, { updatedAt: T0 + 10 * SEC }),
      status(DAVE_M, w2, { updatedAt: T0 + 100 * SEC }),
    ]
    expect(at(w2, statuses, bids, T0 + 100 * SEC)).toMatchObject({
      round: 1,
      opensAt: T0 + 10 * SEC + LOST,
      slots: 1,
      holders: [BOB_M, DAVE_M],
    })
  })
})

describe('presence', () => {
  const w = workload()
  const won = [bid(BOB_M, w)]
  const running = status(BOB_M, w, { updatedAt: DECIDE0 + SEC })
  const presenceOf = (meshlet: string, round: number, updatedAt: number, cid = w.cid) =>
    new Map<string, PresenceView>([
      [
        meshlet,
        {
          uri: `at://${meshlet}/commune.scheduler.presence/self`,
          cid: 'bafypresence',
          meshlet,
          record: {
            $type: 'commune.scheduler.presence' as const,
            state: 'lending',
            replicas: [{ workload: { uri: w.uri, cid }, round }],
            seq: 7,
            updatedAt: new Date(updatedAt).toISOString(),
          },
        } as unknown as PresenceView,
      ],
    ])
  const now = DECIDE0 + SEC + LOST + 30 * SEC

  it('keeps a replica alive while its host’s presence lists it, without status rewrites', () => {
    const presence = presenceOf(BOB_M, 0, now - 10 * SEC)
    const h = roundHistory(w, [running], { bids: won, cluster: cluster() }, now, CONFIG, presence)
    expect(h.current.round).toBe(0)
    expect(h.placements[0]!.fate).toEqual({ kind: 'alive', until: now - 10 * SEC + LOST })
  })

  it('judges it lost lostAfter after the last presence that listed it', () => {
    const seen = now - LOST
    const h = roundHistory(
      w,
      [running],
      { bids: won, cluster: cluster() },
      now,
      CONFIG,
      presenceOf(BOB_M, 0, seen),
    )
    expect(h.current).toMatchObject({ round: 1, opensAt: now })
  })

  it('ignores a presence that lists another round, another version or is another meshlet’s', () => {
    for (const presence of [
      presenceOf(BOB_M, 1, now),
      presenceOf(BOB_M, 0, now, 'bafyother'),
      presenceOf(CAROL_M, 0, now),
    ]) {
      const h = roundHistory(w, [running], { bids: won, cluster: cluster() }, now, CONFIG, presence)
      expect(h.placements[0]!.fate).toEqual({
        kind: 'lost',
        cause: 'heartbeat',
        at: DECIDE0 + SEC + LOST,
      })
    }
  })
})

describe('restart policy', () => {
  const failedAt = T0 + 20 * SEC

  it('on-failure: a failure opens the next round after the back-off and excludes the meshlet', () => {
    const w = workload({ restartPolicy: { mode: 'on-failure' } })
    const failed = status(BOB_M, w, { state: 'failed', exitCode: 1, updatedAt: failedAt })
    expect(at(w, [failed], [bid(BOB_M, w)], failedAt + 4999).round).toBe(0)
    expect(at(w, [failed], [bid(BOB_M, w)], failedAt + 5000)).toMatchObject({
      round: 1,
      opensAt: failedAt + 5000,
      excluded: [BOB_M],
      failures: 1,
    })
  })

  it('an exit with a nonzero code is a failure too', () => {
    const w = workload({ restartPolicy: { mode: 'on-failure', delayMs: 1000 } })
    const exited = status(BOB_M, w, { state: 'exited', exitCode: 3, updatedAt: failedAt })
    expect(at(w, [exited], [bid(BOB_M, w)], failedAt + 1000)).toMatchObject({
      round: 1,
      excluded: [BOB_M],
    })
  })

  it('an exit with code 0 is done under on-failure: the slot stays filled', () => {
    const w = workload({ restartPolicy: { mode: 'on-failure' } })
    const exited = status(BOB_M, w, { state: 'exited', exitCode: 0, updatedAt: failedAt })
    expect(at(w, [exited], [bid(BOB_M, w)], T0 + 3600 * SEC)).toMatchObject({
      round: 0,
      slots: 1,
    })
    expect(at(w, [exited], [bid(BOB_M, w)], T0 + 3600 * SEC).nextChangeAt).toBeUndefined()
  })

  it('always: an exit with code 0 opens a new round, with back-off, without exclusion', () => {
    const w = workload({ restartPolicy: { mode: 'always', delayMs: 2000 } })
    const exited = status(BOB_M, w, { state: 'exited', exitCode: 0, updatedAt: failedAt })
    expect(at(w, [exited], [bid(BOB_M, w)], failedAt + 2000)).toMatchObject({
      round: 1,
      opensAt: failedAt + 2000,
      excluded: [],
      failures: 1,
    })
  })

  it('never (the default): a failed replica is done and not replaced', () => {
    const w = workload()
    const failed = status(BOB_M, w, { state: 'failed', updatedAt: failedAt })
    expect(at(w, [failed], [bid(BOB_M, w)], T0 + 3600 * SEC)).toMatchObject({ round: 0 })
  })

  it('backs off exponentially and gives up after maxAttempts new rounds', () => {
    const w = workload({ restartPolicy: { mode: 'on-failure', maxAttempts: 2, delayMs: 1000 } })
    const meshlets = [BOB_M, CAROL_M, DAVE_M]
    const bids: BidView[] = []
    const statuses: StatusView[] = []
    const opens: number[] = [T0]
    // Each round's only bidder fails 10 s after the round is decided.
    for (const [round, meshlet] of meshlets.entries()) {
      const opensAt = opens[round] ?? 0
      bids.push(bid(meshlet, w, { round, createdAt: opensAt + SEC }))
      const failAt = opensAt + 7 * SEC + 10 * SEC
      statuses.push(status(meshlet, w, { round, state: 'failed', updatedAt: failAt }))
      opens.push(failAt + 1000 * 2 ** round)
    }
    expect(at(w, statuses, bids, (opens[1] ?? 0) + 1)).toMatchObject({
      round: 1,
      opensAt: opens[1],
      failures: 1,
    })
    expect(at(w, statuses, bids, (opens[2] ?? 0) + 1)).toMatchObject({
      round: 2,
      opensAt: opens[2],
      failures: 2,
      // Only the meshlet whose failure this round replaces sits it out.
      excluded: [CAROL_M],
      exhausted: false,
    })
    // The third failure is one too many: no round 3, the slot stays given up.
    const end = at(w, statuses, bids, T0 + 3600 * SEC)
    expect(end).toMatchObject({ round: 2, exhausted: true })
    expect(end.nextChangeAt).toBeUndefined()
  })

  it('a meshlet sits out only the round that replaces its failure: a lone lender restarts it', () => {
    const w = workload({ restartPolicy: { mode: 'on-failure', maxAttempts: 3, delayMs: 1000 } })
    const failAt = T0 + 20 * SEC
    const bids = [bid(BOB_M, w, { createdAt: T0 + SEC })]
    const statuses = [status(BOB_M, w, { state: 'failed', updatedAt: failAt })]
    // Round 1 replaces the failure: Bob may not take it.
    const r1 = at(w, statuses, bids, failAt + 1000)
    expect(r1).toMatchObject({ round: 1, opensAt: failAt + 1000, excluded: [BOB_M], slots: 1 })
    // Nobody else bid; the short round is retried, and Bob may take that one.
    const r2 = at(w, statuses, bids, r1.decideAt + CONFIG.retryMs)
    expect(r2).toMatchObject({ round: 2, opensAt: r1.decideAt + CONFIG.retryMs, excluded: [] })
    bids.push(bid(BOB_M, w, { round: 2, createdAt: r2.opensAt + 100 }))
    const h = roundHistory(w, statuses, { bids, cluster: cluster() }, r2.decideAt, CONFIG)
    expect(h.winners).toEqual([BOB_M])
    expect(h.current).toMatchObject({ round: 2, failures: 1 })
  })

  it('back-off doubles up to five minutes, or the first delay when that is longer', () => {
    expect([0, 1, 2, 3].map((n) => backoffMs(5000, n))).toEqual([5000, 10000, 20000, 40000])
    expect(backoffMs(5000, 10)).toBe(300_000)
    expect(backoffMs(600_000, 3)).toBe(600_000)
    expect(backoffMs(0, 5)).toBe(0)
  })
})

describe('rounds nobody filled', () => {
  it('retry within seconds, every window + grace + retry delay, until someone bids', () => {
    const w = workload()
    expect(RETRY).toBeLessThanOrEqual(2 * SEC)
    expect(at(w, [], [], DECIDE0 + RETRY - 1).round).toBe(0)
    expect(at(w, [], [], DECIDE0 + RETRY)).toMatchObject({ round: 1, opensAt: T0 + PERIOD })
    const day = 24 * 3600 * SEC
    const k = Math.floor(day / PERIOD)
    expect(at(w, [], [], T0 + day)).toMatchObject({ round: k, opensAt: T0 + k * PERIOD })
  })

  it('a bid in a far round is found after fast-forwarding, and the round is then filled', () => {
    const w = workload()
    const k = 500
    const opensAt = T0 + k * PERIOD
    const late = bid(CAROL_M, w, { round: k, createdAt: opensAt + SEC })
    const beat = status(CAROL_M, w, { round: k, updatedAt: opensAt + 60 * SEC })
    const h = roundHistory(
      w,
      [beat],
      { bids: [late], cluster: cluster() },
      opensAt + 100 * SEC,
      CONFIG,
    )
    expect(h.current).toMatchObject({ round: k, opensAt, slots: 1 })
    expect(h.winners).toEqual([CAROL_M])
    // Filled: the next round waits for the heartbeat to go stale.
    expect(h.current.nextChangeAt).toBe(opensAt + 60 * SEC + LOST)
  })

  it('a partly filled round retries the missing replicas only, seconds after it closed', () => {
    const w = workload({ replicas: 2 })
    const statuses = [status(BOB_M, w, { updatedAt: DECIDE0 + SEC })]
    expect(at(w, statuses, [bid(BOB_M, w)], DECIDE0 + RETRY)).toMatchObject({
      round: 1,
      opensAt: DECIDE0 + RETRY,
      slots: 1,
      holders: [BOB_M],
    })
  })

  it('short rounds with bids back off, doubling up to maxRetryMs; a filled round resets it', () => {
    const w = workload({ replicas: 9 })
    // Each round one new meshlet bids and wins: every round is short and had a winner.
    const meshlets = [BOB_M, CAROL_M, DAVE_M, ALICE_M]
    const bids: BidView[] = []
    const statuses: StatusView[] = []
    let opensAt = T0
    const gaps: number[] = []
    for (const [round, m] of meshlets.entries()) {
      bids.push(bid(m, w, { round, createdAt: opensAt + SEC }))
      statuses.push(status(m, w, { round, updatedAt: opensAt + 7 * SEC }))
      const next = at(w, statuses, bids, opensAt + 7 * SEC).nextChangeAt!
      gaps.push(next - (opensAt + 7 * SEC))
      opensAt = next
    }
    expect(gaps).toEqual([RETRY, 2 * RETRY, 4 * RETRY, 8 * RETRY])
    const cfg = { ...DEFAULT_CONFIG, retryMs: 10 * SEC, maxRetryMs: 25 * SEC }
    expect([0, 1, 2, 3].map((k) => retryDelayMs(cfg, k))).toEqual(
      [10, 20, 25, 25].map((s) => s * SEC),
    )
  })
})

describe('without bids', () => {
  it('statuses stand in for winners', () => {
    const w = workload({ restartPolicy: { mode: 'on-failure' } })
    const failed = status(BOB_M, w, { state: 'failed', updatedAt: T0 + 20 * SEC })
    expect(roundOf(w, [failed], undefined, T0 + 25 * SEC, CONFIG)).toMatchObject({
      round: 1,
      excluded: [BOB_M],
    })
  })
})

describe('determinism', () => {
  it('does not depend on the order of statuses and bids', () => {
    const w = workload({ replicas: 2, restartPolicy: { mode: 'on-failure' } })
    const bids = [bid(BOB_M, w, { priority: 3 }), bid(CAROL_M, w), bid(ALICE_M, w, { priority: 1 })]
    const statuses = [
      status(BOB_M, w, { updatedAt: T0 + 10 * SEC }),
      status(BOB_M, w, { updatedAt: T0 + 50 * SEC, state: 'failed' }),
      status(ALICE_M, w, { updatedAt: T0 + 60 * SEC }),
    ]
    const now = T0 + 200 * SEC
    const a = at(w, statuses, bids, now)
    const b = at(w, [...statuses].reverse(), [...bids].reverse(), now)
    expect(b).toEqual(a)
    // Bob failed (round 1 opens after the 5 s back-off, for one slot); nobody bid in round 1 or
    // in the rounds retried every PERIOD after it; Alice's heartbeat went stale at 150 s, which
    // freed her slot too (from the round that opened just after).
    // Bob sat out round 1 only, the one that replaced his failure.
    expect(a).toMatchObject({ excluded: [], holders: [], slots: 2 })
    expect(a.round).toBeGreaterThan(2)
    expect(now - a.opensAt).toBeLessThan(PERIOD)
  })
})
