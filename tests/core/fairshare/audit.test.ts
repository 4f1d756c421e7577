import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { DEFAULT_RETENTION_MS } from '../../../core/hygiene/index.js'
import { endedVersion } from '../../../core/tombstone/index.js'
import { DEFAULT_TOMBSTONE_RETENTION_MS } from '../../../core/tombstone/delete.js'
import {
  Audit,
  CUTOFF_STEP_MS,
  DEFAULT_HALF_LIFE_MS,
  DEFAULT_SETTLE_MS,
  decayedUsage,
  usageMilliUnits,
} from '../../../core/fairshare/index.js'
import {
  DEFAULT_CONFIG,
  MAX_PRIORITY,
  select,
  type BidView,
  type StatusView,
  type WorkloadView,
} from '../../../core/scheduling/index.js'
import {
  ALICE,
  ALICE_M,
  BOB,
  BOB_M,
  CAROL,
  CAROL_M,
  DAVE,
  DAVE_M,
  SEC,
  T0,
  bid,
  cluster,
  status,
  workload,
} from '../scheduling/_util.js'

const HOUR = 3_600_000
const { graceMs, lostAfterMs } = DEFAULT_CONFIG
const CORE = { cpuMillis: 1000, memoryMiB: 0 }
// Alice's job, won by Bob's meshlet in round 0 (window T0..T0+5s, decided at T0+7s).
const job = workload({ owner: ALICE, resources: CORE })
const decideAt = T0 + 5 * SEC + graceMs
const bobsBid = bid(BOB_M, job, { createdAt: T0 + SEC, priority: 0 })

function audit(
  statuses: StatusView[],
  bids: BidView[] = [bobsBid],
  workloads: WorkloadView[] = [job],
): Audit {
  return new Audit({ now: T0 + 3 * HOUR, workloads, bids, statuses, cluster: cluster() })
}

// A finished job of Alice's that Bob ran for an hour, and Dave's workload whose round 0 opens
// after it, bid on by every meshlet with what the ledger gave its owner: Alice ranks first.
const ended = status(BOB_M, job, { state: 'stopped', updatedAt: T0 + HOUR, resources: CORE })
const next = workload({ owner: DAVE, rkey: '3lnext0000000', createdAt: T0 + HOUR + 30 * SEC })

function decidedAfterJob() {
  const opens = T0 + HOUR + 30 * SEC
  const before = audit([ended], [bobsBid], [job, next])
  const info = before.history(next, opens).current
  const cutoff = before.cutoffOf(info)
  const owners: Record<string, string> = { [ALICE_M]: ALICE, [BOB_M]: BOB, [CAROL_M]: CAROL }
  const bids = [ALICE_M, BOB_M, CAROL_M].map((m) =>
    bid(m, next, { createdAt: opens + SEC, priority: before.priorityAt(owners[m]!, cutoff) }),
  )
  return { bids, info, cutoff, later: T0 + 2 * HOUR }
}

/** The tombstone of a version, as a meshlet's store holds it (core/tombstone). */
function tombstone(w: WorkloadView, deletedAt: number): WorkloadView {
  const record = {
    ...w.record,
    deletedAt: new Date(deletedAt).toISOString(),
    deletedVersion: w.cid,
  }
  return endedVersion({ ...w, cid: 'bafytombstone', record: record as WorkloadView['record'] })
}

