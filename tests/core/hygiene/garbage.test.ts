// What a meshlet may delete of its own records: only what no round history needs any more.
import { describe, expect, it } from 'vitest'
import { garbage, type GarbageInput } from '../../../core/hygiene/index.js'
import { NSID, type SettlementRecord } from '../../../core/lexicon/index.js'
import { DEFAULT_CONFIG, bidRkey, type WorkloadView } from '../../../core/scheduling/index.js'
import type { SettlementView } from '../../../core/settlement/index.js'
import { BOB_M, CAROL_M, SEC, T0, bid, cluster, status, workload } from '../scheduling/_util.js'

const RETAIN = 60 * SEC
const w = workload({ replicas: 1 })
const late = T0 + 3600 * SEC

function input(over: Partial<GarbageInput>): GarbageInput {
  const bids = over.bids ?? []
  const statuses = over.statuses ?? []
  return {
    meshlet: BOB_M,
    bids,
    statuses,
    workloads: new Map<string, WorkloadView>([[w.uri, w]]),
    isGone: () => true,
    bidsFor: () => bids,
    statusesFor: () => statuses,
    cluster: cluster(),
    now: late,
    config: DEFAULT_CONFIG,
    retentionMs: RETAIN,
    ...over,
  }
}

describe('garbage', () => {
  it('keeps the winning bid and the status of a placement of the current version', () => {
    const won = bid(BOB_M, w)
    const done = status(BOB_M, w, { state: 'exited', exitCode: 0, updatedAt: T0 + 10 * SEC })
    expect(garbage(input({ bids: [won], statuses: [done] }))).toEqual([])
  })

  it('deletes a losing bid of a decided round after a quarter of the retention period', () => {
    const mine = bid(BOB_M, w, { priority: 1 })
    const better = bid(CAROL_M, w, { priority: 9 })
    const i = input({ bids: [mine, better], bidsFor: () => [mine, better] })
    expect(garbage(i)).toEqual([
      {
        collection: mine.uri.split('/')[3],
        rkey: mine.uri.split('/').pop(),
        uri: mine.uri,
        why: 'bid-lost',
      },
    ])
    // Before its round settles (half the retention; core/fairshare), not before a quarter.
    const created = T0 + SEC
    expect(garbage({ ...i, now: created + RETAIN / 4 })).toHaveLength(1)
    expect(garbage({ ...i, now: created + RETAIN / 4 - 1 })).toEqual([])
  })

  it('judges who lost by the audit: a void bid is deleted, the audited winner keeps its bid', () => {
    // The ledger gives every owner priority 1: Carol's 9 is void, Bob's 1 wins.
    const audit = () => 1
    const mine = bid(BOB_M, w, { priority: 1 })
    const inflated = bid(CAROL_M, w, { priority: 9 })
    const both = { bids: [mine, inflated], bidsFor: () => [mine, inflated], audit }
    expect(garbage(input(both))).toEqual([])
    expect(garbage(input({ ...both, meshlet: CAROL_M })).map((g) => [g.uri, g.why])).toEqual([
      [inflated.uri, 'bid-lost'],
    ])
    // Taken on its word, Carol's bid would win and Bob's, the real winner, would go.
    const { audit: _, ...unaudited } = both
    expect(garbage(input(unaudited)).map((g) => g.uri)).toEqual([mine.uri])
  })

  it("keeps a deleted workload's records while its tombstone is there, then deletes them", () => {
    const b = bid(BOB_M, w)
    const s = status(BOB_M, w, { state: 'stopped', updatedAt: T0 + 10 * SEC })
    // The store holds a tombstone as the version it ends (core/tombstone endedVersion).
    const record = { ...w.record, deletedAt: new Date(T0 + 20 * SEC).toISOString() }
    const tomb = { ...w, record: { ...record, deletedVersion: w.cid } } as WorkloadView
    const kept = input({ bids: [b], statuses: [s], workloads: new Map([[w.uri, tomb]]) })
    expect(garbage(kept)).toEqual([])
    const removed = input({ bids: [b], statuses: [s], workloads: new Map() })
    expect(garbage(removed).map((g) => g.why)).toEqual(['workload-gone', 'workload-gone'])
  })

  it('deletes everything of a gone workload and of a replaced version, once old enough', () => {
    const b = bid(BOB_M, w)
    const s = status(BOB_M, w, { state: 'stopped', updatedAt: T0 + 10 * SEC })
    const gone = input({ bids: [b], statuses: [s], workloads: new Map() })
    expect(garbage(gone).map((g) => g.why)).toEqual(['workload-gone', 'workload-gone'])
    expect(garbage({ ...gone, now: T0 + 20 * SEC })).toEqual([])
    // Unknown rather than gone (its owner's repo not read yet): kept.
    expect(garbage({ ...gone, isGone: () => false })).toEqual([])
    const v2 = { ...w, cid: 'bafyworkloadv2' }
    const replaced = input({ bids: [b], statuses: [s], workloads: new Map([[w.uri, v2]]) })
    expect(garbage(replaced).map((g) => g.why)).toEqual(['version-replaced', 'version-replaced'])
  })

  it('never names another meshlet’s records', () => {
    const theirs = bid(CAROL_M, w)
    expect(garbage(input({ bids: [theirs], workloads: new Map() }))).toEqual([])
  })

  it('deletes its own settlements with their workload version, once old enough, and keeps the rest', () => {
    const mine: SettlementView = {
      uri: `at://${BOB_M}/${NSID.settlement}/${bidRkey(w.uri, 0, w.cid)}`,
      cid: 'bafysettle',
      meshlet: BOB_M,
      record: {
        $type: NSID.settlement,
        workload: { uri: w.uri, cid: w.cid },
        round: 0,
        winners: [CAROL_M],
        createdAt: new Date(T0 + 40 * SEC).toISOString(),
      } as SettlementRecord,
    }
    expect(garbage(input({ settlements: [mine] }))).toEqual([])
    const gone = input({ settlements: [mine], workloads: new Map() })
    expect(garbage(gone)).toEqual([
      {
        collection: NSID.settlement,
        rkey: bidRkey(w.uri, 0, w.cid),
        uri: mine.uri,
        why: 'workload-gone',
      },
    ])
    expect(garbage({ ...gone, now: T0 + 40 * SEC + RETAIN - 1 })).toEqual([])
    const v2 = { ...w, cid: 'bafyworkloadv2' }
    const replaced = input({ settlements: [mine], workloads: new Map([[w.uri, v2]]) })
    expect(garbage(replaced).map((g) => g.why)).toEqual(['version-replaced'])
    const theirs = { ...mine, meshlet: CAROL_M }
    expect(garbage(input({ settlements: [theirs], workloads: new Map() }))).toEqual([])
  })
})
