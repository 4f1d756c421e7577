// Spread is a preference, not a rule: a meshlet already holding a replica of a workload bids
// again only in a round that follows a short one or replaces a declined win, and ranks there after every meshlet holding
// fewer replicas (docs/failure-handling.md, "Spread is a preference").
import { describe, expect, it } from 'vitest'
import {
  DEFAULT_CONFIG,
  eligibility,
  plan,
  roundHistory,
  select,
  type BidView,
  type LocalReplica,
  type RoundInfo,
  type StatusView,
} from '../../../core/scheduling/index.js'
import { BOB_M, CAROL_M, DAVE_M, SEC, T0, bid, cluster, self, status, workload } from './_util.js'

const w = workload({ replicas: 2 })
// Round 0: window [T0, T0 + 5 s], decided at T0 + 7 s; a short round retries 1 s later.
const DECIDE0 = T0 + 7 * SEC
const OPEN1 = DECIDE0 + SEC

function historyOf(bids: BidView[], statuses: StatusView[], now: number) {
  return roundHistory(w, statuses, { bids, cluster: cluster() }, now, DEFAULT_CONFIG)
}

function info(over: Partial<RoundInfo>): RoundInfo {
  return {
    round: 1,
    opensAt: OPEN1,
    closesAt: OPEN1 + 5 * SEC,
    decideAt: OPEN1 + 7 * SEC,
    slots: 1,
    excluded: [],
    holders: [BOB_M],
    exhausted: false,
    failures: 0,
    ...over,
  }
}

