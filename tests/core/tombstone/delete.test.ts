// The owner's side of a deletion against a real PLC + PDS: the record becomes a tombstone, a
// second delete changes nothing, what is not ours or not there is refused, and expired
// tombstones go for good.
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { checkRecord, NSID } from '../../../core/lexicon/index.js'
import { RepoReader } from '../../../core/repo/reader.js'
import {
  deleteWorkloadRecord,
  sweepTombstones,
  WorkloadDeleteError,
  type OwnerRepo,
} from '../../../core/tombstone/delete.js'
import {
  createMember,
  localIdentity,
  startNetwork,
  type Member,
  type Network,
} from '../../_util.js'

let net: Network
let alice: Member, bob: Member
let owner: OwnerRepo

beforeAll(async () => {
  net = await startNetwork()
  alice = await createMember(net, 'alice')
  bob = await createMember(net, 'bob')
  owner = { reader: new RepoReader(localIdentity(net)), writer: alice.owner.session }
})

afterAll(async () => {
  await net?.close()
})

const spec = {
  image: 'busybox:1',
  resources: { cpuMillis: 100, memoryMiB: 32 },
  replicas: 1,
}

async function publish(m: Member = alice) {
  return m.owner.session.create(NSID.workload, { ...spec, createdAt: new Date().toISOString() })
}

async function read(uri: string) {
  const rkey = uri.split('/').pop()!
  return owner.reader.get(alice.owner.did, NSID.workload, rkey)
}

describe('deleting a workload', () => {
  it('leaves a tombstone naming the version it ends; deleting it again changes nothing', async () => {
    const { uri, cid } = await publish()
    const before = (await read(uri))!.value
    const now = new Date()
    expect(await deleteWorkloadRecord(owner, uri, { now })).toMatchObject({ how: 'tombstone' })
    const tomb = (await read(uri))!
    const checked = checkRecord(NSID.workload, tomb.value)
    expect(checked.ok).toBe(true)
    expect(tomb.value).toEqual({
      ...(before as object),
      deletedAt: now.toISOString(),
      deletedVersion: cid,
    })
    expect(await deleteWorkloadRecord(owner, uri, { now: new Date() })).toMatchObject({
      how: 'already',
    })
    expect((await read(uri))!.cid).toBe(tomb.cid)
  })

  it('refuses what is not ours or not there, and writes nothing', async () => {
    const theirs = await publish(bob)
    const missing = `at://${alice.owner.did}/${NSID.workload}/3lmissing0000`
    for (const uri of [theirs.uri, missing]) {
      const err = await deleteWorkloadRecord(owner, uri, { now: new Date() }).catch((e) => e)
      expect(err).toBeInstanceOf(WorkloadDeleteError)
      expect(err).toMatchObject({ code: 'not-found' })
    }
    const still = await owner.reader.get(bob.owner.did, NSID.workload, theirs.uri.split('/').pop()!)
    expect(still?.cid).toBe(theirs.cid)
  })

  it('removes outright a record no peer could count (not a valid workload)', async () => {
    const { uri } = await alice.owner.session.create(NSID.workload, { image: '' })
    expect(await deleteWorkloadRecord(owner, uri, { now: new Date() })).toMatchObject({
      how: 'removed',
    })
    expect(await read(uri)).toBeUndefined()
  })

  it('sweeps tombstones once older than the retention period, and nothing else', async () => {
    const live = await publish()
    const { uri } = await publish()
    const deletedAt = new Date()
    await deleteWorkloadRecord(owner, uri, { now: deletedAt, retentionMs: 60_000 })
    const young = await sweepTombstones(owner, {
      now: new Date(deletedAt.getTime() + 59_999),
      retentionMs: 60_000,
    })
    // (The earlier test's tombstone, a few seconds older, may go already.)
    expect(young).not.toContain(uri.split('/').pop())
    expect(await read(uri)).toBeDefined()
    // A delete that does not sweep leaves it for later.
    const other = await publish()
    const later = new Date(deletedAt.getTime() + 60_000)
    const quiet = await deleteWorkloadRecord(owner, other.uri, {
      now: later,
      retentionMs: 60_000,
      sweep: false,
    })
    expect(quiet).toMatchObject({ how: 'tombstone', swept: [] })
    expect(await read(uri)).toBeDefined()
    const swept = await sweepTombstones(owner, {
      now: new Date(deletedAt.getTime() + 60_000),
      retentionMs: 60_000,
    })
    expect(swept).toContain(uri.split('/').pop())
    expect(await read(uri)).toBeUndefined()
    expect(await read(live.uri)).toBeDefined()
  })
})
