// The Jetstream source against a Jetstream-protocol server that re-emits a real local PDS's
// firehose: server-side filters, members followed live with options_update (no reconnect),
// records confirmed with the author's PDS (forged ones dropped), resume from the cursor after
// an outage, and an outdated cursor answered by listing the repos again.
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { COLLECTION_PREFIX, NSID } from '../../../core/lexicon/index.js'
import { RepoReader } from '../../../core/repo/reader.js'
import { RecordSync, type JetstreamSource, type RecordEvent } from '../../../core/sync/index.js'
import { startTestJetstream, type TestJetstream } from '../../support/jetstream-server.js'
import {
  createAccount,
  eventually,
  localIdentity,
  startNetwork,
  type Account,
  type Network,
} from '../../_util.js'

let net: Network
let js: TestJetstream
let dir: string
let alice: Account
let bob: Account
let stranger: Account

beforeAll(async () => {
  net = await startNetwork()
  js = await startTestJetstream({ service: net.pds.url, plcUrl: net.plc.url })
  dir = await mkdtemp(join(tmpdir(), 'meshlet-jetstream-'))
  alice = await createAccount(net, 'alice')
  bob = await createAccount(net, 'bob')
  stranger = await createAccount(net, 'stranger')
})

afterAll(async () => {
  await js?.close()
  await net?.close()
  await rm(dir, { recursive: true, force: true })
})

function follower(cursorFile?: string, presenceWindowMs?: number, pingMs?: number) {
  const events: RecordEvent[] = []
  const errors: Error[] = []
  const identity = localIdentity(net)
  const sync = new RecordSync({
    identity,
    reader: new RepoReader(identity),
    source: {
      kind: 'jetstream',
      urls: [js.url],
      backoffMs: 50,
      ...(pingMs !== undefined ? { pingMs } : {}),
    },
    cursorFile,
    ...(presenceWindowMs !== undefined ? { presenceWindowMs } : {}),
    wants: () => true,
    onEvent: (e) => events.push(e),
    onError: (e) => errors.push(e),
  })
  return { sync, events, errors }
}

const membership = (members: string[]) => ({ members, createdAt: new Date().toISOString() })

const livePuts = (events: RecordEvent[]) =>
  events.filter(
    (e): e is Extract<RecordEvent, { event: 'put' }> =>
      e.event === 'put' && e.source === 'firehose',
  )

const membersOf = (e: { record: unknown }) => (e.record as { members: string[] }).members

