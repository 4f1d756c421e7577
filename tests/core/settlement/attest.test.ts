import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { Audit, DEFAULT_SETTLE_MS } from '../../../core/fairshare/index.js'
import { checkRecord, NSID, type SettlementRecord } from '../../../core/lexicon/index.js'
import {
  DEFAULT_CONFIG,
  MAX_PRIORITY,
  bidRkey,
  select,
  type BidView,
  type RoundInfo,
  type WorkloadView,
} from '../../../core/scheduling/index.js'
import {
  SETTLEMENT_INVALID_REASONS,
  settlementFor,
  settlementProblem,
  type SettlementInvalidReason,
  type SettlementView,
} from '../../../core/settlement/index.js'
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
  iso,
  status,
  workload,
} from '../scheduling/_util.js'

const HOUR = 3_600_000
const { lostAfterMs } = DEFAULT_CONFIG
const CORE = { cpuMillis: 1000, memoryMiB: 0 }
/** Dave's second meshlet: two of one owner's meshlets may both attest. */
const DAVE_M2 = 'did:plc:davemesh2'
const owners = {
  [ALICE_M]: ALICE,
  [BOB_M]: BOB,
  [CAROL_M]: CAROL,
  [DAVE_M]: DAVE,
  [DAVE_M2]: DAVE,
}
const view = cluster(owners)

// History: Bob's meshlet ran Alice's job for an hour, so Alice's meshlet ranks first in Dave's
// service's round 0; Bob's meshlet declares the highest priority there is, which the audit voids.
const job = workload({ owner: ALICE, resources: CORE })
const ran = [
  bid(BOB_M, job, { createdAt: T0 + SEC, priority: 0 }),
  status(BOB_M, job, { state: 'stopped', updatedAt: T0 + HOUR, resources: CORE }),
] as const
const opens = T0 + HOUR + 30 * SEC
const service = workload({ owner: DAVE, rkey: '3lservice0000', createdAt: opens })

function auditAt(now: number, bids: BidView[], settlements: SettlementView[] = []): Audit {
  return new Audit({
    now,
    workloads: [job, service],
    bids: [ran[0], ...bids],
    statuses: [ran[1]],
    settlements,
    cluster: view,
  })
}

const young = auditAt(opens + 6 * SEC, [])
const info: RoundInfo = young.history(service, opens + 6 * SEC).current
const cutoff = young.cutoffOf(info)
const settlesAt = cutoff + DEFAULT_SETTLE_MS
const honest = bid(ALICE_M, service, {
  createdAt: opens + SEC,
  priority: young.priorityAt(ALICE, cutoff),
})
const inflated = bid(BOB_M, service, { createdAt: opens + SEC, priority: MAX_PRIORITY })

function settlement(
  meshlet: string,
  winners: string[],
  opts: { createdAt?: number; round?: number; cid?: string; uri?: string; rkey?: string } = {},
): SettlementView {
  const round = opts.round ?? 0
  const record = {
    $type: NSID.settlement,
    workload: { uri: opts.uri ?? service.uri, cid: opts.cid ?? service.cid },
    round,
    winners,
    createdAt: iso(opts.createdAt ?? info.decideAt + lostAfterMs),
  } as SettlementRecord
  return {
    uri: `at://${meshlet}/${NSID.settlement}/${opts.rkey ?? bidRkey(service.uri, round, service.cid)}`,
    cid: `bafysettle-${meshlet}-${winners.join(',')}`,
    meshlet,
    record,
  }
}

const attested = settlement(DAVE_M, [ALICE_M])

function winnersAt(now: number, bids: BidView[], settlements: SettlementView[] = []) {
  const a = auditAt(now, bids, settlements)
  return select(service, info, bids, view, a.expected)
}

