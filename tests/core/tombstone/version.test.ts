// An update leaves a tombstone of the replaced version (core/tombstone): what it is, what makes
// one stand for a workload's history, and how the record store and the ledger hold it. Pure.
import { describe, expect, it } from 'vitest'
import { NSID, type WorkloadRecord } from '../../../core/lexicon/index.js'
import { RecordStore } from '../../../core/state.js'
import {
  countedVersion,
  distinctVersions,
  versionKey,
  versionTombstoneOf,
  versionTombstoneProblem,
} from '../../../core/tombstone/index.js'
import { ALICE, BOB, SEC, T0, workload } from '../scheduling/_util.js'

const w = workload({ owner: ALICE, createdAt: T0 })
const rkey = w.uri.split('/').pop()!
const historyKey = versionKey(rkey, w.cid)
const historyUri = `at://${ALICE}/${NSID.workload}/${historyKey}`
const history = versionTombstoneOf(w.record, w.cid, w.uri, new Date(T0 + 60 * SEC))

function apply(store: RecordStore, did: string, key: string, cid: string, record: unknown) {
  return store.apply({
    event: 'put',
    source: 'firehose',
    did,
    collection: NSID.workload,
    rkey: key,
    uri: `at://${did}/${NSID.workload}/${key}`,
    cid,
    record,
  })
}

describe('version tombstones', () => {
  it('are the replaced version as it was, dated, naming its CID and its workload', () => {
    expect(history).toEqual({
      ...w.record,
      deletedAt: new Date(T0 + 60 * SEC).toISOString(),
      deletedVersion: w.cid,
      versionOf: w.uri,
    })
    expect(versionTombstoneProblem(history, historyUri)).toBeUndefined()
    // Counted as the version it ends, of the workload it names.
    const counted = countedVersion({
      uri: historyUri,
      cid: 'bafyhistory',
      owner: ALICE,
      record: history,
    })
    expect(counted).toMatchObject({ uri: w.uri, cid: w.cid, owner: ALICE })
  })

  it('stand for nothing when forged: another repo, no version, not a tombstone, another key', () => {
    const bobUri = `at://${BOB}/${NSID.workload}/${historyKey}`
    expect(versionTombstoneProblem(history, bobUri)).toMatch(/another repo/)
    const noVersion = { ...w.record, versionOf: w.uri } as WorkloadRecord
    expect(versionTombstoneProblem(noVersion, historyUri)).toMatch(/without deletedAt/)
    const elsewhere = `at://${ALICE}/${NSID.workload}/3lsomewhereelse`
    expect(versionTombstoneProblem(history, elsewhere)).toMatch(/version key/)
    const notAWorkload = {
      ...history,
      versionOf: `at://${ALICE}/${NSID.bid}/${rkey}`,
    } as WorkloadRecord
    expect(versionTombstoneProblem(notAWorkload, historyUri)).toMatch(/names no workload/)
    const garbled = { ...history, versionOf: 'not a uri' } as unknown as WorkloadRecord
    expect(versionTombstoneProblem(garbled, historyUri)).toBeDefined()
  })

  it('are held apart by the record store: never scheduled, counted once by the ledger', () => {
    const store = new RecordStore()
    expect(apply(store, ALICE, rkey, w.cid, w.record).change).toBe('workload')
    // The tombstone arrives before the new version: the version is the record's own, counted once.
    expect(apply(store, ALICE, historyKey, 'bafyhistory', history).change).toBe('workload')
    expect(store.workloads.has(historyUri)).toBe(false)
    expect(store.tombstones.has(historyUri)).toBe(false)
    expect(store.deletedWorkloads.has(historyUri)).toBe(false)
    expect(store.ledgerWorkloads().map((v) => [v.uri, v.cid])).toEqual([[w.uri, w.cid]])
    // The new version: both counted, each once.
    const v2 = { ...w.record, updatedAt: new Date(T0 + 60 * SEC).toISOString() }
    apply(store, ALICE, rkey, 'bafyv2', v2)
    expect(store.ledgerWorkloads().map((v) => [v.uri, v.cid])).toEqual([
      [w.uri, 'bafyv2'],
      [w.uri, w.cid],
    ])
    // Removed after the retention period: forgotten.
    store.apply({
      event: 'delete',
      source: 'firehose',
      did: ALICE,
      collection: NSID.workload,
      rkey: historyKey,
      uri: historyUri,
    })
    expect(store.ledgerWorkloads().map((v) => v.cid)).toEqual(['bafyv2'])
  })

  it('are refused, with the reason, when another member writes one for a workload not theirs', () => {
    const store = new RecordStore()
    apply(store, ALICE, rkey, w.cid, w.record)
    const forged = apply(store, BOB, historyKey, 'bafyforged', history)
    expect(forged).toEqual({
      change: 'none',
      refused: 'versionOf names a workload of another repo',
    })
    expect(store.ledgerWorkloads()).toHaveLength(1)
  })

  it('distinctVersions keeps the first of each (workload, version)', () => {
    const a = { uri: w.uri, cid: 'x', owner: ALICE, record: w.record }
    const b = { ...a, record: history }
    expect(distinctVersions([a, b, { ...a, cid: 'y' }])).toEqual([a, { ...a, cid: 'y' }])
  })
})