describe('the Jetstream source', () => {
  it('asks only for our collections and the followed DIDs, and follows a new member without reconnecting', async () => {
    const { sync, events } = follower()
    await sync.start()
    await sync.follow(alice.did)
    await alice.session.put(NSID.membership, 'self', membership(['did:plc:one']))
    await eventually('alice’s record', () => livePuts(events).some((e) => e.did === alice.did))
    const before = js.connections
    expect(js.clientOptions()).toEqual([
      expect.objectContaining({
        wantedCollections: [`${COLLECTION_PREFIX}*`],
        wantedDids: [alice.did],
      }),
    ])

    await stranger.session.put(NSID.membership, 'self', membership([alice.did]))
    await sync.follow(bob.did)
    await bob.session.put(NSID.membership, 'self', membership(['did:plc:two']))
    await eventually('bob’s record', () => livePuts(events).some((e) => e.did === bob.did))
    expect(js.connections).toBe(before)
    expect(js.updates).toBeGreaterThanOrEqual(1)
    expect(js.clientOptions()[0]?.wantedDids).toEqual([alice.did, bob.did].sort())
    // The stranger's record never reached us: filtered on the server.
    expect(events.some((e) => 'did' in e && e.did === stranger.did)).toBe(false)
    await sync.stop()
  })

  it('drops forged events (a record the PDS does not have, a changed field, a false delete) and never delivers them', async () => {
    const { sync, events } = follower()
    await sync.start()
    await sync.follow(alice.did)
    const real = await alice.session.put(NSID.membership, 'self', membership(['did:plc:real']))
    await eventually('the real record', () =>
      livePuts(events).some((e) => membersOf(e).includes('did:plc:real')),
    )
    const rev = 'zzzzzzzzzzzzz'
    // A workload alice never wrote, with a CID of a real record.
    js.inject({
      did: alice.did,
      kind: 'commit',
      commit: {
        rev,
        operation: 'create',
        collection: NSID.workload,
        rkey: '3kforgedforge',
        cid: real.cid,
        record: {
          $type: NSID.workload,
          image: 'evil',
          resources: { cpuMillis: 100, memoryMiB: 16 },
          replicas: 1,
          createdAt: new Date().toISOString(),
        },
      },
    })
    // The real record's CID, with a field changed.
    js.inject({
      did: alice.did,
      kind: 'commit',
      commit: {
        rev,
        operation: 'update',
        collection: NSID.membership,
        rkey: 'self',
        cid: real.cid,
        record: { $type: NSID.membership, ...membership(['did:plc:mallory']) },
      },
    })
    // A delete of a record that is still there.
    js.inject({
      did: alice.did,
      kind: 'commit',
      commit: { rev, operation: 'delete', collection: NSID.membership, rkey: 'self' },
    })
    await eventually('three drops', () => events.filter((e) => e.event === 'dropped').length === 3)
    const reasons = events.flatMap((e) => (e.event === 'dropped' ? [e.reason] : []))
    expect(reasons).toEqual([
      expect.stringMatching(/does not have this version/),
      expect.stringMatching(/differs from the PDS/),
      expect.stringMatching(/still has the record/),
    ])
    expect(events.some((e) => e.event === 'delete')).toBe(false)
    expect(livePuts(events).some((e) => membersOf(e).includes('did:plc:mallory'))).toBe(false)
    expect(livePuts(events).some((e) => e.collection === NSID.workload)).toBe(false)

    // A real delete is confirmed by the proof of absence.
    const wl = await alice.session.create(NSID.workload, {
      image: 'busybox',
      resources: { cpuMillis: 100, memoryMiB: 16 },
      replicas: 1,
      createdAt: new Date().toISOString(),
    })
    await eventually('the workload', () => livePuts(events).some((e) => e.uri === wl.uri))
    await alice.session.agent.com.atproto.repo.deleteRecord({
      repo: alice.did,
      collection: NSID.workload,
      rkey: wl.uri.split('/').pop()!,
    })
    await eventually('the delete', () =>
      events.some((e) => e.event === 'delete' && e.uri === wl.uri),
    )
    await sync.stop()
  })

  it('resumes from its cursor after an outage, and starts over with a listing when the cursor is too old', async () => {
    const cursorFile = join(dir, 'cursors.json')
    const { sync, events } = follower(cursorFile)
    await sync.start()
    await sync.follow(alice.did)
    await alice.session.put(NSID.membership, 'self', membership(['did:plc:before']))
    await eventually('before the outage', () =>
      livePuts(events).some((e) => membersOf(e).includes('did:plc:before')),
    )
    js.down()
    const refusedAt = js.refused
    await alice.session.put(NSID.membership, 'self', membership(['did:plc:during']))
    // The source keeps trying (with back-off) while the server is away.
    await eventually('retries refused', () => js.refused >= refusedAt + 2)
    js.up()
    await eventually('replayed from the cursor', () =>
      livePuts(events).some((e) => membersOf(e).includes('did:plc:during')),
    )
    await sync.stop()

    // A cursor from two days ago: older than Jetstream keeps.
    await writeFile(
      cursorFile,
      JSON.stringify({ cursors: { jetstream: (Date.now() - 2 * 86_400_000) * 1000 } }),
    )
    const again = follower(cursorFile)
    await again.sync.start()
    await again.sync.follow(alice.did)
    expect(again.events).toContainEqual(
      expect.objectContaining({ event: 'outdated', source: 'jetstream' }),
    )
    expect(again.events.some((e) => e.event === 'backfilled' && e.did === alice.did)).toBe(true)
    await again.sync.stop()
  })

  it('misses nothing from an outage it met before any event gave it a cursor', async () => {
    // A quiet commune sends a new meshlet nothing: it has no cursor when the stream drops.
    const { sync, events } = follower()
    await sync.start()
    await sync.follow(bob.did)
    js.down()
    const refusedAt = js.refused
    await bob.session.put(NSID.membership, 'self', membership(['did:plc:while-cursorless']))
    await eventually('retries refused', () => js.refused >= refusedAt + 2)
    js.up()
    await eventually('replayed from when the stream was last alive', () =>
      livePuts(events).some((e) => membersOf(e).includes('did:plc:while-cursorless')),
    )
    await sync.stop()
  })

  it('replaces a connection that went silent without closing', async () => {
    const { sync, events } = follower(undefined, undefined, 300)
    await sync.start()
    await sync.follow(alice.did)
    const before = js.connections
    js.stall()
    await alice.session.put(NSID.membership, 'self', membership(['did:plc:after-stall']))
    await eventually('read through a new connection', () =>
      livePuts(events).some((e) => membersOf(e).includes('did:plc:after-stall')),
    )
    expect(js.connections).toBeGreaterThan(before)
    await sync.stop()
  })
})