describe('the audited ledger', () => {
  it('credits the winner of a round from its decision to the cutoff while it stays alive', () => {
    const beat = status(BOB_M, job, {
      state: 'stopped',
      updatedAt: T0 + HOUR - 10 * SEC,
      resources: CORE,
    })
    const book = audit([beat]).ledgerAt(T0 + HOUR)
    const hour = Number(
      decayedUsage(CORE, T0 + HOUR - 10 * SEC - decideAt, 10 * SEC, DEFAULT_HALF_LIFE_MS),
    )
    expect([...book]).toEqual([
      [ALICE, -hour],
      [BOB, hour],
    ])
  })

  it('gives the same answer whichever version of a status a peer holds', () => {
    const cutoff = T0 + HOUR
    const before = status(BOB_M, job, { updatedAt: cutoff - 60 * SEC, resources: CORE })
    const after = status(BOB_M, job, { updatedAt: cutoff + 30 * SEC, resources: CORE })
    const ended = status(BOB_M, job, {
      state: 'stopped',
      updatedAt: cutoff + 90 * SEC,
      resources: CORE,
      wallMs: 2 * HOUR,
    })
    const a = audit([before]).ledgerAt(cutoff)
    expect(audit([after]).ledgerAt(cutoff)).toEqual(a)
    expect(audit([ended]).ledgerAt(cutoff)).toEqual(a)
    // Running at the cutoff: credited once it ends, by a final status older than a later cutoff.
    expect(a.size).toBe(0)
    expect(
      audit([ended])
        .ledgerAt(cutoff + 2 * 60 * SEC)
        .get(BOB),
    ).toBeGreaterThan(0)
  })

  it('counts nothing before the no-show deadline, when peers may not hold the status yet', () => {
    const beat = status(BOB_M, job, {
      state: 'stopped',
      updatedAt: decideAt + lostAfterMs / 2,
      resources: CORE,
    })
    expect(audit([beat]).ledgerAt(decideAt + lostAfterMs - 1).size).toBe(0)
    expect(
      audit([beat])
        .ledgerAt(decideAt + lostAfterMs)
        .get(BOB),
    ).toBeGreaterThan(0)
  })

  it('ends a replica whose heartbeat went stale at its last heartbeat', () => {
    const last = T0 + 10 * 60 * SEC
    const beat = status(BOB_M, job, { state: 'stopped', updatedAt: last, resources: CORE })
    const book = audit([beat]).ledgerAt(T0 + HOUR)
    // Decayed by the 50 minutes since; a fraction of a percent under the undecayed amount.
    const undecayed = Number(usageMilliUnits(CORE, last - decideAt))
    expect(book.get(BOB)).toBeLessThanOrEqual(undecayed)
    expect(book.get(BOB)).toBeGreaterThan(undecayed * 0.99)
  })

  it('credits nothing for a declined win: it never ran', () => {
    const declined = status(BOB_M, job, { state: 'declined', updatedAt: decideAt + 2 * SEC })
    expect(audit([declined]).creditsAt(T0 + HOUR)).toEqual([])
    // The same status saying stopped would be credited its seconds.
    const stopped = status(BOB_M, job, { state: 'stopped', updatedAt: decideAt + 2 * SEC })
    expect(audit([stopped]).creditsAt(T0 + HOUR)).toHaveLength(1)
  })

  it('credits no more than the workload asked for, nor longer than a final status says', () => {
    const greedy = status(BOB_M, job, {
      state: 'exited',
      updatedAt: T0 + HOUR,
      resources: { cpuMillis: 64_000, memoryMiB: 65_536 },
      wallMs: 10 * 60 * SEC,
    })
    const credits = audit([greedy]).creditsAt(T0 + HOUR)
    expect(credits).toHaveLength(1)
    expect(credits[0]!.resources).toEqual(CORE)
    expect(credits[0]!.creditedMs).toBe(10 * 60 * SEC)
  })

  it('counts no forged status: no such workload, a round not won, an old version, a self-run', () => {
    const ghost = workload({ owner: DAVE, rkey: '3lghost000000', resources: CORE })
    const forged = [
      // For a workload that does not exist, with an impossible run time.
      status(CAROL_M, ghost, { updatedAt: T0 + HOUR, resources: CORE, wallMs: 1e12 }),
      // For Alice's real job, in the round Bob won: Carol made no bid, so she won nothing.
      status(CAROL_M, job, { updatedAt: T0 + HOUR, resources: CORE, wallMs: HOUR }),
      // For a round that never happened.
      status(CAROL_M, job, { round: 7, updatedAt: T0 + HOUR, resources: CORE, wallMs: HOUR }),
      // For a version that is not the workload's.
      status(BOB_M, job, { workloadCid: 'bafyold', updatedAt: T0 + HOUR, resources: CORE }),
    ]
    expect(audit(forged).ledgerAt(T0 + 2 * HOUR).size).toBe(0)
    // Carol's losing bid does not make her status count either.
    const lost = bid(CAROL_M, job, { createdAt: T0 + 2 * SEC, priority: 0 })
    expect(audit(forged, [bobsBid, lost]).ledgerAt(T0 + 2 * HOUR).size).toBe(0)
  })

  it('voids a bid whose declared priority differs from the ledger, so an inflated one loses', () => {
    // Bob lent an hour to Alice: Alice is furthest below the mean and ranks first.
    const beat = status(BOB_M, job, { state: 'stopped', updatedAt: T0 + HOUR, resources: CORE })
    const next = workload({
      owner: DAVE,
      rkey: '3lnext0000000',
      createdAt: T0 + HOUR + 30 * SEC,
    })
    const opens = T0 + HOUR + 30 * SEC
    const a = audit([beat], [bobsBid], [job, next])
    const info = a.history(next, opens + 6 * SEC).current
    expect(info.round).toBe(0)
    const cutoff = a.cutoffOf(info)
    expect(cutoff).toBeLessThanOrEqual(opens - graceMs)
    expect(cutoff).toBeGreaterThan(opens - graceMs - CUTOFF_STEP_MS)
    const alice = a.priorityAt(ALICE, cutoff)
    expect(alice).toBeGreaterThan(0)
    expect(a.priorityAt(BOB, cutoff)).toBe(-alice)
    const bids = [
      bid(ALICE_M, next, { createdAt: opens + SEC, priority: alice }),
      bid(BOB_M, next, { createdAt: opens + SEC, priority: MAX_PRIORITY }),
    ]
    const s = select(next, info, bids, cluster(), a.expected)
    expect(s.winners).toEqual([ALICE_M])
    expect(s.ranked.find((r) => r.bid.meshlet === BOB_M)).toMatchObject({
      valid: false,
      reason: 'priority-mismatch',
    })
  })

  // Found by bench/agreement.ts (docs/agreement.md): when a deleted workload's usage vanished
  // from every ledger, bids that declared those ledgers honestly became void and rounds decided
  // before the deletion got other winners. A deletion now leaves a tombstone.
  it('keeps the winners of a decided round when an earlier workload is deleted', () => {
    const { bids, cutoff, later } = decidedAfterJob()
    const decided = audit([ended], [bobsBid, ...bids], [job, next]).history(next, later)
    expect(decided.selections.get(0)?.winners).toEqual([ALICE_M])
    // Alice deletes the finished job: its tombstone keeps its usage in the ledger.
    const deletedAt = T0 + 2 * HOUR - 10 * SEC
    const a = audit([ended], [bobsBid, ...bids], [tombstone(job, deletedAt), next])
    expect(a.history(next, later).selections.get(0)?.winners).toEqual([ALICE_M])
    const before = audit([ended], [bobsBid, ...bids], [job, next])
    expect([...a.ledgerAt(cutoff)]).toEqual([...before.ledgerAt(cutoff)])
    // A client that deletes outright (no tombstone) still rewrites it: the documented cost.
    expect(audit([], bids, [next]).history(next, later).selections.get(0)?.winners).not.toEqual([
      ALICE_M,
    ])
  })

  it('keeps them when the tombstone and its records go after the retention period', () => {
    const { bids, info } = decidedAfterJob()
    const deletedAt = T0 + 2 * HOUR
    const retention = 2 * DEFAULT_SETTLE_MS
    const gone = deletedAt + retention
    // Every store has lost the job, its bid and its status; the losers deleted their bids.
    const after = new Audit({
      now: gone,
      workloads: [next],
      bids: bids.filter((b) => b.meshlet === ALICE_M),
      statuses: [],
      cluster: cluster(),
    })
    expect(after.settled(info)).toBe(true)
    expect(after.history(next, gone).selections.get(0)?.winners).toEqual([ALICE_M])
    // Even with the losers' bids still there: each settled bid's declared priority stands.
    const all = new Audit({ now: gone, workloads: [next], bids, statuses: [], cluster: cluster() })
    expect(all.history(next, gone).selections.get(0)?.winners).toEqual([ALICE_M])
  })

  it("counts a deleted workload's usage for half the retention after the deletion, then not", () => {
    const deletedAt = T0 + 2 * HOUR
    const a = audit([ended], [bobsBid], [tombstone(job, deletedAt)])
    const counted = a.ledgerAt(deletedAt + DEFAULT_SETTLE_MS - 1)
    expect(counted.get(BOB)).toBeGreaterThan(0)
    expect(counted.get(ALICE)).toBe(-counted.get(BOB)!)
    expect(a.ledgerAt(deletedAt + DEFAULT_SETTLE_MS).size).toBe(0)
    // So a peer that never saw the tombstone (offline until it went) computes the same ledger
    // for every cutoff still audited once it is gone.
    const none = audit([], [], [])
    for (const c of [deletedAt + DEFAULT_SETTLE_MS, deletedAt + 2 * DEFAULT_SETTLE_MS]) {
      expect([...a.ledgerAt(c)]).toEqual([...none.ledgerAt(c)])
    }
  })

  it('credits a deleted workload up to lostAfter past its deletion, and no round opened after', () => {
    const deletedAt = T0 + 30 * 60 * SEC
    const w = tombstone(job, deletedAt)
    const cutoff = T0 + 2 * HOUR
    // Bob's host was away when it was deleted: still running as far as the records say, then
    // stopped an hour late. Either way its replica counts until lostAfter after the deletion.
    const running = status(BOB_M, job, { updatedAt: deletedAt - 60 * SEC, resources: CORE })
    const late = status(BOB_M, job, {
      state: 'stopped',
      updatedAt: deletedAt + HOUR,
      resources: CORE,
      wallMs: 2 * HOUR,
    })
    for (const s of [running, late]) {
      const credits = audit([s], [bobsBid], [w]).creditsAt(cutoff)
      expect(credits.map((c) => [c.meshlet, c.creditedMs])).toEqual([
        [BOB_M, deletedAt + lostAfterMs - decideAt],
      ])
    }
    // Not yet lostAfter past it: only a final status written before the cutoff counts.
    expect(audit([running], [bobsBid], [w]).creditsAt(deletedAt + lostAfterMs - 1)).toEqual([])
    // A round that opens after the deletion places nobody, whatever its bids and statuses say.
    const stopped = status(BOB_M, job, { state: 'stopped', updatedAt: T0 + 10 * 60 * SEC })
    const early = tombstone(job, T0 + 10 * 60 * SEC - SEC)
    const carols = bid(CAROL_M, job, { round: 1, createdAt: T0 + 10 * 60 * SEC + SEC, priority: 0 })
    const carolRan = status(CAROL_M, job, {
      round: 1,
      state: 'exited',
      updatedAt: T0 + HOUR,
      resources: CORE,
      wallMs: 40 * 60 * SEC,
    })
    const bobOnly = audit([stopped, carolRan], [bobsBid, carols], [early]).creditsAt(cutoff)
    expect(bobOnly.map((c) => c.meshlet)).toEqual([BOB_M])
    const live = audit([stopped, carolRan], [bobsBid, carols], [job]).creditsAt(cutoff)
    expect(live.map((c) => c.meshlet).sort()).toEqual([BOB_M, CAROL_M])
  })

  it('stops auditing a round settleMs after its cutoff: what its bids declared stands', () => {
    const { info, bids } = decidedAfterJob()
    const inflated = bid(BOB_M, next, { createdAt: info.opensAt + SEC, priority: MAX_PRIORITY })
    const young = audit([ended], [bobsBid], [job, next])
    expect(young.settled(info)).toBe(false)
    expect(young.expected(inflated, info)).not.toBe(MAX_PRIORITY)
    const settledAt = young.cutoffOf(info) + DEFAULT_SETTLE_MS
    const old = new Audit({
      now: settledAt,
      workloads: [job, next],
      bids: [bobsBid, ...bids],
      statuses: [ended],
      cluster: cluster(),
    })
    expect(old.settled(info)).toBe(true)
    expect(old.expected(inflated, info)).toBe(MAX_PRIORITY)
    const justBefore = new Audit({
      now: settledAt - 1,
      workloads: [job, next],
      bids: [],
      statuses: [ended],
      cluster: cluster(),
    })
    expect(justBefore.settled(info)).toBe(false)
  })

  it('settles at half the retention of tombstones and bids', () => {
    expect(2 * DEFAULT_SETTLE_MS).toBe(DEFAULT_RETENTION_MS)
    expect(DEFAULT_TOMBSTONE_RETENTION_MS).toBe(DEFAULT_RETENTION_MS)
  })
})

