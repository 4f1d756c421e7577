// Capacity is held by wins, not by bids: bids overcommit the offer by a bounded factor, and a
// winner that cannot host all its wins declines the excess (docs/failure-handling.md).
import { describe, expect, it } from 'vitest'
import {
  DEFAULT_CONFIG,
  bidRkey,
  plan,
  roundHistory,
  select,
  spreadKey,
  type BidView,
  type LocalReplica,
  type PlanInput,
  type SelfState,
  type StatusView,
  type WorkloadView,
} from '../../../core/scheduling/index.js'
import { BOB_M, CAROL_M, SEC, T0, bid, cluster, self, status, workload } from './_util.js'

const DECIDE = T0 + 7 * SEC
const BIG = { cpuMillis: 3000, memoryMiB: 1024 }

interface Scenario {
  self?: Partial<SelfState>
  workloads: WorkloadView[]
  bids?: BidView[]
  statuses?: StatusView[]
  running?: LocalReplica[]
  now: number
}

function run(s: Scenario) {
  const input: PlanInput = {
    self: self(s.self),
    workloads: s.workloads,
    deleted: [],
    bids: s.bids ?? [],
    statuses: s.statuses ?? [],
    running: s.running ?? [],
    cluster: cluster(),
    now: s.now,
    config: DEFAULT_CONFIG,
    priorityOf: () => 0,
  }
  return plan(input)
}

const a = workload({ rkey: '3lworka000000', resources: BIG })
const b = workload({ rkey: '3lworkb000000', resources: BIG })
const c = workload({ rkey: '3lworkc000000', resources: BIG })
// Equal decide times: the spread key says which win is kept.
const [first, second] = [a, b].sort((x, y) =>
  spreadKey(x.uri, BOB_M) < spreadKey(y.uri, BOB_M) ? -1 : 1,
) as [WorkloadView, WorkloadView]

describe('overcommitted bids', () => {
  it('a meshlet bids on up to twice its offer while nothing is won', () => {
    const p = run({ workloads: [a, b, c], now: T0 + SEC })
    expect(p.actions.filter((x) => x.type === 'bid')).toHaveLength(2)
    expect(p.capacity).toMatchObject({
      held: { cpuMillis: 0 },
      bidding: { cpuMillis: 6000 },
    })
  })

  it('open bids already made count against the bound', () => {
    const p = run({ workloads: [a, b, c], bids: [bid(BOB_M, a), bid(BOB_M, b)], now: T0 + SEC })
    expect(p.actions).toEqual([])
    expect(p.explain.get(c.uri)?.noBid).toBe('bids-overcommitted')
  })

  it('a running guest holds its capacity: no bid the offer could not host if won', () => {
    const running: LocalReplica[] = [{ workloadUri: a.uri, cid: a.cid, round: 0, state: 'running' }]
    const p = run({
      workloads: [b],
      self: { committed: BIG },
      running,
      now: T0 + SEC,
    })
    expect(p.actions).toEqual([])
    expect(p.explain.get(b.uri)?.noBid).toBe('insufficient-free-capacity')
  })

  it('a lost bid releases what it promised: the meshlet bids elsewhere at once', () => {
    const late = workload({ rkey: '3lworkd000000', resources: BIG, createdAt: DECIDE + SEC })
    // Both of Bob's bids lost to Carol's.
    const bids = [bid(BOB_M, a), bid(BOB_M, b), bid(CAROL_M, a), bid(CAROL_M, b)].map((x) =>
      x.meshlet === CAROL_M ? { ...x, record: { ...x.record, priority: 5 } } : x,
    )
    const p = run({ workloads: [a, b, late], bids, now: DECIDE + 2 * SEC })
    expect(p.actions).toMatchObject([{ type: 'bid', workload: late }])
    expect(p.capacity.bidding).toMatchObject({ cpuMillis: 3000 })
  })
})

