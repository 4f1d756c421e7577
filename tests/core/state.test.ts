// What the record store makes of a workload's deletion: a tombstone stops it and keeps its
// usage countable; its removal, or a client that deletes outright, forgets it.
import { describe, expect, it } from 'vitest'
import { NSID } from '../../core/lexicon/index.js'
import { RecordStore } from '../../core/state.js'
import { tombstoneOf } from '../../core/tombstone/index.js'
import { bidRkey } from '../../core/scheduling/index.js'
import { ALICE, ALICE_M, BOB_M, T0, bid, workload } from './scheduling/_util.js'

const w = workload({ owner: ALICE })
const rkey = w.uri.split('/').pop()!

function put(store: RecordStore, cid: string, record: unknown) {
  return store.apply({
    event: 'put',
    source: 'firehose',
    did: ALICE,
    collection: NSID.workload,
    rkey,
    uri: w.uri,
    cid,
    record,
  })
}

function remove(store: RecordStore) {
  return store.apply({
    event: 'delete',
    source: 'firehose',
    did: ALICE,
    collection: NSID.workload,
    rkey,
    uri: w.uri,
  })
}

function withBid(): RecordStore {
  const store = new RecordStore()
  put(store, w.cid, w.record)
  const b = bid(BOB_M, w)
  const brkey = b.uri.split('/').pop()!
  store.apply({
    event: 'put',
    source: 'firehose',
    did: BOB_M,
    collection: NSID.bid,
    rkey: brkey,
    uri: b.uri,
    cid: b.cid,
    record: b.record,
  })
  return store
}

