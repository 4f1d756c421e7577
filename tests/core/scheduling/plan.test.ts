import { describe, expect, it } from 'vitest'
import {
  DEFAULT_CONFIG,
  bidRkey,
  plan,
  type BidView,
  type LocalReplica,
  type PlanInput,
  type SelfState,
  type StatusView,
  type WorkloadView,
} from '../../../core/scheduling/index.js'
import { BOB, BOB_M, CAROL_M, SEC, T0, bid, cluster, self, status, workload } from './_util.js'

const LOST = DEFAULT_CONFIG.lostAfterMs
const CLOSES = T0 + 5 * SEC
const DECIDE = T0 + 7 * SEC

interface Scenario {
  self?: Partial<SelfState>
  workloads?: WorkloadView[]
  deleted?: string[]
  bids?: BidView[]
  statuses?: StatusView[]
  running?: LocalReplica[]
  now: number
  priority?: number
}

function run(s: Scenario) {
  const input: PlanInput = {
    self: self(s.self),
    workloads: s.workloads ?? [w],
    deleted: s.deleted ?? [],
    bids: s.bids ?? [],
    statuses: s.statuses ?? [],
    running: s.running ?? [],
    cluster: cluster(),
    now: s.now,
    config: DEFAULT_CONFIG,
    priorityOf: () => s.priority ?? 42,
  }
  return plan(input)
}

const w = workload()
const mine = bid(BOB_M, w, { priority: 42, createdAt: T0 + SEC })
const local = (round = 0, state = 'running', cid = w.cid): LocalReplica => ({
  workloadUri: w.uri,
  cid,
  round,
  state,
})

describe('plan: bidding', () => {
  it('bids when eligible and the window is open', () => {
    const p = run({ now: T0 + SEC })
    expect(p.actions).toEqual([
      {
        type: 'bid',
        workload: w,
        round: 0,
        priority: 42,
        offer: w.record.resources,
        rkey: bidRkey(w.uri, 0, w.cid),
      },
    ])
    expect(p.explain.get(w.uri)).toMatchObject({ round: 0, hasBid: false, decided: false })
    expect(p.explain.get(w.uri)?.noBid).toBeUndefined()
  })

  it('never bids twice for the same (cid, round)', () => {
    const p = run({ now: T0 + 2 * SEC, bids: [mine] })
    expect(p.actions).toEqual([])
    expect(p.explain.get(w.uri)).toMatchObject({ hasBid: true })
  })

  it('bids again for a new version even if it bid on the old one', () => {
    const v2 = workload({ cid: 'bafyworkloadv2', updatedAt: T0 + 60 * SEC })
    const p = run({ workloads: [v2], bids: [mine], now: T0 + 61 * SEC })
    expect(p.actions).toMatchObject([{ type: 'bid', workload: v2, round: 0 }])
  })

  it('explains why it does not bid', () => {
    const p = run({ self: { lending: false }, now: T0 + SEC })
    expect(p.actions).toEqual([])
    expect(p.explain.get(w.uri)?.noBid).toBe('not-lending')
    expect(run({ now: CLOSES + 1 }).explain.get(w.uri)?.noBid).toBe('window-closed')
  })

  it('counts capacity claimed by earlier bids of the same plan, up to twice the offer', () => {
    const big = { cpuMillis: 3000, memoryMiB: 1024 }
    const first = workload({ rkey: '3lworka000000', resources: big })
    const second = workload({ rkey: '3lworkb000000', resources: big, createdAt: T0 + 1 })
    const third = workload({ rkey: '3lworkc000000', resources: big, createdAt: T0 + 2 })
    const p = run({ workloads: [third, second, first], now: T0 + 2 * SEC })
    // Offer 4000: bids may promise 8000, so two of 3000 go out and the third waits.
    expect(p.actions).toMatchObject([
      { type: 'bid', workload: first },
      { type: 'bid', workload: second },
    ])
    expect(p.explain.get(third.uri)?.noBid).toBe('bids-overcommitted')
    expect(p.capacity.bidding).toMatchObject({ cpuMillis: 6000 })
  })

  it('keeps the priority an integer inside the lexicon bounds', () => {
    expect(run({ now: T0, priority: 5e15 }).actions).toMatchObject([{ priority: 1e12 }])
    expect(run({ now: T0, priority: -12.7 }).actions).toMatchObject([{ priority: -12 }])
  })

  it('does nothing for a paused meshlet but stop its replicas (and publish draining)', () => {
    const p = run({
      self: { paused: true },
      bids: [mine],
      statuses: [status(BOB_M, w, { updatedAt: DECIDE + SEC })],
      running: [local()],
      now: DECIDE + 2 * SEC,
    })
    expect(p.actions).toEqual([
      {
        type: 'stop',
        workloadUri: w.uri,
        cid: w.cid,
        round: 0,
        reason: 'paused',
        status: 'draining',
      },
    ])
  })
})