describe('declining the excess', () => {
  const bothWon = [bid(BOB_M, a), bid(BOB_M, b)]

  it('keeps the wins its offer holds and declines the rest at once', () => {
    const p = run({ workloads: [a, b], bids: bothWon, now: DECIDE })
    expect(p.actions).toEqual([
      { type: 'decline', workload: second, round: 0, rkey: bidRkey(second.uri, 0, second.cid) },
      { type: 'start', workload: first, round: 0, rkey: bidRkey(first.uri, 0, first.cid) },
    ])
    expect(p.capacity.held).toMatchObject({ cpuMillis: 3000 })
  })

  it('keeps wins in the order their rounds were decided, whatever the spread key says', () => {
    const later = workload({ rkey: first.uri.split('/').pop()!, resources: BIG, createdAt: T0 + 1 })
    const p = run({
      workloads: [later, second],
      bids: [bid(BOB_M, later, { createdAt: T0 + 2 * SEC }), bid(BOB_M, second)],
      now: DECIDE + SEC,
    })
    expect(p.actions).toMatchObject([
      { type: 'decline', workload: later },
      { type: 'start', workload: second },
    ])
  })

  it('never displaces a guest already running or starting: the new win is declined', () => {
    const running: LocalReplica[] = [
      { workloadUri: second.uri, cid: second.cid, round: 0, state: 'created' },
    ]
    const p = run({
      workloads: [a, b],
      bids: bothWon,
      self: { committed: BIG },
      running,
      now: DECIDE,
    })
    expect(p.actions).toEqual([
      { type: 'decline', workload: first, round: 0, rkey: bidRkey(first.uri, 0, first.cid) },
    ])
  })

  it('a smaller win that still fits is kept after a bigger one is declined', () => {
    const small = workload({
      rkey: '3lworks000000',
      resources: { cpuMillis: 1000, memoryMiB: 256 },
      createdAt: T0 + 1,
    })
    const p = run({
      workloads: [a, b, small],
      bids: [...bothWon, bid(BOB_M, small, { createdAt: T0 + 2 * SEC })],
      now: DECIDE + SEC,
    })
    expect(p.actions.map((x) => `${x.type} ${'workload' in x ? x.workload.uri : ''}`)).toEqual([
      `decline ${second.uri}`,
      `start ${first.uri}`,
      `start ${small.uri}`,
    ])
  })

  it('a paused meshlet declines its wins instead of leaving peers to wait for a no-show', () => {
    const p = run({ workloads: [a], bids: [bid(BOB_M, a)], self: { paused: true }, now: DECIDE })
    expect(p.actions).toEqual([
      { type: 'decline', workload: a, round: 0, rkey: bidRkey(a.uri, 0, a.cid) },
    ])
  })

  it('declines once: after its status is published the win is gone', () => {
    const declined = status(BOB_M, second, { state: 'declined', updatedAt: DECIDE + 100 })
    const p = run({
      workloads: [a, b],
      bids: bothWon,
      statuses: [declined],
      now: DECIDE + 200,
    })
    expect(p.actions).toEqual([
      { type: 'start', workload: first, round: 0, rkey: bidRkey(first.uri, 0, first.cid) },
    ])
  })
})

describe('a declined round reopens without its decliner', () => {
  const declined = status(BOB_M, a, { state: 'declined', updatedAt: DECIDE + 300 })
  const history = (bids: BidView[], now: number) =>
    roundHistory(a, [declined], { bids, cluster: cluster() }, now, DEFAULT_CONFIG)

  it('opens round 1 when the decline is published, with the decliner barred', () => {
    const h = history([bid(BOB_M, a)], DECIDE + SEC)
    expect(h.current).toMatchObject({
      round: 1,
      opensAt: DECIDE + 300,
      slots: 1,
      declined: [BOB_M],
      excluded: [],
      holders: [],
    })
    expect(h.placements[0]?.fate).toEqual({ kind: 'lost', cause: 'declined', at: DECIDE + 300 })
  })

  it('its bid in the reopened round does not count; another meshlet wins', () => {
    const inRound1 = { round: 1, createdAt: DECIDE + SEC }
    const bids = [bid(BOB_M, a), bid(BOB_M, a, inRound1), bid(CAROL_M, a, inRound1)]
    const h = history(bids, DECIDE + 10 * SEC)
    const info = h.rounds[1]!
    const sel = select(a, info, bids.slice(1), cluster())
    expect(sel.winners).toEqual([CAROL_M])
    expect(sel.ranked.find((r) => r.bid.meshlet === BOB_M)).toMatchObject({
      valid: false,
      reason: 'author-excluded',
    })
    expect(h.placements.map((p) => [p.meshlet, p.round])).toEqual([
      [BOB_M, 0],
      [CAROL_M, 1],
    ])
  })

  it('the decliner does not bid in the reopened round and says why', () => {
    const p = run({
      workloads: [a],
      bids: [bid(BOB_M, a)],
      statuses: [declined],
      now: DECIDE + SEC,
    })
    expect(p.actions).toEqual([])
    expect(p.explain.get(a.uri)?.noBid).toBe('declined-here')
  })

  it('when nobody else takes it, the round after may go to the decliner again', () => {
    // Round 1 (nobody bid) closes short and retries after retryMs.
    const reopens = DECIDE + 300 + 7 * SEC + DEFAULT_CONFIG.retryMs
    const next = history([bid(BOB_M, a)], reopens + 500).current
    expect(next).toMatchObject({ round: 2, opensAt: reopens })
    expect(next.declined).toBeUndefined()
    const p = run({
      workloads: [a],
      bids: [bid(BOB_M, a)],
      statuses: [declined],
      now: next.opensAt + SEC,
    })
    expect(p.actions).toMatchObject([{ type: 'bid', workload: a, round: 2 }])
  })
})
