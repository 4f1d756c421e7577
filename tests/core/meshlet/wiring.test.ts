// How a meshlet's parts are joined (core/meshlet/wiring.ts), without the network: nothing runs
// or is written while they are made; a bid the plan applier makes is written under the bid's key
// and seen at once; a decline is a `declined` status; and our own ending status keeps the applier
// from starting that replica again. The PDS side is a fake RepoWriter that records what it was
// asked to write; the same joins over a real PDS and Docker are the e2e suites' (workloads,
// presence, storm, late-bid, chaos).
import { describe, expect, it } from 'vitest'
import { IdentityResolver } from '../../../core/identity/resolver.js'
import { NSID } from '../../../core/lexicon/index.js'
import { wireMeshlet } from '../../../core/meshlet/wiring.js'
import type { RepoWriter } from '../../../core/repo/writer.js'
import { bidRkey, type Action } from '../../../core/scheduling/index.js'
import { RecordStore } from '../../../core/state.js'
import { workload } from '../scheduling/_util.js'

const DID = 'did:plc:alicemeshlet'
const OWNER = 'did:plc:alice'
const offer = { cpuMillis: 2000, memoryMiB: 2048, storageMiB: 1024 }

function setUp() {
  const puts: { collection: string; rkey: string; record: Record<string, unknown> }[] = []
  const pds: RepoWriter = {
    did: DID,
    put: async (collection, rkey, record) => {
      puts.push({ collection, rkey, record })
      return { uri: `at://${DID}/${collection}/${rkey}`, cid: `bafy${puts.length}` }
    },
    create: () => Promise.reject(new Error('not used')),
    delete: async () => {},
  }
  const called: string[] = []
  const actions: Action[] = []
  const store = new RecordStore()
  const parts = wireMeshlet(
    {
      did: DID,
      owner: OWNER,
      members: [],
      identity: new IdentityResolver({ allowPrivateNetwork: true }),
      writer: pds,
      firehose: 'ws://127.0.0.1:9',
      offer,
      now: () => Date.parse('2026-12-02T12:00:00Z'),
    },
    store,
    {
      planAgain: () => void called.push('planAgain'),
      fail: () => void called.push('fail'),
      running: () => true,
      onRecord: () => void called.push('onRecord'),
      followedLater: () => void called.push('followedLater'),
      audit: () => {
        throw new Error('not asked for here')
      },
      vouchable: async () => {
        called.push('vouchable')
        return []
      },
      declareLiveness: () => void called.push('declareLiveness'),
      onBudget: () => {},
      onAction: (action) => void actions.push(action),
      onReplica: () => void called.push('onReplica'),
    },
  )
  return { parts, store, puts, called, actions }
}

describe('wireMeshlet', () => {
  it('makes the parts without running or writing anything', () => {
    const { parts, puts, called } = setUp()
    expect(puts).toEqual([])
    expect(called).toEqual([])
    expect(parts.config.heartbeatMs).toBeGreaterThan(0)
    expect(parts.settings.view()).toEqual({ offer, members: [], allowEgress: false })
  })

  it("writes the applier's bid under the bid's key, seen in the store at once", async () => {
    const { parts, store, puts } = setUp()
    const w = workload()
    const rkey = bidRkey(w.uri, 1, w.cid)
    await parts.applier.apply(
      [{ type: 'bid', workload: w, round: 1, priority: -250, offer, rkey }],
      [],
    )
    expect(puts).toEqual([
      {
        collection: NSID.bid,
        rkey,
        record: {
          workload: { uri: w.uri, cid: w.cid },
          round: 1,
          priority: -250,
          offer,
          createdAt: '2026-12-02T12:00:00.000Z',
        },
      },
    ])
    expect(store.bidsFor(w.uri).map((b) => [b.meshlet, b.record.round])).toEqual([[DID, 1]])
  })

  it('declines with a `declined` status, and never starts a replica whose round it ended', async () => {
    const { parts, puts, actions } = setUp()
    const w = workload()
    const rkey = bidRkey(w.uri, 1, w.cid)
    await parts.applier.apply([{ type: 'decline', workload: w, round: 1, rkey }], [])
    expect(puts).toHaveLength(1)
    expect(puts[0]).toMatchObject({
      collection: NSID.workloadStatus,
      record: { workload: { uri: w.uri, cid: w.cid }, round: 1, state: 'declined' },
    })
    actions.length = 0
    await parts.applier.apply(
      [
        { type: 'start', workload: w, round: 1, rkey },
        { type: 'start', workload: w, round: 2, rkey: bidRkey(w.uri, 2, w.cid) },
      ],
      [],
    )
    // Round 1 ended here (our own status says so); round 2 is another matter.
    expect(actions.map((a) => a.type === 'start' && a.round)).toEqual([2])
  })
})