describe('spread is a preference', () => {
  it('a round that follows a short one lets holders bid; a filled one does not', () => {
    // Only Bob bid in round 0: one of two slots placed, so round 1 opens a second later and
    // Bob, holding a replica, may bid in it.
    const short = historyOf([bid(BOB_M, w)], [status(BOB_M, w, { updatedAt: DECIDE0 })], OPEN1)
    expect(short.current).toMatchObject({ round: 1, opensAt: OPEN1, holders: [BOB_M] })
    expect(short.current.holdersMayBid).toBe(true)

    // Both slots filled in round 0; Carol drains later: round 1 replaces her replica, and Bob
    // does not bid there (the replica should go elsewhere first).
    const drained = DECIDE0 + 30 * SEC
    const bids = [bid(BOB_M, w), bid(CAROL_M, w)]
    const statuses = [
      status(BOB_M, w, { updatedAt: drained }),
      status(CAROL_M, w, { updatedAt: drained, state: 'draining' }),
    ]
    const filled = historyOf(bids, statuses, drained + SEC)
    expect(filled.current).toMatchObject({ round: 1, opensAt: drained, holders: [BOB_M] })
    expect(filled.current.holdersMayBid).toBeUndefined()
    const verdict = eligibility(self(), w, filled.current, cluster(), drained + SEC)
    expect(verdict).toEqual({ ok: false, reason: 'already-placed' })

    // Nobody took it in round 1 (Carol sat nothing out, but nobody else bid): from the next
    // round on Bob may, also where rounds nobody bid in were skipped.
    for (const later of [drained + 9 * SEC, drained + 300 * SEC]) {
      const after = historyOf(bids, [status(BOB_M, w, { updatedAt: later }), statuses[1]!], later)
      expect(after.current.round).toBeGreaterThan(1)
      expect(after.current.holdersMayBid).toBe(true)
      expect(eligibility(self(), w, after.current, cluster(), later)).toEqual({ ok: true })
    }
  })

  it('a round that replaces a declined win lets holders bid, and still bars the decliner', () => {
    const bids = [bid(BOB_M, w), bid(CAROL_M, w)]
    const statuses = [
      status(BOB_M, w, { updatedAt: DECIDE0 }),
      status(CAROL_M, w, { updatedAt: DECIDE0, state: 'declined' }),
    ]
    const h = historyOf(bids, statuses, DECIDE0 + SEC)
    expect(h.current).toMatchObject({
      round: 1,
      opensAt: DECIDE0,
      holders: [BOB_M],
      declined: [CAROL_M],
      holdersMayBid: true,
    })
    const late = [
      ...bids,
      bid(BOB_M, w, { round: 1, createdAt: DECIDE0 + SEC }),
      bid(CAROL_M, w, { round: 1, createdAt: DECIDE0 + SEC }),
    ]
    expect(select(w, h.current, late.slice(2), cluster()).winners).toEqual([BOB_M])
    expect(historyOf(late, statuses, DECIDE0 + 8 * SEC).placements.map((p) => p.round)).toEqual([
      0, 0, 1,
    ])
  })

  it('a holder ranks after every bid of a meshlet holding fewer replicas, whatever its priority', () => {
    const round = info({ holdersMayBid: true })
    const bids = [
      bid(BOB_M, w, { round: 1, priority: 9, createdAt: OPEN1 + SEC }),
      bid(CAROL_M, w, { round: 1, priority: 0, createdAt: OPEN1 + SEC }),
    ]
    const s = select(w, round, bids, cluster())
    expect(s.winners).toEqual([CAROL_M])
    expect(s.ranked.map((r) => [r.bid.meshlet, r.valid, r.winner])).toEqual([
      [CAROL_M, true, true],
      [BOB_M, true, false],
    ])
    // Without the relaxation a holder's bid does not count at all.
    const strict = select(w, info({}), bids, cluster())
    expect(strict.winners).toEqual([CAROL_M])
    expect(strict.ranked.find((r) => r.bid.meshlet === BOB_M)).toMatchObject({
      valid: false,
      reason: 'author-excluded',
    })
  })

  it('among holders, the one holding fewer replicas ranks first', () => {
    const three = workload({ replicas: 4 })
    const round = info({ slots: 1, holders: [BOB_M, BOB_M, CAROL_M], holdersMayBid: true })
    const bids = [
      bid(BOB_M, three, { round: 1, priority: 5, createdAt: OPEN1 + SEC }),
      bid(CAROL_M, three, { round: 1, priority: 0, createdAt: OPEN1 + SEC }),
    ]
    expect(select(three, round, bids, cluster()).winners).toEqual([CAROL_M])
    // Nobody else bids: the holder wins the slot.
    expect(select(three, round, [bids[0]!], cluster()).winners).toEqual([BOB_M])
    expect(
      select(three, round, [...bids, bid(DAVE_M, three, { round: 1, createdAt: OPEN1 })], cluster())
        .winners,
    ).toEqual([DAVE_M])
  })

  it('a lone lender runs both replicas: the second in the retry round, on its own bid', () => {
    const bids = [bid(BOB_M, w)]
    const statuses = [status(BOB_M, w, { updatedAt: DECIDE0 })]
    const running: LocalReplica[] = [{ workloadUri: w.uri, cid: w.cid, round: 0, state: 'running' }]
    const input = {
      self: self(),
      workloads: [w],
      deleted: [],
      statuses,
      running,
      cluster: cluster(),
      config: DEFAULT_CONFIG,
      priorityOf: () => 0,
    }
    const bidding = plan({ ...input, bids, now: OPEN1 + SEC })
    const bidAction = bidding.actions.find((a) => a.type === 'bid')
    expect(bidAction).toMatchObject({ round: 1 })

    const withSecond = [...bids, bid(BOB_M, w, { round: 1, createdAt: OPEN1 + SEC })]
    const starting = plan({ ...input, bids: withSecond, now: OPEN1 + 7 * SEC })
    expect(starting.actions.map((a) => [a.type, a.round])).toEqual([['start', 1]])
    const history = historyOf(withSecond, statuses, OPEN1 + 7 * SEC)
    expect(history.placements.map((p) => [p.meshlet, p.round])).toEqual([
      [BOB_M, 0],
      [BOB_M, 1],
    ])
  })
})
