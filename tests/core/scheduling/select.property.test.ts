import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import {
  checkBid,
  compareStrings,
  spreadKey,
  roundOf,
  select,
  type BidView,
  type RoundInfo,
} from '../../../core/scheduling/index.js'
import {
  ALICE,
  ALICE_M,
  BOB_M,
  CAROL,
  CAROL_M,
  DAVE_M,
  SEC,
  T0,
  bid,
  cluster,
  workload,
} from './_util.js'

const STRANGER_M = 'did:plc:strangermesh'
const ERIN_M = 'did:plc:erinmesh'
const MESHLETS = [ALICE_M, BOB_M, CAROL_M, DAVE_M, ERIN_M, STRANGER_M]
// Erin's meshlet is linked; Carol is not mutual with Alice; the stranger is not linked at all.
const view = cluster(
  {
    [ALICE_M]: ALICE,
    [BOB_M]: 'did:plc:bob',
    [CAROL_M]: CAROL,
    [DAVE_M]: 'did:plc:dave',
    [ERIN_M]: 'did:plc:erin',
  },
  [[ALICE, CAROL]],
)
const w = workload({ replicas: 3 })
const base = roundOf(w, [], undefined, T0)

const arbBid = fc.record({
  meshlet: fc.constantFrom(...MESHLETS),
  priority: fc.integer({ min: -3, max: 3 }),
  round: fc.constantFrom(0, 0, 0, 1),
  createdAt: fc.constantFrom(T0 - 1, T0, T0 + SEC, T0 + 5 * SEC, T0 + 5 * SEC + 1),
  small: fc.boolean(),
  stale: fc.boolean(),
})

const arbCase = fc
  .record({
    specs: fc.array(arbBid, { maxLength: 14 }),
    slots: fc.integer({ min: 0, max: 4 }),
    excluded: fc.subarray(MESHLETS, { maxLength: 2 }),
    holders: fc.subarray(MESHLETS, { maxLength: 2 }),
  })
  .map(({ specs, slots, excluded, holders }) => {
    const bids = specs.map((s, i) =>
      bid(s.meshlet, w, {
        round: s.round,
        priority: s.priority,
        createdAt: s.createdAt,
        cid: `bafybid${String(i).padStart(3, '0')}`,
        ...(s.small ? { offer: { cpuMillis: 1, memoryMiB: 4 } } : {}),
        ...(s.stale && s.priority % 2 === 0 ? { workloadCid: 'bafystale' } : {}),
      }),
    )
    const info: RoundInfo = {
      ...base,
      slots,
      excluded: [...excluded].sort(compareStrings),
      holders: [...holders].sort(compareStrings),
    }
    return { bids, info }
  })

const arbPermuted = arbCase.chain(({ bids, info }) =>
  fc
    .shuffledSubarray(bids, { minLength: bids.length, maxLength: bids.length })
    .map((permuted) => ({ bids, info, permuted })),
)

function bestPriority(bids: BidView[], meshlet: string, info: RoundInfo): number | undefined {
  const valid = bids.filter(
    (b) => b.meshlet === meshlet && checkBid(b, w, info, view).valid === true,
  )
  return valid.length === 0 ? undefined : Math.max(...valid.map((b) => b.record.priority))
}

describe('select (properties)', () => {
  it('gives the same result for every permutation of the bids', () => {
    fc.assert(
      fc.property(arbPermuted, ({ bids, info, permuted }) => {
        expect(select(w, info, permuted, view)).toEqual(select(w, info, bids, view))
      }),
    )
  })

  it('never has more winners than slots, and at most one win per meshlet', () => {
    fc.assert(
      fc.property(arbCase, ({ bids, info }) => {
        const { winners, ranked } = select(w, info, bids, view)
        expect(winners.length).toBeLessThanOrEqual(info.slots)
        expect(new Set(winners).size).toBe(winners.length)
        expect(ranked.filter((r) => r.winner).map((r) => r.bid.meshlet)).toEqual(winners)
        expect(ranked).toHaveLength(bids.length)
      }),
    )
  })

  it('invalid bids never win; every winner has a valid bid', () => {
    fc.assert(
      fc.property(arbCase, ({ bids, info }) => {
        const { winners, ranked } = select(w, info, bids, view)
        for (const r of ranked) {
          expect(r.valid).toBe(checkBid(r.bid, w, info, view).valid)
          if (!r.valid) expect(r.winner).toBe(false)
        }
        for (const m of winners) expect(bestPriority(bids, m, info)).not.toBeUndefined()
      }),
    )
  })

  it('winners are the valid bidders with the highest priorities, ties to the smaller spread key', () => {
    fc.assert(
      fc.property(arbCase, ({ bids, info }) => {
        const { winners } = select(w, info, bids, view)
        const bidders = MESHLETS.filter((m) => bestPriority(bids, m, info) !== undefined)
        const key = (m: string) => bestPriority(bids, m, info) ?? -Infinity
        const expected = [...bidders]
          .sort(
            (a, b) => key(b) - key(a) || compareStrings(spreadKey(w.uri, a), spreadKey(w.uri, b)),
          )
          .slice(0, info.slots)
        expect(winners).toEqual(expected)
      }),
    )
  })
})
