import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { COLLECTION_PREFIX, NSID } from '../../../core/lexicon/index.js'
import { RepoReader } from '../../../core/repo/reader.js'
import { RecordSync, type RecordEvent } from '../../../core/sync/index.js'
import {
  createAccount,
  eventually,
  localIdentity,
  startNetwork,
  type Account,
  type Network,
} from '../../_util.js'

let net: Network
let dir: string
let alice: Account
let stranger: Account
let carol: Account

beforeAll(async () => {
  net = await startNetwork()
  dir = await mkdtemp(join(tmpdir(), 'meshlet-sync-'))
  alice = await createAccount(net, 'alice')
  stranger = await createAccount(net, 'stranger')
  carol = await createAccount(net, 'carol')
})

afterAll(async () => {
  await net?.close()
  await rm(dir, { recursive: true, force: true })
})

function follower(cursorFile?: string) {
  const events: RecordEvent[] = []
  const errors: Error[] = []
  const identity = localIdentity(net)
  const sync = new RecordSync({
    identity,
    reader: new RepoReader(identity),
    service: net.pds.url,
    cursorFile,
    // carol's records are wanted but her repo is never backfilled: they can only arrive live,
    // or replayed from the cursor.
    wants: (did) => did === alice.did || did === carol.did,
    onEvent: (e) => events.push(e),
    onError: (e) => errors.push(e),
  })
  return { sync, events, errors }
}

const membership = (members: string[]) => ({
  members,
  createdAt: new Date().toISOString(),
})

function puts(events: RecordEvent[], source?: string) {
  return events.filter(
    (e): e is Extract<RecordEvent, { event: 'put' }> =>
      e.event === 'put' && (!source || e.source === source),
  )
}

describe('RecordSync', () => {
  it('drops malformed, oversized and wrong-typed records with a reason and keeps going', async () => {
    const { sync, events } = follower()
    await sync.start()
    await sync.follow(alice.did)
    const raw = alice.session.agent.com.atproto.repo
    // Missing required field.
    await raw.putRecord({
      repo: alice.did,
      collection: NSID.membership,
      rkey: 'self',
      record: { $type: NSID.membership, members: ['did:plc:x'] },
    })
    // Wrong type of field.
    await raw.putRecord({
      repo: alice.did,
      collection: NSID.membership,
      rkey: 'self',
      record: { $type: NSID.membership, members: 'everyone', createdAt: new Date().toISOString() },
    })
    // Oversized.
    await raw.putRecord({
      repo: alice.did,
      collection: NSID.workload,
      rkey: '3kaaaaaaaaaaa',
      record: {
        $type: NSID.workload,
        image: 'x',
        resources: { cpuMillis: 1, memoryMiB: 8 },
        replicas: 1,
        pad: 'x'.repeat(100_000),
        createdAt: new Date().toISOString(),
      },
    })
    // A string where the lexicon wants an integer, and a DID that is not one.
    await raw.putRecord({
      repo: alice.did,
      collection: NSID.bid,
      rkey: 'abc',
      record: {
        $type: NSID.bid,
        workload: { uri: 'at://did:plc:x/commune.scheduler.workload/3k', cid: 'nope' },
        round: 'zero',
        priority: 1,
        offer: { cpuMillis: 1, memoryMiB: 8 },
        createdAt: new Date().toISOString(),
      },
    })
    // A collection under our prefix that no lexicon defines.
    await raw.putRecord({
      repo: alice.did,
      collection: `${COLLECTION_PREFIX}unknownThing`,
      rkey: 'x',
      record: { $type: `${COLLECTION_PREFIX}unknownThing` },
    })
    // And then a valid one, which must come through.
    await alice.session.put(NSID.membership, 'self', membership(['did:plc:bob']))

    await eventually('the valid record', () => puts(events, 'firehose').length === 1)
    const dropped = events.filter((e) => e.event === 'dropped')
    expect(dropped.map((d) => (d.event === 'dropped' ? d.reason : ''))).toEqual([
      expect.stringMatching(/^invalid: .*createdAt/),
      expect.stringMatching(/^invalid: .*members/),
      expect.stringMatching(/^oversized/),
      expect.stringMatching(/^invalid: /),
      expect.stringMatching(/^unknown collection/),
    ])
    expect(puts(events)[0]?.record).toMatchObject({ members: ['did:plc:bob'] })
    await sync.stop()
  })

  it('ignores records from DIDs that do not matter', async () => {
    const { sync, events } = follower()
    await sync.start()
    await sync.follow(alice.did)
    await stranger.session.put(NSID.membership, 'self', membership([alice.did]))
    await alice.session.put(NSID.membership, 'self', membership(['did:plc:carol']))
    await eventually('alice', () => puts(events, 'firehose').length === 1)
    expect(events.some((e) => 'did' in e && e.did === stranger.did)).toBe(false)
    await sync.stop()
  })

  it('resumes from its cursor and backfills what it missed while stopped', async () => {
    const cursorFile = join(dir, 'cursor.json')
    const first = follower(cursorFile)
    await first.sync.start()
    await first.sync.follow(alice.did)
    await alice.session.put(NSID.membership, 'self', membership(['did:plc:one']))
    await eventually('first update', () =>
      puts(first.events, 'firehose').some((e) =>
        (e.record as { members: string[] }).members.includes('did:plc:one'),
      ),
    )
    await first.sync.stop()
    const seq = first.sync.cursorSeq
    expect(seq).toBeGreaterThan(0)

    // Published while the follower is down.
    const wl = await alice.session.create(NSID.workload, {
      image: 'busybox',
      resources: { cpuMillis: 100, memoryMiB: 16 },
      replicas: 1,
      createdAt: new Date().toISOString(),
    })
    await alice.session.put(NSID.membership, 'self', membership(['did:plc:two']))
    await carol.session.put(NSID.membership, 'self', membership(['did:plc:while-away']))

    const second = follower(cursorFile)
    await second.sync.start()
    expect(second.sync.cursorSeq).toBe(seq)
    await second.sync.follow(alice.did)
    // The backfill has both records as they are now.
    const backfilled = puts(second.events, 'backfill')
    expect(backfilled.map((e) => e.uri)).toContain(wl.uri)
    expect(backfilled.find((e) => e.collection === NSID.membership)?.record).toMatchObject({
      members: ['did:plc:two'],
    })
    // carol's record, published while stopped and never listed, arrives by replay from the cursor.
    await eventually('replayed from the cursor', () =>
      puts(second.events, 'firehose').some((e) => e.did === carol.did),
    )
    // Events replayed from the cursor that the listing already holds are not delivered again.
    await alice.session.put(NSID.membership, 'self', membership(['did:plc:three']))
    await eventually('live update after resume', () =>
      puts(second.events, 'firehose').some((e) =>
        (e.record as { members: string[] }).members.includes('did:plc:three'),
      ),
    )
    const live = puts(second.events, 'firehose')
      .filter((e) => e.did === alice.did)
      .map((e) => (e.record as { members: string[] }).members[0])
    expect(live).toEqual(['did:plc:three'])
    await second.sync.stop()
  })
})