describe('the record store', () => {
  it('holds a tombstone as the version it ends: stopped everywhere, its bids kept', () => {
    const store = withBid()
    const tomb = tombstoneOf(w.record, w.cid, new Date(T0 + 60_000))
    expect(put(store, 'bafytombstone', tomb).change).toBe('workload')
    expect(store.workloads.has(w.uri)).toBe(false)
    expect(store.deletedWorkloads.has(w.uri)).toBe(true)
    expect(store.tombstones.get(w.uri)).toMatchObject({ cid: w.cid, record: tomb })
    expect(store.bidsFor(w.uri)).toHaveLength(1)
    // Removed for good after the retention period: nothing of it counts any more.
    remove(store)
    expect(store.tombstones.has(w.uri)).toBe(false)
    expect(store.bidsFor(w.uri)).toEqual([])
  })

  it('learns of a tombstone it never saw alive (a backfill after an absence)', () => {
    const store = new RecordStore()
    put(store, 'bafytombstone', tombstoneOf(w.record, w.cid, new Date(T0)))
    expect(store.deletedWorkloads.has(w.uri)).toBe(true)
    expect(store.tombstones.get(w.uri)?.cid).toBe(w.cid)
  })

  it('stops a workload a client deletes outright, and forgets its bids', () => {
    const store = withBid()
    remove(store)
    expect(store.workloads.has(w.uri)).toBe(false)
    expect(store.tombstones.has(w.uri)).toBe(false)
    expect(store.deletedWorkloads.has(w.uri)).toBe(true)
    expect(store.bidsFor(w.uri)).toEqual([])
  })

  it('takes a record without deletedAt after a tombstone as a live version again', () => {
    const store = withBid()
    put(store, 'bafytombstone', tombstoneOf(w.record, w.cid, new Date(T0)))
    put(store, 'bafyworkloadv2', { ...w.record, updatedAt: new Date(T0 + 1).toISOString() })
    expect(store.workloads.get(w.uri)?.cid).toBe('bafyworkloadv2')
    expect(store.tombstones.has(w.uri)).toBe(false)
    expect(store.deletedWorkloads.has(w.uri)).toBe(false)
  })

  it('keeps a challenge keyed by its subject, and refuses one keyed otherwise or of its author', () => {
    const store = new RecordStore()
    const challenge = (author: string, rkey: string, subject: string) =>
      store.apply({
        event: 'put',
        source: 'firehose',
        did: author,
        collection: NSID.challenge,
        rkey,
        uri: `at://${author}/${NSID.challenge}/${rkey}`,
        cid: 'bafychallenge',
        record: { $type: NSID.challenge, subject, createdAt: new Date(T0).toISOString() },
      })
    expect(challenge(ALICE_M, BOB_M, BOB_M)).toEqual({ change: 'status' })
    expect(challenge(ALICE_M, 'did:plc:other', BOB_M)).toEqual({
      change: 'none',
      refused: 'challenge key differs from its subject',
    })
    expect(challenge(BOB_M, BOB_M, BOB_M)).toEqual({
      change: 'none',
      refused: 'a meshlet challenging itself',
    })
    expect([...store.challenges.values()].map((c) => [c.meshlet, c.record.subject])).toEqual([
      [ALICE_M, BOB_M],
    ])
    store.apply({
      event: 'delete',
      source: 'firehose',
      did: ALICE_M,
      collection: NSID.challenge,
      rkey: BOB_M,
      uri: `at://${ALICE_M}/${NSID.challenge}/${BOB_M}`,
    })
    expect(store.challenges.size).toBe(0)
  })

  it('keeps where each meshlet says it serves, and forgets it when the record drops it', () => {
    const store = new RecordStore()
    const owner = (endpoint?: string, alternateEndpoints?: string[]) =>
      store.apply({
        event: 'put',
        source: 'firehose',
        did: BOB_M,
        collection: NSID.meshletOwner,
        rkey: 'self',
        uri: `at://${BOB_M}/${NSID.meshletOwner}/self`,
        cid: 'bafyowner',
        record: {
          $type: NSID.meshletOwner,
          owner: ALICE,
          createdAt: new Date(T0).toISOString(),
          ...(endpoint ? { endpoint } : {}),
          ...(alternateEndpoints ? { alternateEndpoints } : {}),
        },
      })
    owner('http://127.0.0.1:4000')
    expect(store.endpoints.get(BOB_M)).toBe('http://127.0.0.1:4000')
    expect(store.alternateEndpoints.has(BOB_M)).toBe(false)
    owner('http://203.0.113.5:4000', ['http://192.168.1.20:4000'])
    expect(store.alternateEndpoints.get(BOB_M)).toEqual(['http://192.168.1.20:4000'])
    // Alternates without an endpoint say nothing: callers try the endpoint first.
    owner(undefined, ['http://192.168.1.20:4000'])
    expect(store.alternateEndpoints.has(BOB_M)).toBe(false)
    owner()
    expect(store.endpoints.has(BOB_M)).toBe(false)
  })

  it('holds settlements by workload, replaces a rewritten one, and forgets them with the workload', () => {
    const store = withBid()
    const srkey = bidRkey(w.uri, 0, w.cid)
    const uri = `at://${ALICE_M}/${NSID.settlement}/${srkey}`
    const settle = (cid: string, winners: string[]) =>
      store.apply({
        event: 'put',
        source: 'firehose',
        did: ALICE_M,
        collection: NSID.settlement,
        rkey: srkey,
        uri,
        cid,
        record: {
          $type: NSID.settlement,
          workload: { uri: w.uri, cid: w.cid },
          round: 0,
          winners,
          createdAt: new Date(T0).toISOString(),
        },
      })
    expect(settle('bafysettle1', [BOB_M]).change).toBe('settlement')
    settle('bafysettle2', [BOB_M, ALICE_M])
    expect(store.settlementsFor(w.uri).map((s) => [s.meshlet, s.cid])).toEqual([
      [ALICE_M, 'bafysettle2'],
    ])
    expect(store.allSettlements()).toHaveLength(1)
    remove(store)
    expect(store.settlementsFor(w.uri)).toEqual([])
    expect(store.allSettlements()).toEqual([])
  })
})