describe('a settled round', () => {
  it('is decided by the audit while it can be audited: the inflated bid is void', () => {
    expect(info.round).toBe(0)
    expect(young.settled(info)).toBe(false)
    const s = winnersAt(info.decideAt, [honest, inflated])
    expect(s.winners).toEqual([ALICE_M])
    expect(s.ranked.find((r) => r.bid.meshlet === BOB_M)?.reason).toBe('priority-mismatch')
  })

  it('without a settlement, takes its bids on their word: the void bid wins (the old rule)', () => {
    const s = winnersAt(settlesAt, [honest, inflated])
    expect(s.winners).toEqual([BOB_M])
  })

  it("keeps the audited winners the owner's meshlet attested, and voids the bids it leaves out", () => {
    const s = winnersAt(settlesAt, [honest, inflated], [attested])
    expect(s.winners).toEqual([ALICE_M])
    expect(s.ranked.find((r) => r.bid.meshlet === BOB_M)).toMatchObject({
      valid: false,
      reason: 'not-attested',
      winner: false,
    })
    // Months on, with the ledger's records long gone, the answer is the same.
    const later = new Audit({
      now: settlesAt + 30 * 24 * HOUR,
      workloads: [service],
      bids: [honest, inflated],
      statuses: [],
      settlements: [attested],
      cluster: view,
    })
    expect(select(service, info, [honest, inflated], view, later.expected).winners).toEqual([
      ALICE_M,
    ])
    // And the whole history of the workload agrees: one placement, on Alice's meshlet.
    expect(later.history(service, settlesAt + HOUR).placements.map((p) => p.meshlet)).toEqual([
      ALICE_M,
    ])
  })

  it('ignores a forged settlement: a meshlet not owned by the workload owner attests nothing', () => {
    const forged = settlement(CAROL_M, [BOB_M], { createdAt: info.decideAt })
    expect(winnersAt(settlesAt, [honest, inflated], [forged]).winners).toEqual([BOB_M])
    // Beside the owner's own, the forged one (earlier) changes nothing either.
    expect(winnersAt(settlesAt, [honest, inflated], [forged, attested]).winners).toEqual([ALICE_M])
  })

  it('takes the earliest of two settlements that disagree, then the smaller URI', () => {
    const wrong = settlement(DAVE_M2, [BOB_M], { createdAt: info.decideAt + 2 * lostAfterMs })
    expect(winnersAt(settlesAt, [honest, inflated], [wrong, attested]).winners).toEqual([ALICE_M])
    expect(winnersAt(settlesAt, [honest, inflated], [attested, wrong]).winners).toEqual([ALICE_M])
    const first = settlement(DAVE_M2, [BOB_M], { createdAt: info.decideAt + SEC })
    expect(winnersAt(settlesAt, [honest, inflated], [attested, first]).winners).toEqual([BOB_M])
    // Same time: the smaller URI (did:plc:davemesh < did:plc:davemesh2).
    const tie = settlement(DAVE_M2, [BOB_M])
    expect(tie.record.createdAt).toBe(attested.record.createdAt)
    expect(winnersAt(settlesAt, [honest, inflated], [tie, attested]).winners).toEqual([ALICE_M])
  })

  it('counts only for its own workload version and round', () => {
    const otherCid = settlement(DAVE_M, [ALICE_M], { cid: 'bafyworkloadv0' })
    const otherRound = settlement(DAVE_M, [ALICE_M], { round: 1 })
    expect(winnersAt(settlesAt, [honest, inflated], [otherCid, otherRound]).winners).toEqual([
      BOB_M,
    ])
  })
})

