// Deleting workloads among real meshlets (real PDS, real Docker): the deletion leaves a tombstone,
// so a running replica stops where it ran while the rounds decided before keep their winners and
// nobody's balance moves. Before tombstones, deleting the finished job below erased Alice's debt
// from every ledger: the bid her meshlet declared for Carol's service became void, and its
// running replica was unseated.
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { NSID } from '../../core/lexicon/index.js'
import type { Meshlet } from '../../core/meshlet.js'
import { RepoReader } from '../../core/repo/reader.js'
import { LABEL_MESHLET } from '../../core/runtime/index.js'
import { workloadStatusReport } from '../../core/status.js'
import { deleteWorkloadRecord } from '../../core/tombstone/delete.js'
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
import {
  containersOf,
  dockerMeshlet,
  removeContainersOf,
  statusesOf,
  prepareSource,
  pastRun,
} from './_util.js'

const MIN = 60_000
let net: Network
let alice: Member, bob: Member, carol: Member
const meshlets: Meshlet[] = []

beforeAll(async () => {
  net = await startNetwork()
  await prepareSource(net)
  alice = await createMember(net, 'alice')
  bob = await createMember(net, 'bob')
  carol = await createMember(net, 'carol')
  const all = [alice, bob, carol]
  for (const m of all) await link(m)
  for (const m of all) {
    meshlets.push(
      dockerMeshlet(
        net,
        m,
        all.filter((o) => o !== m),
      ),
    )
  }
}, 60_000)

afterAll(async () => {
  for (const m of meshlets) await m.stop({ stopReplicas: true })
  await removeContainersOf([alice, bob, carol].filter(Boolean).map((m) => m.meshlet.did))
  await net?.close()
})

const small = { cpuMillis: 50, memoryMiB: 16 }

async function submit(m: Member, command: string[]) {
  return m.owner.session.create(NSID.workload, {
    image: TEST_IMAGE,
    command,
    resources: small,
    replicas: 1,
    bidWindowMs: 2000,
    createdAt: new Date().toISOString(),
  })
}

describe('deleting a workload', () => {
  it('stops its replicas, unseats no other replica, and moves no balance', async () => {
    // History, two hours ago: Bob's meshlet ran Alice's job for half an hour, so Alice owes the
    // commune and her meshlet's bids rank first.
    const job = await pastRun(alice, bob, { ago: 2 * 60 * MIN, minutes: 30, image: TEST_IMAGE })
    for (const m of meshlets) await m.start()
    await eventually('all three mutual', () =>
      meshlets.every((x) => x.clusterReport.peers.length === 3),
    )
    const at = Date.now()
    const before = meshlets.map((m) => [...m.accountsAt(at)])
    expect(before[0]!.find(([did]) => did === alice.owner.did)?.[1].balance).toBeLessThan(-900)
    for (const b of before) expect(b).toEqual(before[0])

    // Carol's service is placed on Alice's meshlet (highest priority); Alice's own service runs
    // somewhere too.
    const service = await submit(carol, ['sleep', '600'])
    const mine = await submit(alice, ['sleep', '600'])
    const [running] = await eventually(
      "Carol's service on Alice's meshlet",
      async () => {
        const list = await containersOf(service.uri)
        return list.length === 1 && list
      },
      60_000,
    )
    expect(running!.Labels[LABEL_MESHLET]).toBe(alice.meshlet.did)
    await eventually(
      'Alice’s service runs',
      async () => (await containersOf(mine.uri)).length,
      60_000,
    )

    const lastRound = () =>
      Math.max(...meshlets.flatMap((m) => m.store.bidsFor(mine.uri).map((b) => b.record.round)))
    const roundBefore = lastRound()
    // Alice deletes the finished job and her running service, as the app and the CLI do.
    const owner = { reader: new RepoReader(localIdentity(net)), writer: alice.owner.session }
    for (const uri of [job.uri, mine.uri]) {
      expect(await deleteWorkloadRecord(owner, uri, { now: new Date() })).toMatchObject({
        how: 'tombstone',
      })
    }
    await eventually('every meshlet holds both tombstones', () =>
      meshlets.every((m) => m.store.tombstones.has(job.uri) && m.store.tombstones.has(mine.uri)),
    )
    // Its replica stops and says so; nobody bids for it again.
    await eventually(
      'Alice’s service stopped',
      async () => (await containersOf(mine.uri, true)).every((c) => c.State !== 'running'),
      60_000,
    )
    await eventually('its host published stopped', async () =>
      (await statusesOf(alice, [alice, bob, carol], mine.uri)).some((s) => s.state === 'stopped'),
    )
    const report = await workloadStatusReport(localIdentity(net), mine.uri, Date.now())
    expect(report.headline).toMatch(/^Deleted at /)

    // Carol's service keeps running where it was placed, in every meshlet's view, while the
    // meshlets plan again (presence, heartbeats) over the next seconds.
    const until = Date.now() + 15_000
    while (Date.now() < until) {
      for (const m of meshlets) {
        const s = m.store.workloads.get(service.uri)!
        expect(
          m
            .audit()
            .history(s, Date.now())
            .placements.map((p) => p.meshlet),
        ).toEqual([alice.meshlet.did])
      }
      await new Promise((r) => setTimeout(r, 1000))
    }
    const still = await containersOf(service.uri)
    expect(still.map((c) => c.Id)).toEqual([running!.Id])
    expect(lastRound()).toBe(roundBefore)

    // The same balances as before the deletion, on every meshlet.
    for (const m of meshlets) expect([...m.accountsAt(at)]).toEqual(before[0])
  }, 240_000)
})
