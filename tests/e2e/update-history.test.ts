// Updating a workload among real meshlets (real PDS, real Docker): the replaced version leaves a
// tombstone of its own (core/tombstone/update.ts), so its usage keeps counting and the owner's
// debt stands. Before, a status for an older version counted for nobody once the record named a
// new one: an update forgave the owner's usage on every ledger, a way to game fair share.
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { WorkloadRecord } from '../../core/lexicon/index.js'
import type { Meshlet } from '../../core/meshlet.js'
import { RepoReader } from '../../core/repo/reader.js'
import { workloadStatusReport } from '../../core/status.js'
import { versionKey } from '../../core/tombstone/index.js'
import { publishVersion } from '../../core/tombstone/update.js'
import { TEST_IMAGE } from '../infra.js'
import {
  createMember,
  eventually,
  link,
  localIdentity,
  startNetwork,
  type Member,
  type Network,
} from '../_util.js'
import { dockerMeshlet, pastRun, removeContainersOf } from './_util.js'

const MIN = 60_000
let net: Network
let alice: Member, bob: Member, carol: Member
const meshlets: Meshlet[] = []

beforeAll(async () => {
  net = await startNetwork()
  alice = await createMember(net, 'alice')
  bob = await createMember(net, 'bob')
  carol = await createMember(net, 'carol')
  const all = [alice, bob, carol]
  for (const m of all) await link(m)
  for (const m of all)
    meshlets.push(
      dockerMeshlet(
        net,
        m,
        all.filter((o) => o !== m),
      ),
    )
}, 60_000)

afterAll(async () => {
  for (const m of meshlets) await m.stop({ stopReplicas: true })
  await removeContainersOf([alice, bob, carol].filter(Boolean).map((m) => m.meshlet.did))
  await net?.close()
})

describe('updating a workload', () => {
  it('keeps the replaced version’s usage on every ledger, and places the new version', async () => {
    // History, two hours ago: Bob's meshlet ran version 1 of Alice's job for half an hour.
    const job = await pastRun(alice, bob, {
      ago: 2 * 60 * MIN,
      minutes: 30,
      image: TEST_IMAGE,
      extra: { bidWindowMs: 2000 },
    })
    const v1 = job.record
    for (const m of meshlets) await m.start()
    await eventually('all three mutual', () =>
      meshlets.every((x) => x.clusterReport.peers.length === 3),
    )
    const at = Date.now()
    const before = meshlets.map((m) => [...m.accountsAt(at)])
    const debt = before[0]!.find(([did]) => did === alice.owner.did)?.[1].balance
    expect(debt).toBeLessThan(-900)
    for (const b of before) expect(b).toEqual(before[0])

    // Alice publishes version 2, small enough to run anywhere, as the app and the CLI do.
    const owner = { reader: new RepoReader(localIdentity(net)), writer: alice.owner.session }
    const v2 = {
      ...v1,
      command: ['true', 'v2'],
      resources: { cpuMillis: 50, memoryMiB: 16 },
      updatedAt: new Date().toISOString(),
    }
    const published = await publishVersion(
      owner,
      job.uri,
      { cid: job.cid, value: v1 as unknown as WorkloadRecord },
      v2,
      { now: new Date() },
    )
    expect(published.history).toBe(versionKey(job.uri.split('/').pop()!, job.cid))
    const historyUri = job.uri.replace(/[^/]+$/, published.history)
    await eventually('every meshlet holds version 2 and version 1’s tombstone', () =>
      meshlets.every(
        (m) =>
          m.store.workloads.get(job.uri)?.cid === published.cid &&
          m.store.versions.get(historyUri)?.cid === job.cid,
      ),
    )
    // The history is never scheduled as a workload of its own.
    for (const m of meshlets) expect(m.store.workloads.has(historyUri)).toBe(false)

    // Version 2 is placed and runs to its end.
    await eventually(
      'version 2 ran',
      () =>
        meshlets[0]!.store
          .statusesFor(job.uri)
          .some((s) => s.record.workload.cid === published.cid && s.record.state === 'exited'),
      60_000,
    )

    // Alice's debt stands, on every meshlet and in `meshlet status`.
    for (const m of meshlets) expect([...m.accountsAt(at)]).toEqual(before[0])
    const report = await workloadStatusReport(localIdentity(net), job.uri, Date.now())
    expect(report.balances?.find((b) => b.did === alice.owner.did)?.balance).toBeLessThan(-900)
  }, 240_000)
})