describe('plan: starting', () => {
  it('starts at decideAt when it won', () => {
    expect(run({ bids: [mine], now: DECIDE }).actions).toEqual([
      { type: 'start', workload: w, round: 0, rkey: bidRkey(w.uri, 0, w.cid) },
    ])
  })

  it('does not start before decideAt, and wakes up then', () => {
    const p = run({ bids: [mine], now: DECIDE - 1 })
    expect(p.actions).toEqual([])
    expect(p.nextWakeAt).toBe(DECIDE)
  })

  it('does not start when another meshlet won', () => {
    const better = bid(CAROL_M, w, { priority: 99 })
    expect(run({ bids: [mine, better], now: DECIDE }).actions).toEqual([])
  })

  it('explains who runs the workload once decided', () => {
    const beat = status(BOB_M, w, { updatedAt: DECIDE + SEC })
    const p = run({ bids: [mine], statuses: [beat], running: [local()], now: DECIDE + 2 * SEC })
    expect(p.explain.get(w.uri)).toMatchObject({
      decided: true,
      winners: [BOB_M],
      placed: [BOB_M],
      hasBid: true,
      bids: [{ meshlet: BOB_M, priority: 42, valid: true, winner: true }],
    })
  })

  it('never starts a duplicate of a replica that is already there', () => {
    const beat = status(BOB_M, w, { updatedAt: DECIDE + SEC })
    expect(
      run({ bids: [mine], statuses: [beat], running: [local()], now: DECIDE + 2 * SEC }).actions,
    ).toEqual([])
    expect(run({ bids: [mine], running: [local(0, 'created')], now: DECIDE }).actions).toEqual([])
  })

  it('does not start once it would be a no-show (decideAt + lostAfter)', () => {
    const p = run({ bids: [mine], now: DECIDE + LOST })
    expect(p.actions.filter((a) => a.type === 'start')).toEqual([])
  })
})

