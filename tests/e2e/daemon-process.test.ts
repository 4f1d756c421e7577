// The real `meshlet run` daemon as a process: it joins the cluster and runs its replica; killed
// with SIGKILL (no chance to clean up) and started again, it keeps its container — no duplicate,
// no orphan.
import { spawn, type ChildProcess } from 'node:child_process'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { NSID } from '../../core/lexicon/index.js'
import { Meshlet } from '../../core/meshlet.js'
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
import { containersOf, removeContainersOf, dockerMeshlet } from './_util.js'

const BIN = new URL('../../bin/meshlet.js', import.meta.url).pathname
let net: Network
let alice: Member
let bob: Member
let aliceMeshlet: Meshlet
let dataDir: string
let daemon: ChildProcess | undefined
let output = ''

function startDaemon(): ChildProcess {
  const child = spawn(
    process.execPath,
    [
      BIN,
      'run',
      '--did',
      bob.meshlet.did,
      '--owner',
      bob.owner.handle,
      '--cluster-members',
      alice.owner.handle,
      '--plc',
      net.plc.url,
      '--handle-resolver',
      net.pds.url,
      '--firehose',
      net.pds.url,
      '--data-dir',
      dataDir,
    ],
    { env: { ...process.env, MESHLET_PASSWORD: bob.meshlet.password } },
  )
  child.stdout!.on('data', (d: Buffer) => (output += d.toString()))
  child.stderr!.on('data', (d: Buffer) => (output += d.toString()))
  return child
}

beforeAll(async () => {
  net = await startNetwork()
  alice = await createMember(net, 'alice')
  bob = await createMember(net, 'bob')
  await link(alice)
  await link(bob)
  dataDir = await mkdtemp(join(tmpdir(), 'meshlet-daemon-'))
  aliceMeshlet = dockerMeshlet(net, alice, [bob])
  await aliceMeshlet.start()
})

afterAll(async () => {
  daemon?.kill('SIGKILL')
  await aliceMeshlet?.stop({ stopReplicas: true })
  await removeContainersOf([bob.meshlet.did])
  await net?.close()
  await rm(dataDir, { recursive: true, force: true })
})

describe('the meshlet daemon process', () => {
  it('survives SIGKILL and a restart without a duplicate or an orphan', async () => {
    daemon = startDaemon()
    await eventually('bob’s daemon started', () => output.includes('"event":"started"'), 30_000)
    await eventually('mutual cluster', () =>
      aliceMeshlet.clusterReport.peers.some((p) => p.owner === bob.owner.did),
    )
    const { uri } = await alice.owner.session.create(NSID.workload, {
      image: TEST_IMAGE,
      command: ['sleep', '600'],
      resources: { cpuMillis: 100, memoryMiB: 32 },
      replicas: 2,
      bidWindowMs: 2000,
      createdAt: new Date().toISOString(),
    })
    const before = await eventually('two running replicas', async () => {
      const list = (await containersOf(uri, true)).filter((c) => c.State === 'running')
      return list.length === 2 && list
    })
    expect(new Set(before.map((c) => c.Labels[LABEL_MESHLET]))).toEqual(
      new Set([alice.meshlet.did, bob.meshlet.did]),
    )

    daemon.kill('SIGKILL')
    await new Promise((r) => daemon!.once('exit', r))
    output = ''
    daemon = startDaemon()
    await eventually('restarted', () => output.includes('"event":"started"'), 30_000)
    expect(output).toContain('"event":"reconcile.keep"')
    await new Promise((r) => setTimeout(r, 2000))
    const after = await containersOf(uri, true)
    expect(after.map((c) => c.Id).sort()).toEqual(before.map((c) => c.Id).sort())
    expect(after.every((c) => c.State === 'running')).toBe(true)

    // Deleted while the daemon is down: its container is an orphan, removed on the next start.
    daemon.kill('SIGKILL')
    await new Promise((r) => daemon!.once('exit', r))
    await alice.owner.session.delete(NSID.workload, uri.split('/').pop()!)
    await eventually('alice’s replica stopped', async () =>
      (await containersOf(uri, true)).every((c) => c.Labels[LABEL_MESHLET] === bob.meshlet.did),
    )
    output = ''
    daemon = startDaemon()
    await eventually(
      'orphan removed',
      async () => (await containersOf(uri, true)).length === 0,
      30_000,
    )
    expect(output).toContain('"event":"reconcile.remove"')
  })
})
