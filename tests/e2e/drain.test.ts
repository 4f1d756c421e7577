// Stopping the daemon (SIGTERM) drains like the app's Quit: its guests stop, `draining` is
// published, and a peer places the replica again at once. With --no-drain the guest keeps
// running for a restart. Real PDS, real Docker, the daemon as a process.
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
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
import { Daemon } from '../support/daemon.js'
import {
  containersOf,
  dockerMeshlet,
  removeContainersOf,
  statusesOf,
  prepareSource,
  sourceArgs,
  sourceConfig,
} from './_util.js'

let net: Network
let alice: Member, bob: Member, carol: Member
let aliceMeshlet: Meshlet
let carolMeshlet: Meshlet | undefined
let dataDir: string
let daemon: Daemon | undefined

beforeAll(async () => {
  net = await startNetwork()
  await prepareSource(net)
  alice = await createMember(net, 'alice')
  bob = await createMember(net, 'bob')
  carol = await createMember(net, 'carol')
  for (const m of [alice, bob, carol]) await link(m)
  dataDir = await mkdtemp(join(tmpdir(), 'meshlet-drain-'))
  aliceMeshlet = dockerMeshlet(net, alice, [bob, carol])
  await aliceMeshlet.start()
})

afterAll(async () => {
  await daemon?.kill('SIGKILL')
  await carolMeshlet?.stop({ stopReplicas: true })
  await aliceMeshlet?.stop({ stopReplicas: true })
  await removeContainersOf([bob.meshlet.did])
  await net?.close()
  await rm(dataDir, { recursive: true, force: true })
})

const running = async (uri: string) =>
  (await containersOf(uri)).filter((c) => c.State === 'running')

async function submit(replicas: number) {
  return alice.owner.session.create(NSID.workload, {
    image: TEST_IMAGE,
    command: ['sleep', '600'],
    resources: { cpuMillis: 100, memoryMiB: 32 },
    replicas,
    bidWindowMs: 2000,
    createdAt: new Date().toISOString(),
  })
}

describe('a daemon stopped with SIGTERM', () => {
  it('drains: its guest stops, `draining` is published, and a peer runs it at once', async () => {
    daemon = new Daemon({
      net,
      member: bob,
      members: [alice, carol],
      dataDir,
      args: sourceArgs(net),
    })
    await eventually('bob’s daemon started', () => daemon!.started, 30_000)
    // It reads from the source this file chose, as alice's and carol's meshlets do.
    expect(daemon.events('started')[0]?.source).toBe(sourceConfig(net).kind)
    await eventually('bob in alice’s cluster', () =>
      aliceMeshlet.clusterReport.peers.some((p) => p.owner === bob.owner.did),
    )
    const { uri } = await submit(2)
    await eventually(
      'replicas on alice and bob',
      async () => {
        const hosts = (await running(uri)).map((c) => c.Labels[LABEL_MESHLET]).sort()
        return hosts.length === 2 && hosts.includes(bob.meshlet.did)
      },
      30_000,
    )
    // Carol joins only now, so the replica had to go to bob first.
    carolMeshlet = dockerMeshlet(net, carol, [alice, bob])
    await carolMeshlet.start()
    await eventually('carol sees bob', () =>
      carolMeshlet!.clusterReport.peers.some((p) => p.owner === bob.owner.did),
    )

    const t0 = performance.now()
    expect(await daemon.kill('SIGTERM')).toBe(0)
    const drained = (performance.now() - t0) / 1000
    expect(
      (await containersOf(uri, true)).some((c) => c.Labels[LABEL_MESHLET] === bob.meshlet.did),
    ).toBe(false)
    const published = await statusesOf(alice, [bob], uri)
    expect(published.map((s) => s.state)).toEqual(['draining'])
    await eventually(
      'carol runs the replica bob drained',
      async () => (await running(uri)).some((c) => c.Labels[LABEL_MESHLET] === carol.meshlet.did),
      30_000,
    )
    const replaced = (performance.now() - t0) / 1000
    console.log(
      `SIGTERM: drained in ${drained.toFixed(1)} s, re-placed ${replaced.toFixed(1)} s after the signal`,
    )
    expect((await running(uri)).length).toBe(2)
    await alice.owner.session.delete(NSID.workload, uri.split('/').pop()!)
    await eventually('deleted workload stopped', async () => (await running(uri)).length === 0)
  })

  it('with --no-drain leaves its guest running for a restart, which adopts it', async () => {
    daemon = new Daemon({
      net,
      member: bob,
      members: [alice, carol],
      dataDir,
      args: ['--no-drain', ...sourceArgs(net)],
    })
    await eventually('bob’s daemon started', () => daemon!.started, 30_000)
    const { uri } = await submit(3)
    const before = await eventually(
      'three replicas',
      async () => {
        const list = await running(uri)
        return list.length === 3 && list
      },
      30_000,
    )
    const bobs = before.filter((c) => c.Labels[LABEL_MESHLET] === bob.meshlet.did)
    expect(bobs).toHaveLength(1)
    expect(await daemon.kill('SIGTERM')).toBe(0)
    const after = await running(uri)
    expect(after.map((c) => c.Id)).toContain(bobs[0]!.Id)
    expect((await statusesOf(alice, [bob], uri)).map((s) => s.state)).toEqual(['running'])

    daemon = new Daemon({
      net,
      member: bob,
      members: [alice, carol],
      dataDir,
      args: ['--no-drain', ...sourceArgs(net)],
    })
    await eventually('restarted', () => daemon!.started, 30_000)
    expect(daemon.events('reconcile.keep').map((e) => e.workload)).toContain(uri)
    expect((await running(uri)).map((c) => c.Id)).toContain(bobs[0]!.Id)
    await alice.owner.session.delete(NSID.workload, uri.split('/').pop()!)
    await eventually('deleted workload stopped', async () => (await running(uri)).length === 0)
  })
})