describe('the audit, as a property', () => {
  // Earlier history: Bob's meshlet ran Alice's job for an hour; Carol's for Dave for a while.
  const daves = workload({ owner: DAVE, rkey: '3ldave0000000', resources: CORE })
  const history = {
    workloads: [job, daves],
    bids: [bobsBid, bid(CAROL_M, daves, { createdAt: T0 + SEC, priority: 0 })],
    statuses: [
      status(BOB_M, job, {
        state: 'stopped',
        updatedAt: T0 + HOUR - 10 * 60 * SEC,
        resources: CORE,
      }),
      status(CAROL_M, daves, { state: 'exited', updatedAt: T0 + HOUR / 3, resources: CORE }),
    ],
  }
  const target = workload({ owner: CAROL, rkey: '3ltarget00000', createdAt: T0 + HOUR })
  const opens = T0 + HOUR
  const meshlets = [ALICE_M, BOB_M, CAROL_M, DAVE_M]

  it('no declared priority changes who wins: only bids that declare the ledger count', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 3 }),
        fc.array(
          fc.record({
            meshlet: fc.constantFrom(...meshlets),
            honest: fc.boolean(),
            lie: fc.integer({ min: -MAX_PRIORITY, max: MAX_PRIORITY }),
            lie2: fc.integer({ min: -MAX_PRIORITY, max: MAX_PRIORITY }),
            at: fc.integer({ min: 0, max: 5 * SEC }),
          }),
          { maxLength: 6 },
        ),
        (replicas, specs) => {
          const w = { ...target, record: { ...target.record, replicas } }
          const a = new Audit({
            now: opens + 6 * SEC,
            ...history,
            workloads: [...history.workloads, w],
            cluster: cluster(),
          })
          const info = a.history(w, opens + 6 * SEC).current
          expect(info.round).toBe(0)
          const cutoff = a.cutoffOf(info)
          const owners: Record<string, string> = {
            [ALICE_M]: ALICE,
            [BOB_M]: BOB,
            [CAROL_M]: CAROL,
            [DAVE_M]: DAVE,
          }
          const make = (lie: (s: (typeof specs)[number]) => number) =>
            specs.map((s, i) => {
              const honest = a.priorityAt(owners[s.meshlet]!, cutoff)
              const declared = s.honest || lie(s) === honest ? honest : lie(s)
              return bid(s.meshlet, w, {
                createdAt: opens + s.at,
                priority: declared,
                cid: `bafybid${i}`,
              })
            })
          const first = select(
            w,
            info,
            make((s) => s.lie),
            cluster(),
            a.expected,
          )
          const second = select(
            w,
            info,
            make((s) => s.lie2),
            cluster(),
            a.expected,
          )
          // Other lies, same winners; and every winner declared what the ledger says.
          expect(second.winners).toEqual(first.winners)
          if (specs.some((s) => s.honest)) expect(first.winners.length).toBeGreaterThan(0)
          for (const r of first.ranked.filter((x) => x.winner)) {
            expect(r.bid.record.priority).toBe(a.priorityAt(owners[r.bid.meshlet]!, cutoff))
          }
        },
      ),
      { numRuns: 200 },
    )
  })
})
