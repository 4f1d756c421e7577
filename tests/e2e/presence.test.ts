// Liveness per meshlet on the real stack (PDS, Docker): a running replica stays placed on its
// host's presence alone, with no status rewrites; when its host stops vouching (a crash), a peer
// runs it once lostAfter has passed; when the host comes back, exactly one replica remains.
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { NSID } from '../../core/lexicon/index.js'
import type { Meshlet } from '../../core/meshlet.js'
import { LABEL_MESHLET } from '../../core/runtime/index.js'
import { TEST_IMAGE } from '../infra.js'
import {
  createMember,
  eventually,
  link,
  startNetwork,
  type Member,
  type Network,
} from '../_util.js'
import { containersOf, dockerMeshlet, removeContainersOf, prepareSource } from './_util.js'

// Short timings so the test is quick; the defaults' arithmetic is in docs/write-budget.md.
const config = { heartbeatMs: 1000, lostAfterMs: 4000 }
let net: Network
let alice: Member, bob: Member
const meshlets = new Map<string, Meshlet>()

beforeAll(async () => {
  net = await startNetwork()
  await prepareSource(net)
  alice = await createMember(net, 'alice')
  bob = await createMember(net, 'bob')
  for (const m of [alice, bob]) await link(m)
  meshlets.set(alice.meshlet.did, dockerMeshlet(net, alice, [bob], { config }))
  meshlets.set(bob.meshlet.did, dockerMeshlet(net, bob, [alice], { config }))
  for (const m of meshlets.values()) await m.start()
  await eventually('mutual', () =>
    [...meshlets.values()].every((m) => m.clusterReport.peers.length === 2),
  )
})

afterAll(async () => {
  for (const m of meshlets.values()) await m.stop({ stopReplicas: true }).catch(() => undefined)
  await removeContainersOf([alice.meshlet.did, bob.meshlet.did])
  await net?.close()
})

const running = async (uri: string) =>
  (await containersOf(uri)).filter((c) => c.State === 'running')

async function record(did: string, collection: string, rkey: string) {
  const res = await alice.owner.session.agent.com.atproto.repo.getRecord({
    repo: did,
    collection,
    rkey,
  })
  return res.data.value as Record<string, unknown>
}

describe('presence', () => {
  it('keeps a replica placed without status rewrites; a crashed host’s replica moves, and one remains when it returns', async () => {
    const { uri, cid } = await alice.owner.session.create(NSID.workload, {
      image: TEST_IMAGE,
      command: ['sleep', '600'],
      resources: { cpuMillis: 100, memoryMiB: 32 },
      replicas: 1,
      bidWindowMs: 2000,
      createdAt: new Date().toISOString(),
    })
    const [first] = await eventually(
      'one replica',
      async () => {
        const list = await running(uri)
        return list.length === 1 && list
      },
      30_000,
    )
    const host = first!.Labels[LABEL_MESHLET]!
    const other = host === alice.meshlet.did ? bob : alice
    const hostMember = host === alice.meshlet.did ? alice : bob
    const rkey = (await import('../../core/scheduling/index.js')).bidRkey(uri, 0, cid)
    const status = await eventually('running published', async () => {
      const s = await record(host, NSID.workloadStatus, rkey)
      return s.state === 'running' && s
    })

    // Three lostAfters later: still the same container, its status untouched, the presence
    // rewritten and vouching for it.
    await new Promise((r) => setTimeout(r, 3 * config.lostAfterMs))
    expect((await running(uri)).map((c) => c.Id)).toEqual([first!.Id])
    expect(await record(host, NSID.workloadStatus, rkey)).toEqual(status)
    const presence = await record(host, NSID.presence, 'self')
    expect(presence.seq).toBeGreaterThanOrEqual(5)
    expect(presence.replicas).toEqual([{ workload: { uri, cid: expect.any(String) }, round: 0 }])

    // The host crashes: its meshlet stops vouching, its container keeps running.
    const t0 = performance.now()
    await meshlets.get(host)!.stop()
    await eventually(
      'the other meshlet runs it',
      async () => (await running(uri)).some((c) => c.Labels[LABEL_MESHLET] === other.meshlet.did),
      30_000,
    )
    const moved = (performance.now() - t0) / 1000
    console.log(
      `host crash: replica running elsewhere after ${moved.toFixed(1)} s (lostAfter ${config.lostAfterMs / 1000} s)`,
    )

    // It comes back: its old container is no longer selected and goes; exactly one remains.
    const back = dockerMeshlet(net, hostMember, [other], { config })
    meshlets.set(host, back)
    await back.start()
    await eventually(
      'exactly one replica',
      async () => {
        const list = await running(uri)
        return list.length === 1 && list[0]!.Labels[LABEL_MESHLET] === other.meshlet.did
      },
      30_000,
    )
    await new Promise((r) => setTimeout(r, 2 * config.heartbeatMs))
    expect((await running(uri)).length).toBe(1)
  })
})