describe('plan: stopping', () => {
  const beat = status(BOB_M, w, { updatedAt: DECIDE + 30 * SEC })

  it('yields when a late, better, valid bid appears', () => {
    const late = bid(CAROL_M, w, { priority: 99, createdAt: T0 + 4 * SEC })
    const p = run({
      bids: [mine, late],
      statuses: [beat],
      running: [local()],
      now: DECIDE + 31 * SEC,
    })
    expect(p.actions).toEqual([
      {
        type: 'stop',
        workloadUri: w.uri,
        cid: w.cid,
        round: 0,
        reason: 'yielded',
        status: 'yielded',
      },
    ])
  })

  it('ignores a better bid made after the window', () => {
    const late = bid(CAROL_M, w, { priority: 99, createdAt: CLOSES + 1 })
    const p = run({
      bids: [mine, late],
      statuses: [beat],
      running: [local()],
      now: DECIDE + 31 * SEC,
    })
    expect(p.actions).toEqual([])
  })

  it('stops a deleted workload', () => {
    const p = run({ workloads: [], deleted: [w.uri], running: [local()], now: DECIDE + SEC })
    expect(p.actions).toEqual([
      {
        type: 'stop',
        workloadUri: w.uri,
        cid: w.cid,
        round: 0,
        reason: 'deleted',
        status: 'stopped',
      },
    ])
  })

  it('stops a superseded version (new cid) before starting the new one', () => {
    const v2 = workload({ cid: 'bafyworkloadv2', updatedAt: T0 + 600 * SEC })
    const won = bid(BOB_M, v2, { createdAt: T0 + 601 * SEC })
    const p = run({ workloads: [v2], bids: [mine, won], running: [local()], now: T0 + 607 * SEC })
    expect(p.actions).toEqual([
      {
        type: 'stop',
        workloadUri: w.uri,
        cid: w.cid,
        round: 0,
        reason: 'superseded',
        status: 'stopped',
      },
      { type: 'start', workload: v2, round: 0, rkey: bidRkey(v2.uri, 0, v2.cid) },
    ])
  })

  it('stops a replica whose heartbeat went stale, without rewriting its status', () => {
    const stale = status(BOB_M, w, { updatedAt: DECIDE + SEC })
    const p = run({ bids: [mine], statuses: [stale], running: [local()], now: DECIDE + SEC + LOST })
    // Round 1 has opened for the lost replica, and this meshlet may bid in it like anyone else.
    expect(p.actions).toEqual([
      { type: 'stop', workloadUri: w.uri, cid: w.cid, round: 0, reason: 'not-selected' },
      expect.objectContaining({ type: 'bid', round: 1 }),
    ])
  })

  it('leaves an ended container alone: its status already says how it ended', () => {
    const failing = workload({ restartPolicy: { mode: 'on-failure' } })
    const failed = status(BOB_M, failing, { state: 'failed', updatedAt: DECIDE + SEC })
    const p = run({
      workloads: [failing],
      bids: [bid(BOB_M, failing)],
      statuses: [failed],
      running: [{ ...local(0, 'exited'), workloadUri: failing.uri }],
      // Round 1 opens after the failure's back-off (5 s) and is still open.
      now: DECIDE + 8 * SEC,
    })
    expect(p.actions).toEqual([])
    expect(p.explain.get(failing.uri)).toMatchObject({ round: 1, noBid: 'failed-here-before' })
  })

  it('leaves replicas of workloads it does not know alone', () => {
    const other = { ...local(), workloadUri: 'at://did:plc:zoe/x/y' }
    expect(run({ workloads: [], running: [other], now: T0 }).actions).toEqual([])
  })
})

describe('plan: nextWakeAt', () => {
  it('is the window close while the window is open', () => {
    expect(run({ bids: [mine], now: T0 + SEC }).nextWakeAt).toBe(CLOSES)
  })

  it('is when the running replica would be lost without a new heartbeat', () => {
    const beat = status(BOB_M, w, { updatedAt: DECIDE + 10 * SEC })
    const p = run({ bids: [mine], statuses: [beat], running: [local()], now: DECIDE + 20 * SEC })
    expect(p.nextWakeAt).toBe(DECIDE + 10 * SEC + LOST)
  })

  it('is the earliest over all workloads', () => {
    const later = workload({ rkey: '3lworklater00', createdAt: T0 + 3 * SEC })
    const p = run({ workloads: [later, w], bids: [mine], now: T0 + 6 * SEC })
    expect(p.nextWakeAt).toBe(DECIDE)
  })

  it('is when a round that nobody could fill will be retried', () => {
    const p = run({ self: { owner: BOB, lending: false }, now: DECIDE })
    expect(p.nextWakeAt).toBe(DECIDE + DEFAULT_CONFIG.retryMs)
  })

  it('is absent when nothing will change without new records', () => {
    const done = status(BOB_M, w, { state: 'exited', exitCode: 0, updatedAt: DECIDE + SEC })
    expect(
      run({ bids: [mine], statuses: [done], now: DECIDE + 600 * SEC }).nextWakeAt,
    ).toBeUndefined()
  })
})

describe('plan: determinism', () => {
  it('gives the same plan for any order of its inputs', () => {
    const w2 = workload({ rkey: '3lworktwo0000', replicas: 2 })
    const bids = [mine, bid(CAROL_M, w, { priority: 1 }), bid(CAROL_M, w2), bid(BOB_M, w2)]
    const statuses = [status(CAROL_M, w2, { updatedAt: DECIDE + SEC })]
    const a = run({ workloads: [w, w2], bids, statuses, now: DECIDE + 2 * SEC })
    const b = run({
      workloads: [w2, w],
      bids: [...bids].reverse(),
      statuses,
      now: DECIDE + 2 * SEC,
    })
    expect(b.actions).toEqual(a.actions)
    expect([...b.explain]).toEqual([...a.explain])
    expect(a.actions.map((x) => x.type)).toEqual(['start', 'start'])
  })
})
