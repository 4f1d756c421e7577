import { describe, expect, it } from 'vitest'
import { Audit, DEFAULT_SETTLE_MS } from '../../../core/fairshare/index.js'
import { NSID, type SettlementRecord } from '../../../core/lexicon/index.js'
import { DEFAULT_CONFIG, bidRkey, type BidView } from '../../../core/scheduling/index.js'
import {
  RETRY_MS,
  SettlementWriter,
  dueSettlements,
  type SettleInput,
  type SettlementView,
} from '../../../core/settlement/index.js'
import {
  ALICE,
  ALICE_M,
  BOB,
  BOB_M,
  DAVE,
  DAVE_M,
  SEC,
  T0,
  bid,
  cluster,
  iso,
  workload,
} from '../scheduling/_util.js'

const { lostAfterMs } = DEFAULT_CONFIG
const DAVE_M2 = 'did:plc:davemesh2'
const view = cluster({ [ALICE_M]: ALICE, [BOB_M]: BOB, [DAVE_M]: DAVE, [DAVE_M2]: DAVE })
// Dave's service, round 0 won by Alice's meshlet (Bob's lower bid loses).
const service = workload({ owner: DAVE, rkey: '3lservice0000', createdAt: T0 })
const others = workload({ owner: BOB, rkey: '3lbobs0000000', createdAt: T0 })
const bids: BidView[] = [
  bid(ALICE_M, service, { priority: 0 }),
  bid(BOB_M, service, { priority: 0, createdAt: T0 + 2 * SEC }),
  bid(ALICE_M, others, { priority: 0 }),
]

function input(now: number, patch: Partial<SettleInput> = {}, seen: SettlementView[] = []) {
  const audit = new Audit({
    now,
    workloads: [service, others],
    bids,
    statuses: [],
    settlements: seen,
    cluster: view,
  })
  return {
    meshlet: DAVE_M,
    owner: DAVE,
    workloads: [service, others],
    audit,
    cluster: view,
    siblings: [DAVE_M, DAVE_M2],
    now,
    config: DEFAULT_CONFIG,
    ...patch,
  }
}

const round0 = new Audit({
  now: T0 + 6 * SEC,
  workloads: [service],
  bids,
  statuses: [],
  cluster: view,
}).history(service, T0 + 6 * SEC).current
const winners = (() => {
  const a = new Audit({
    now: T0 + HOURS(1),
    workloads: [service],
    bids,
    statuses: [],
    cluster: view,
  })
  return a.history(service, T0 + HOURS(1)).selections.get(0)!.winners
})()
const dueAt = round0.decideAt + lostAfterMs

function HOURS(n: number): number {
  return n * 3_600_000
}

function written(meshlet: string, w: string[], createdAt: number): SettlementView {
  return {
    uri: `at://${meshlet}/${NSID.settlement}/${bidRkey(service.uri, 0, service.cid)}`,
    cid: `bafysettle-${meshlet}-${createdAt}`,
    meshlet,
    record: {
      $type: NSID.settlement,
      workload: { uri: service.uri, cid: service.cid },
      round: 0,
      winners: w,
      createdAt: iso(createdAt),
    } as SettlementRecord,
  }
}

