import { describe, expect, it } from 'vitest'
import { compareStrings, roundOf, select, spreadKey } from '../../../core/scheduling/index.js'
import { ALICE, BOB_M, CAROL_M, DAVE_M, T0, bid, cluster, workload } from './_util.js'

const w = workload({ replicas: 2 })
const info = roundOf(w, [], undefined, T0)

describe('select', () => {
  it('ranks by priority, then by spread key; the first `slots` win', () => {
    const bids = [
      bid(DAVE_M, w, { priority: 1 }),
      bid(CAROL_M, w, { priority: 5 }),
      bid(BOB_M, w, { priority: 1 }),
    ]
    const s = select(w, info, bids, cluster())
    const [first, second] = [BOB_M, DAVE_M].sort((a, b) =>
      compareStrings(spreadKey(w.uri, a), spreadKey(w.uri, b)),
    )
    expect(s.winners).toEqual([CAROL_M, first])
    expect(s.ranked.map((r) => [r.bid.meshlet, r.rank, r.winner])).toEqual([
      [CAROL_M, 0, true],
      [first, 1, true],
      [second, 2, false],
    ])
  })

  it('spreads equal priorities across meshlets instead of favouring the lowest DIDs', () => {
    const wins = new Map<string, number>()
    for (let i = 0; i < 300; i++) {
      const one = workload({ replicas: 1, rkey: `w${i}` })
      const bids = [bid(BOB_M, one), bid(CAROL_M, one), bid(DAVE_M, one)]
      const [winner] = select(one, roundOf(one, [], undefined, T0), bids, cluster()).winners
      wins.set(winner!, (wins.get(winner!) ?? 0) + 1)
    }
    // Each of three meshlets wins about a third; the lowest DID no longer wins them all.
    for (const m of [BOB_M, CAROL_M, DAVE_M]) {
      expect(wins.get(m)).toBeGreaterThan(60)
      expect(wins.get(m)).toBeLessThan(140)
    }
  })

  it('compares spread keys by code units, not by locale', () => {
    const upper = 'did:plc:Zed'
    const lower = 'did:plc:abe'
    const view = cluster({ [upper]: 'did:plc:z', [lower]: 'did:plc:a' })
    const one = workload({ replicas: 1 })
    const s = select(one, roundOf(one, [], undefined, T0), [bid(lower, one), bid(upper, one)], view)
    const keyed = [upper, lower].sort((a, b) =>
      spreadKey(one.uri, a) < spreadKey(one.uri, b) ? -1 : 1,
    )
    expect(s.winners).toEqual([keyed[0]])
  })

  it("uses a meshlet's best bid only: highest priority, then smallest record CID", () => {
    const bids = [
      bid(BOB_M, w, { priority: 2, cid: 'bafyb' }),
      bid(BOB_M, w, { priority: 7, cid: 'bafyz' }),
      bid(BOB_M, w, { priority: 7, cid: 'bafya' }),
      bid(CAROL_M, w, { priority: 3 }),
    ]
    const s = select(w, info, bids, cluster())
    expect(s.winners).toEqual([BOB_M, CAROL_M])
    const bob = s.ranked.filter((r) => r.bid.meshlet === BOB_M)
    expect(bob.map((r) => [r.bid.cid, r.rank, r.valid, r.winner])).toEqual([
      ['bafya', 0, true, true],
      ['bafyb', undefined, true, false],
      ['bafyz', undefined, true, false],
    ])
  })

  it('lists invalid bids with their reason; they never win', () => {
    const view = cluster(undefined, [[ALICE, 'did:plc:bob']])
    const s = select(w, info, [bid(BOB_M, w, { priority: 100 }), bid(CAROL_M, w)], view)
    expect(s.winners).toEqual([CAROL_M])
    expect(s.ranked.at(-1)).toMatchObject({
      valid: false,
      reason: 'author-not-mutual',
      winner: false,
    })
  })

  it('has no winners without slots', () => {
    expect(select(w, { ...info, slots: 0 }, [bid(BOB_M, w)], cluster()).winners).toEqual([])
  })
})
