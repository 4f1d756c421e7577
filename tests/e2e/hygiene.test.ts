// Repos stay small: after many workloads ran and were deleted, each meshlet's repo holds no bid
// and no status of them, and the owner's none of their tombstones, once the retention period has
// passed (a short one here). Real PDS, real Docker.
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { NSID } from '../../core/lexicon/index.js'
import type { Meshlet } from '../../core/meshlet.js'
import { RepoReader } from '../../core/repo/reader.js'
import { deleteWorkloadRecord, sweepTombstones } from '../../core/tombstone/delete.js'
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
import { containersOf, dockerMeshlet, removeContainersOf } from './_util.js'

const WORKLOADS = Number(process.env.HYGIENE_WORKLOADS ?? 100)
const RETENTION_MS = 3000
let net: Network
let alice: Member, bob: Member
const meshlets: Meshlet[] = []

beforeAll(async () => {
  net = await startNetwork()
  alice = await createMember(net, 'alice')
  bob = await createMember(net, 'bob')
  for (const m of [alice, bob]) await link(m)
  for (const [m, other] of [
    [alice, bob],
    [bob, alice],
  ] as const) {
    const meshlet = dockerMeshlet(net, m, [other], {
      retentionMs: RETENTION_MS,
      offer: { cpuMillis: 1000, memoryMiB: 1024 },
    })
    meshlets.push(meshlet)
    await meshlet.start()
  }
  await eventually('mutual', () => meshlets.every((m) => m.clusterReport.peers.length === 2))
})

afterAll(async () => {
  for (const m of meshlets) await m.stop({ stopReplicas: true })
  await removeContainersOf([alice.meshlet.did, bob.meshlet.did])
  await net?.close()
})

async function count(did: string, collection: string): Promise<number> {
  const res = await alice.owner.session.agent.com.atproto.repo.listRecords({
    repo: did,
    collection,
    limit: 100,
  })
  return res.data.records.length
}

describe('record hygiene', () => {
  it(`leaves a small constant of records after ${WORKLOADS} workloads ran and were deleted`, async () => {
    const uris: string[] = []
    for (let i = 0; i < WORKLOADS; i++) {
      const { uri } = await alice.owner.session.create(NSID.workload, {
        image: TEST_IMAGE,
        command: ['true'],
        resources: { cpuMillis: 10, memoryMiB: 8 },
        replicas: 1,
        bidWindowMs: 2000,
        createdAt: new Date().toISOString(),
      })
      uris.push(uri)
    }
    // Every one ran to its end somewhere (a batch job: exited 0 under `never`), so each left
    // records in a meshlet's repo. Counted as the meshlets saw them, and kept once seen: with a
    // 3 s retention, hygiene already removes lost bids and old endings while later workloads
    // still run, so a count of the repos at one moment is a race, not a measure.
    const exited = new Set<string>()
    await eventually(
      'all exited',
      async () => {
        for (const m of meshlets) {
          for (const s of m.store.allStatuses()) {
            if (s.record.state === 'exited') exited.add(s.record.workload.uri)
          }
        }
        return exited.size >= WORKLOADS
      },
      300_000,
    )
    // Deleted as the app and the CLI do: each leaves a tombstone, which keeps its bids and
    // statuses until the owner removes it after the retention period (swept once here, not
    // after each of the hundred).
    const owner = { reader: new RepoReader(localIdentity(net)), writer: alice.owner.session }
    const opts = () => ({ now: new Date(), retentionMs: RETENTION_MS })
    for (const uri of uris) await deleteWorkloadRecord(owner, uri, { ...opts(), sweep: false })
    expect(await count(alice.owner.did, NSID.workload)).toBeGreaterThan(0)
    await new Promise((r) => setTimeout(r, RETENTION_MS))
    await sweepTombstones(owner, opts())
    expect(await count(alice.owner.did, NSID.workload)).toBe(0)
    for (const m of [alice, bob]) {
      await eventually(
        `${m.name}’s bids and statuses deleted`,
        async () =>
          (await count(m.meshlet.did, NSID.bid)) +
            (await count(m.meshlet.did, NSID.workloadStatus)) ===
          0,
        120_000,
      )
      // What remains of ours: the owner link, the membership and the presence.
      const remaining = await Promise.all(
        [NSID.meshletOwner, NSID.membership, NSID.presence, NSID.bid, NSID.workloadStatus].map(
          (c) => count(m.meshlet.did, c),
        ),
      )
      expect(remaining.reduce((a, b) => a + b, 0)).toBeLessThanOrEqual(3)
    }
    for (const uri of uris.slice(0, 3)) expect(await containersOf(uri, true)).toEqual([])
    console.log(`hygiene: ${exited.size} workloads ran to their end; 0 bids and statuses after`)
    // A hundred real containers start and end one after another: about a minute on an idle
    // 2-core machine, so the file's default 60 s is no bound for it; its own waits are.
  }, 480_000)
})
