// Which replicas a presence vouches for: only those every peer still counts alive here, never
// one whose own status is an ending, never one already judged lost.
import { describe, expect, it } from 'vitest'
import { vouchFor } from '../../../core/presence/index.js'
import { DEFAULT_CONFIG, type PresenceView } from '../../../core/scheduling/index.js'
import { BOB_M, CAROL_M, SEC, T0, bid, cluster, status, workload } from '../scheduling/_util.js'

const w = workload()
const DECIDE0 = T0 + 7 * SEC
const LOST = DEFAULT_CONFIG.lostAfterMs

function input(
  statuses: ReturnType<typeof status>[],
  now: number,
  presence = new Map<string, PresenceView>(),
) {
  return {
    meshlet: BOB_M,
    running: [{ workloadUri: w.uri, cid: w.cid, round: 0 }],
    workloads: new Map([[w.uri, w]]),
    statusesFor: () => statuses,
    bidsFor: () => [bid(BOB_M, w)],
    cluster: cluster(),
    presence,
    now,
    config: DEFAULT_CONFIG,
  }
}

describe('vouchFor', () => {
  it('lists a running replica whose placement is alive', () => {
    const running = status(BOB_M, w, { updatedAt: DECIDE0 + SEC })
    expect(vouchFor(input([running], DECIDE0 + 2 * SEC))).toEqual([
      { workload: { uri: w.uri, cid: w.cid }, round: 0 },
    ])
  })

  it('does not list a replica peers already count lost, nor one whose status is an ending', () => {
    const running = status(BOB_M, w, { updatedAt: DECIDE0 + SEC })
    expect(vouchFor(input([running], DECIDE0 + SEC + LOST))).toEqual([])
    for (const state of ['exited', 'failed', 'stopped', 'yielded', 'draining']) {
      const ended = status(BOB_M, w, { state, updatedAt: DECIDE0 + SEC })
      expect(vouchFor(input([ended], DECIDE0 + 2 * SEC))).toEqual([])
    }
  })

  it('keeps listing it while its own last presence keeps it alive', () => {
    const running = status(BOB_M, w, { updatedAt: DECIDE0 + SEC })
    const now = DECIDE0 + SEC + LOST + 60 * SEC
    const presence = new Map([
      [
        BOB_M,
        {
          uri: `at://${BOB_M}/commune.scheduler.presence/self`,
          cid: 'bafyp',
          meshlet: BOB_M,
          record: {
            $type: 'commune.scheduler.presence',
            state: 'lending',
            replicas: [{ workload: { uri: w.uri, cid: w.cid }, round: 0 }],
            seq: 4,
            updatedAt: new Date(now - 5 * SEC).toISOString(),
          },
        } as unknown as PresenceView,
      ],
    ])
    expect(vouchFor(input([running], now, presence))).toHaveLength(1)
    // Once it was not rewritten for lostAfter, the replica stays lost.
    expect(vouchFor(input([running], now - 5 * SEC + LOST, presence))).toEqual([])
  })

  it('judges the round with the audit plan() uses: an inflated bid does not unseat our replica', () => {
    // Carol's meshlet declares a priority the ledger does not give it. plan() voids that bid and
    // keeps Bob's replica; a presence judged without the audit left it out, so after lostAfter
    // every peer counted a healthy replica lost (found by bench/agreement.ts).
    const running = status(BOB_M, w, { updatedAt: DECIDE0 + SEC })
    const inflated = bid(CAROL_M, w, { priority: 1_000_000 })
    const vouch = (audit?: () => number) =>
      vouchFor({
        ...input([running], DECIDE0 + 2 * SEC),
        bidsFor: () => [bid(BOB_M, w), inflated],
        ...(audit ? { audit } : {}),
      })
    expect(vouch()).toEqual([])
    expect(vouch(() => 0)).toEqual([{ workload: { uri: w.uri, cid: w.cid }, round: 0 }])
  })
})