describe('settlementProblem', () => {
  const round = { workload: service, info, settlesAt }
  const cases: { reason: SettlementInvalidReason; s: SettlementView; cluster?: typeof view }[] = [
    { reason: 'settlement-other-round', s: settlement(DAVE_M, [ALICE_M], { round: 3 }) },
    { reason: 'settlement-other-round', s: settlement(DAVE_M, [ALICE_M], { cid: 'bafyold' }) },
    {
      reason: 'settlement-other-round',
      s: settlement(DAVE_M, [ALICE_M], { uri: job.uri }),
    },
    // A stranger: a meshlet nobody links to an owner.
    { reason: 'settlement-author-unlinked', s: settlement('did:plc:stranger', [BOB_M]) },
    // Forged: a verified meshlet of another owner (Bob's, for a bid of its own).
    { reason: 'settlement-not-owner', s: settlement(BOB_M, [BOB_M]) },
    // Dave's meshlet whose link is no longer verified.
    {
      reason: 'settlement-author-unlinked',
      s: attested,
      cluster: cluster({ [ALICE_M]: ALICE, [BOB_M]: BOB }),
    },
    {
      reason: 'settlement-early',
      s: settlement(DAVE_M, [ALICE_M], { createdAt: info.decideAt - 1 }),
    },
    {
      reason: 'settlement-early',
      s: {
        ...attested,
        record: { ...attested.record, createdAt: 'not a date' as SettlementRecord['createdAt'] },
      },
    },
    { reason: 'settlement-late', s: settlement(DAVE_M, [BOB_M], { createdAt: settlesAt }) },
  ]

  it.each(cases)('$reason', (c) => {
    expect(settlementProblem(c.s, round, c.cluster ?? view)).toBe(c.reason)
    expect(settlementFor([c.s], round, c.cluster ?? view)).toBeUndefined()
  })

  it('covers every reason, and accepts one from the last moment before the round settles', () => {
    expect(new Set(cases.map((c) => c.reason))).toEqual(new Set(SETTLEMENT_INVALID_REASONS))
    expect(settlementProblem(attested, round, view)).toBeUndefined()
    const last = settlement(DAVE_M, [ALICE_M], { createdAt: settlesAt - 1 })
    expect(settlementProblem(last, round, view)).toBeUndefined()
    const first = settlement(DAVE_M, [ALICE_M], { createdAt: info.decideAt })
    expect(settlementProblem(first, round, view)).toBeUndefined()
  })

  it('refuses malformed records at the lexicon', () => {
    // The fixtures' CIDs are names, not CIDs: a record from the network carries a real one.
    const cid = 'bafyreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku'
    const ok = { ...attested.record, workload: { uri: service.uri, cid } }
    expect(checkRecord(NSID.settlement, ok).ok).toBe(true)
    const bad: unknown[] = [
      { ...ok, workload: { uri: service.uri, cid: 'not a cid' } },
      { ...ok, winners: ['not a did'] },
      { ...ok, winners: Array.from({ length: 65 }, (_, i) => `did:plc:m${i}`) },
      { ...ok, round: -1 },
      { ...ok, createdAt: 'yesterday' },
      { ...ok, workload: { uri: service.uri } },
      (({ winners: _, ...rest }) => rest)(ok),
      { ...ok, $type: NSID.bid },
    ]
    for (const b of bad) expect(checkRecord(NSID.settlement, b).ok).toBe(false)
  })
})

describe('settled rounds, as a property', () => {
  it("no declared priority changes a settled round's winners once its owner attested them", () => {
    const meshlets = [ALICE_M, BOB_M, CAROL_M]
    const ownerOf: Record<string, string> = { [ALICE_M]: ALICE, [BOB_M]: BOB, [CAROL_M]: CAROL }
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 3 }),
        fc.array(
          fc.record({
            meshlet: fc.constantFrom(...meshlets),
            honest: fc.boolean(),
            lie: fc.integer({ min: -MAX_PRIORITY, max: MAX_PRIORITY }),
            at: fc.integer({ min: 0, max: 5 * SEC }),
          }),
          { maxLength: 6 },
        ),
        fc.integer({ min: 0, max: 30 * 24 * HOUR }),
        (replicas, specs, after) => {
          const w: WorkloadView = { ...service, record: { ...service.record, replicas } }
          const a = new Audit({
            now: opens + 10 * SEC,
            workloads: [job, w],
            bids: [ran[0]],
            statuses: [ran[1]],
            cluster: view,
          })
          const round = a.history(w, opens + 6 * SEC).current
          expect(round.round).toBe(0)
          const at = a.cutoffOf(round)
          const bids = specs.map((s, i) => {
            const truth = a.priorityAt(ownerOf[s.meshlet]!, at)
            return bid(s.meshlet, w, {
              createdAt: opens + s.at,
              priority: s.honest ? truth : s.lie,
              cid: `bafybid${i}`,
            })
          })
          // While it can be audited: the audited winners, which Dave's meshlet attests.
          const audited = select(w, round, bids, view, a.expected).winners
          if (specs.some((s) => s.honest)) expect(audited.length).toBeGreaterThan(0)
          const attest = settlement(DAVE_M, [...audited].sort(), {
            createdAt: round.decideAt + lostAfterMs,
          })
          // Settled, with only the bids kept (the statuses went with hygiene).
          const settled = new Audit({
            now: at + DEFAULT_SETTLE_MS + after,
            workloads: [w],
            bids,
            statuses: [],
            settlements: [attest],
            cluster: view,
          })
          expect(settled.settled(round)).toBe(true)
          const now = select(w, round, bids, view, settled.expected).winners
          expect([...now].sort()).toEqual([...audited].sort())
        },
      ),
      { numRuns: 200 },
    )
  })
})
