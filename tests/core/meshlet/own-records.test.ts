// Our own writes are seen at once: what the PDS took is in the record store before the firehose
// echoes it, the event source is told the echo is ours, and a write the PDS refused changes
// nothing. The writer here is a fake that answers as a PDS would (the budgeted writer over a real
// PDS is tested in tests/core/repo); the store is the real one.
import { describe, expect, it } from 'vitest'
import { NSID } from '../../../core/lexicon/index.js'
import { OwnRecords } from '../../../core/meshlet/own-records.js'
import type { WriteClass } from '../../../core/repo/budget.js'
import { RecordStore } from '../../../core/state.js'

const did = 'did:plc:alicemeshlet'

function setUp(refuse = false) {
  const store = new RecordStore()
  const writes: { op: string; collection: string; rkey: string; cls?: WriteClass }[] = []
  const wrote: [string, string][] = []
  const own = new OwnRecords({
    did,
    writer: {
      put: async (collection, rkey, _record, cls) => {
        writes.push({ op: 'put', collection, rkey, ...(cls ? { cls } : {}) })
        if (refuse) throw new Error('PDS refused the write')
        return { uri: `at://${did}/${collection}/${rkey}`, cid: `bafy${writes.length}` }
      },
      delete: async (collection, rkey, cls) => {
        writes.push({ op: 'delete', collection, rkey, ...(cls ? { cls } : {}) })
        if (refuse) throw new Error('PDS refused the write')
      },
    },
    apply: (evt) => void store.apply(evt),
    wrote: (uri, cid) => void wrote.push([uri, cid]),
  })
  return { store, writes, wrote, own }
}

const bid = {
  workload: { uri: 'at://did:plc:bob/commune.scheduler.workload/w1', cid: 'bafyw1' },
  round: 1,
  priority: 0,
  offer: { cpuMillis: 1000, memoryMiB: 512, storageMiB: 256 },
  createdAt: '2026-12-02T00:00:00.000Z',
}

describe('OwnRecords', () => {
  it('puts a record and sees it at once, typed, as our own', async () => {
    const { store, writes, wrote, own } = setUp()
    await own.put(NSID.bid, 'b1', bid)
    expect(writes).toEqual([{ op: 'put', collection: NSID.bid, rkey: 'b1' }])
    const seen = store.allBids()
    expect(seen).toHaveLength(1)
    expect(seen[0]).toMatchObject({
      uri: `at://${did}/${NSID.bid}/b1`,
      cid: 'bafy1',
      meshlet: did,
      record: { ...bid },
    })
    expect(wrote).toEqual([[`at://${did}/${NSID.bid}/b1`, 'bafy1']])
  })

  it('passes the write class it is given, and none when not (the writer judges)', async () => {
    const { writes, own } = setUp()
    await own.put(NSID.challenge, 'c1', { subject: 'did:plc:x', createdAt: bid.createdAt }, 'bid')
    await own.put(NSID.presence, 'self', { state: 'lending', replicas: [] })
    await own.delete(NSID.challenge, 'c1', 'hygiene')
    expect(writes.map((w) => w.cls)).toEqual(['bid', undefined, 'hygiene'])
  })

  it('deletes a record and stops seeing it', async () => {
    const { store, own } = setUp()
    await own.put(NSID.presence, 'self', { state: 'lending', replicas: [] })
    expect(store.presence.has(did)).toBe(true)
    await own.delete(NSID.presence, 'self', 'hygiene')
    expect(store.presence.has(did)).toBe(false)
  })

  it('deletes by the URI it was listed under when given one', async () => {
    const { store, own } = setUp()
    await own.put(NSID.bid, 'b1', bid)
    await own.delete(NSID.bid, 'b1', 'hygiene', `at://${did}/${NSID.bid}/b1`)
    expect(store.allBids()).toEqual([])
  })

  it('changes nothing when the PDS refuses a put', async () => {
    const { store, wrote, own } = setUp(true)
    await expect(own.put(NSID.bid, 'b1', bid)).rejects.toThrow('PDS refused')
    expect(store.allBids()).toEqual([])
    expect(wrote).toEqual([])
  })

  it('keeps seeing a record whose delete the PDS refused', async () => {
    const { store, own } = setUp()
    await own.put(NSID.presence, 'self', { state: 'lending', replicas: [] })
    const refusing = new OwnRecords({
      did,
      writer: {
        put: () => Promise.reject(new Error('unused')),
        delete: () => Promise.reject(new Error('PDS refused the write')),
      },
      apply: (evt) => void store.apply(evt),
      wrote: () => {},
    })
    await expect(refusing.delete(NSID.presence, 'self')).rejects.toThrow('PDS refused')
    expect(store.presence.has(did)).toBe(true)
  })
})
