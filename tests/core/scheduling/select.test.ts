import { describe, expect, it } from 'vitest'
import { roundOf, select } from '../../../core/scheduling/index.js'
import { ALICE, BOB_M, CAROL_M, DAVE_M, T0, bid, cluster, workload } from './_util.js'

const w = workload({ replicas: 2 })
const info = roundOf(w, [], undefined, T0)

describe('select', () => {
  it('ranks by priority, then by meshlet DID; the first `slots` win', () => {
    const bids = [
      bid(DAVE_M, w, { priority: 1 }),
      bid(CAROL_M, w, { priority: 5 }),
      bid(BOB_M, w, { priority: 1 }),
    ]
    const s = select(w, info, bids, cluster())
    expect(s.winners).toEqual([CAROL_M, BOB_M])
    expect(s.ranked.map((r) => [r.bid.meshlet, r.rank, r.winner])).toEqual([
      [CAROL_M, 0, true],
      [BOB_M, 1, true],
      [DAVE_M, 2, false],
    ])
  })

  it('compares DIDs by code units, not by locale', () => {
    const upper = 'did:plc:Zed'
    const lower = 'did:plc:abe'
    const view = cluster({ [upper]: 'did:plc:z', [lower]: 'did:plc:a' })
    const one = workload({ replicas: 1 })
    const s = select(one, roundOf(one, [], undefined, T0), [bid(lower, one), bid(upper, one)], view)
    expect(s.winners).toEqual([upper])
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