describe('dueSettlements', () => {
  it("attests a decided round of its owner's workload once every honest bid is in", () => {
    expect(winners.length).toBe(1)
    const early = dueSettlements(input(dueAt - 1))
    expect(early.due).toEqual([])
    expect(early.nextAt).toBe(dueAt)
    const plan = dueSettlements(input(dueAt))
    expect(plan.due.map((d) => [d.workload.uri, d.round, d.winners, d.rkey])).toEqual([
      [service.uri, 0, winners, bidRkey(service.uri, 0, service.cid)],
    ])
  })

  it("never attests another owner's workload, nor from a meshlet whose link is not verified", () => {
    const bobs = input(dueAt, { meshlet: BOB_M, owner: BOB, siblings: [BOB_M] })
    expect(dueSettlements(bobs).due.map((d) => d.workload.uri)).toEqual([others.uri])
    const unlinked = input(dueAt, { meshlet: 'did:plc:stranger', siblings: [] })
    expect(dueSettlements(unlinked)).toEqual({ due: [] })
  })

  it("lets the owner's other meshlets write only if the first has not, a lostAfter later each", () => {
    const second = (now: number, seen: SettlementView[] = []) =>
      dueSettlements(input(now, { meshlet: DAVE_M2 }, seen))
    expect(second(dueAt).due).toEqual([])
    expect(second(dueAt).nextAt).toBe(dueAt + lostAfterMs)
    expect(second(dueAt + lostAfterMs).due.length).toBe(1)
    expect(second(dueAt + lostAfterMs, [written(DAVE_M, winners, dueAt)]).due).toEqual([])
  })

  it('writes nothing once a settlement counts, and rewrites its own if its audit moved since', () => {
    expect(dueSettlements(input(dueAt + SEC, {}, [written(DAVE_M, winners, dueAt)])).due).toEqual(
      [],
    )
    const stale = written(DAVE_M, [BOB_M], dueAt)
    expect(dueSettlements(input(dueAt + SEC, {}, [stale])).due.map((d) => d.winners)).toEqual([
      winners,
    ])
    // Another meshlet's record counts as it is: a second one would change nothing.
    const sibling = written(DAVE_M2, [BOB_M], dueAt)
    expect(dueSettlements(input(dueAt + SEC, {}, [sibling])).due).toEqual([])
  })

  it('skips a workload whose recent rounds are all attested without replaying it', () => {
    const replays: string[] = []
    const indexed = (now: number, seen: SettlementView[]) => {
      const i = input(now, {}, seen)
      const audit = i.audit
      return {
        ...i,
        audit: {
          settleMs: audit.settleMs,
          cutoffOf: audit.cutoffOf.bind(audit),
          settlementOf: audit.settlementOf.bind(audit),
          history: (w: Parameters<typeof audit.history>[0], at: number) => {
            replays.push(w.uri)
            return audit.history(w, at)
          },
        },
        bidsFor: (uri: string) => bids.filter((b) => b.record.workload.uri === uri),
        settlementsFor: (uri: string) => seen.filter((s) => s.record.workload.uri === uri),
      }
    }
    expect(dueSettlements(indexed(dueAt, [])).due.length).toBe(1)
    expect(replays).toEqual([service.uri])
    replays.length = 0
    expect(dueSettlements(indexed(dueAt + SEC, [written(DAVE_M, winners, dueAt)])).due).toEqual([])
    expect(replays).toEqual([])
    // One from a meshlet that is not the owner's does not count as attested.
    dueSettlements(indexed(dueAt + SEC, [written(BOB_M, winners, dueAt)]))
    expect(replays).toEqual([service.uri])
    // Nor is a round replayed once all its bids are older than the settle period.
    replays.length = 0
    dueSettlements(indexed(T0 + 2 * SEC + DEFAULT_SETTLE_MS, []))
    expect(replays).toEqual([])
  })

  it('never attests a round that has settled: nobody can audit it any more', () => {
    const a = input(dueAt).audit
    const settlesAt = a.cutoffOf(round0) + DEFAULT_SETTLE_MS
    expect(dueSettlements(input(settlesAt - 1)).due.length).toBe(1)
    expect(dueSettlements(input(settlesAt)).due).toEqual([])
    // With a short settle period the write is due halfway to it at the latest.
    const short = new Audit({
      now: round0.decideAt,
      workloads: [service],
      bids,
      statuses: [],
      cluster: view,
      settleMs: round0.decideAt - a.cutoffOf(round0) + 10 * SEC,
    })
    const plan = dueSettlements({ ...input(round0.decideAt), audit: short })
    expect(plan.nextAt).toBe(round0.decideAt + 5 * SEC)
  })
})

describe('SettlementWriter', () => {
  it('writes each due settlement once while its write is under way, and retries a failure later', async () => {
    const puts: { rkey: string; record: Record<string, unknown> }[] = []
    const errors: Error[] = []
    let release!: () => void
    let fail = false
    const writer = new SettlementWriter({
      put: async (rkey, record) => {
        puts.push({ rkey, record })
        await new Promise<void>((r) => (release = r))
        if (fail) throw new Error('no scope')
      },
      onError: (err) => errors.push(err),
    })
    writer.settle(input(dueAt))
    writer.settle(input(dueAt + SEC))
    expect(puts).toHaveLength(1)
    expect(puts[0]).toEqual({
      rkey: bidRkey(service.uri, 0, service.cid),
      record: {
        workload: { uri: service.uri, cid: service.cid },
        round: 0,
        winners,
        createdAt: iso(dueAt),
      },
    })
    fail = true
    release()
    await writer.settled()
    expect(errors.map((e) => e.message)).toEqual(['no scope'])
    // Not on every plan after a failure; again once RETRY_MS has passed.
    writer.settle(input(dueAt + 2 * SEC))
    expect(puts).toHaveLength(1)
    writer.settle(input(dueAt + RETRY_MS))
    expect(puts).toHaveLength(2)
    fail = false
    release()
    await writer.settled()
  })
})