describe('the Jetstream source’s shortcuts', () => {
  const presence = (at: number, workloads: string[]) => ({
    $type: NSID.presence,
    state: 'lending',
    replicas: workloads.map((w) => ({
      workload: { uri: `at://${alice.did}/${NSID.workload}/${w}`, cid: FAKE_CID },
      round: 0,
    })),
    seq: 1,
    intervalMs: 20_000,
    updatedAt: new Date(at).toISOString(),
  })
  const FAKE_CID = 'bafyreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku'
  const presences = (events: RecordEvent[]) =>
    livePuts(events).filter((e) => e.collection === NSID.presence && e.did === alice.did)
  const listed = (e: { record: unknown }) =>
    (e.record as { replicas: { workload: { uri: string } }[] }).replicas.map((r) =>
      r.workload.uri.split('/').pop(),
    )

  it('let a presence refresh act unconfirmed only as a re-dating of the confirmed one, within the window', async () => {
    const { sync, events } = follower(undefined, 32_000)
    await sync.start()
    await sync.follow(alice.did)
    const t0 = Date.now()
    const real = await alice.session.put(NSID.presence, 'self', presence(t0, ['w1']))
    await eventually('the confirmed presence', () => presences(events).length === 1)
    const forge = (at: number, workloads: string[]) =>
      js.inject({
        did: alice.did,
        kind: 'commit',
        commit: {
          rev: 'zzzzzzzzzzzzz',
          operation: 'update',
          collection: NSID.presence,
          rkey: 'self',
          cid: real.cid,
          record: presence(at, workloads),
        },
      })
    const drops = () => events.filter((e) => e.event === 'dropped').length
    // One at a time: a burst for one record is coalesced (only its newest is confirmed).
    const refused = async (at: number, workloads: string[]) => {
      const before = drops()
      forge(at, workloads)
      await eventually('the forgery dropped', () => drops() === before + 1)
    }
    // Vouching for a replica the host never listed: confirmed, and dropped.
    await refused(t0 + 5_000, ['w1', 'w2'])
    // A re-dating past the window of the confirmed presence: confirmed, and dropped.
    await refused(t0 + 40_000, ['w1'])
    // Dropping a replica (which would let peers judge it lost): confirmed, and dropped.
    await refused(t0 + 6_000, [])
    expect(presences(events)).toHaveLength(1)
    // A pure re-dating within the window: what the shortcut allows (docs/jetstream-trust.md:
    // it can keep alive only what the host vouched for, until t0 + window + lostAfter).
    forge(t0 + 10_000, ['w1'])
    await eventually('the refresh', () => presences(events).length === 2)
    expect(listed(presences(events)[1]!)).toEqual(['w1'])
    const source = sync.source as JetstreamSource
    expect(source.counts.refreshed).toBe(1)

    // A real change followed at once by a forged refresh of the old presence: whichever is
    // confirmed, the real change is what acts last.
    const changed = await alice.session.put(NSID.presence, 'self', presence(t0 + 12_000, ['w3']))
    forge(t0 + 15_000, ['w1'])
    await eventually('the real change', () => presences(events).some((e) => e.cid === changed.cid))
    await new Promise((r) => setTimeout(r, 500))
    expect(listed(presences(events).at(-1)!)).toEqual(['w3'])
    await sync.stop()
  })

  it('skip the echo of a version this meshlet wrote itself, and only that version', async () => {
    const { sync, events } = follower()
    await sync.start()
    await sync.follow(alice.did)
    const written = await alice.session.put(NSID.membership, 'self', membership(['did:plc:own']))
    await eventually('the first echo', () => livePuts(events).some((e) => e.cid === written.cid))
    sync.wrote(written.uri, written.cid)
    const echo = (cid: string, members: string[]) =>
      js.inject({
        did: alice.did,
        kind: 'commit',
        commit: {
          rev: 'zzzzzzzzzzzzz',
          operation: 'update',
          collection: NSID.membership,
          rkey: 'self',
          cid,
          record: { $type: NSID.membership, ...membership(members) },
        },
      })
    const source = sync.source as JetstreamSource
    echo(written.cid, ['did:plc:own'])
    await eventually('the echo skipped', () => source.counts.own === 1)
    // The same record with another CID is not ours: confirmed, and dropped.
    echo(FAKE_CID, ['did:plc:mallory'])
    await eventually('the forgery dropped', () => events.some((e) => e.event === 'dropped'))
    expect(livePuts(events).filter((e) => e.cid === written.cid)).toHaveLength(1)
    expect(livePuts(events).some((e) => membersOf(e).includes('did:plc:mallory'))).toBe(false)
    await sync.stop()
  })
})
