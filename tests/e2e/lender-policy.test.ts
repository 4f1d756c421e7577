// What a lender refuses, and what Docker would refuse, end to end: bob's meshlet (real Docker,
// behind a socket proxy this file can take away) and alice's workloads on a real PDS. Each
// refusal is seen where its owner looks: no bid, and `meshlet status` saying why.
import { execFileSync } from 'node:child_process'
import Docker from 'dockerode'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { main } from '../../core/cli/main.js'
import { NSID, type MembershipRecord } from '../../core/lexicon/index.js'
import type { Meshlet } from '../../core/meshlet.js'
import { Runtime } from '../../core/runtime/index.js'
import { describeReason } from '../../core/scheduling/index.js'
import { workloadStatusReport } from '../../core/status.js'
import { REGISTRY_IMAGE, TEST_REGISTRY } from '../infra.js'
import {
  createMember,
  eventually,
  link,
  localIdentity,
  setMembership,
  startNetwork,
  type Member,
  type Network,
} from '../_util.js'
import { dockerProxy, randomId, type DockerProxy } from '../core/runtime/_util.js'
import { containersOf, dockerMeshlet, removeContainersOf } from './_util.js'

let net: Network
let alice: Member
let bob: Member
let proxy: DockerProxy
let meshlet: Meshlet
const pushed: string[] = []

beforeAll(async () => {
  net = await startNetwork()
  alice = await createMember(net, 'alice')
  bob = await createMember(net, 'bob')
  for (const m of [alice, bob]) await link(m)
  // alice's side of mutuality; she runs no meshlet here.
  await setMembership(alice, [alice, bob])
  proxy = await dockerProxy()
  meshlet = dockerMeshlet(net, bob, [alice], {
    runtime: new Runtime({
      meshletDid: bob.meshlet.did,
      docker: new Docker({ socketPath: proxy.socketPath }),
      // The engine going away is this file's point: its errors are expected, not warnings.
      onError: () => undefined,
    }),
  })
  await meshlet.start()
}, 60_000)

afterAll(async () => {
  await meshlet?.stop({ stopReplicas: true })
  await proxy?.close()
  if (bob) await removeContainersOf([bob.meshlet.did])
  for (const t of pushed) {
    try {
      execFileSync('docker', ['rmi', '-f', t], { stdio: 'ignore' })
    } catch {
      // absent already
    }
  }
  await net?.close()
})

async function submit(extra: Record<string, unknown> = {}): Promise<string> {
  const { uri } = await alice.owner.session.create(NSID.workload, {
    image: REGISTRY_IMAGE,
    command: ['sleep', '600'],
    resources: { cpuMillis: 100, memoryMiB: 32 },
    replicas: 1,
    bidWindowMs: 2000,
    createdAt: new Date().toISOString(),
    ...extra,
  })
  return uri
}

async function remove(uri: string): Promise<void> {
  await alice.owner.session.delete(NSID.workload, uri.split('/').pop()!)
}

/** bob's meshlet's bid for round 0 of the workload (any version), read from its repo. */
async function bobBid(uri: string) {
  const res = await bob.meshlet.session.agent.com.atproto.repo.listRecords({
    repo: bob.meshlet.did,
    collection: NSID.bid,
  })
  return res.data.records
    .map((r) => r.value as { workload: { uri: string }; round: number })
    .find((v) => v.workload.uri === uri && v.round === 0)
}

async function membership(): Promise<MembershipRecord> {
  const r = await bob.meshlet.session.agent.com.atproto.repo.getRecord({
    repo: bob.meshlet.did,
    collection: NSID.membership,
    rkey: 'self',
  })
  return r.data.value as MembershipRecord
}

/** Past the window (2 s) and grace (0.5 s): a bid that was coming has come. */
const pastWindow = () => new Promise((r) => setTimeout(r, 3500))

/** bob's reason as `meshlet status` computes it from public records, and as it prints it. */
async function statusOf(uri: string) {
  const report = await workloadStatusReport(localIdentity(net), uri, Date.now())
  const out: string[] = []
  const code = await main(['status', uri, '--plc', net.plc.url, '--handle-resolver', net.pds.url], {
    out: (l) => out.push(l),
    err: (l) => out.push(l),
    env: {},
  })
  expect(code).toBe(0)
  const reason = report.noBid.find((n) => n.meshlet === bob.meshlet.did)?.reason
  return { report, reason, printed: out.join('\n') }
}

describe('what Docker would refuse', () => {
  it('gets no bid, and status names the problem', async () => {
    const uri = await submit({ resources: { cpuMillis: 5, memoryMiB: 32 } })
    await pastWindow()
    expect(await bobBid(uri)).toBeUndefined()
    const { reason, report, printed } = await statusOf(uri)
    expect(reason).toBe('invalid-workload')
    expect(report.problems).toEqual([
      "resources.cpuMillis must be at least 10 (Docker's minimum of 0.01 CPU); got 5",
    ])
    expect(printed).toContain('invalid: resources.cpuMillis must be at least 10')
    expect(printed).toContain(`invalid-workload: ${describeReason('invalid-workload')}`)
    await remove(uri)
  })
})

describe('the lender’s registry allow-list', () => {
  it('gets no bid for another registry’s image, published so the owner sees why', async () => {
    await meshlet.setImagePolicy({ allowRegistries: ['ghcr.io'] })
    await eventually('allow-list published', async () =>
      (await membership()).allowRegistries?.includes('ghcr.io'),
    )
    const uri = await submit()
    await pastWindow()
    expect(await bobBid(uri)).toBeUndefined()
    const { reason, printed } = await statusOf(uri)
    expect(reason).toBe('registry-not-allowed')
    expect(printed).toContain(describeReason('registry-not-allowed'))
    await remove(uri)

    // Allowed: the same image runs.
    await meshlet.setImagePolicy({ allowRegistries: [TEST_REGISTRY] })
    const again = await submit()
    await eventually('it runs', async () => (await containersOf(again)).length === 1, 30_000)
    await remove(again)
    await eventually('cleaned up', async () => (await containersOf(again, true)).length === 0)
    await meshlet.setImagePolicy({})
  })
})

describe('the lender’s maximum image size', () => {
  it('gets no bid for a larger image, asked of its registry before bidding, and status says why', async () => {
    const image = `${TEST_REGISTRY}/guard-test-${randomId()}/big:1`
    execFileSync('docker', ['tag', REGISTRY_IMAGE, image])
    pushed.push(image)
    execFileSync('docker', ['push', image], { stdio: 'ignore' })
    execFileSync('docker', ['rmi', image], { stdio: 'ignore' })
    await meshlet.setImagePolicy({ maxImageMiB: 1 })
    expect((await membership()).maxImageMiB).toBe(1)
    const uri = await submit({ image })
    await pastWindow()
    expect(await bobBid(uri)).toBeUndefined()
    // The meshlet's own reason, and the one `meshlet status` works out from the published
    // maximum and the registry's manifest.
    expect((meshlet.explanation(uri) as { noBid?: string }).noBid).toBe('image-too-large')
    const { reason, printed } = await statusOf(uri)
    expect(reason).toBe('image-too-large')
    expect(printed).toContain(describeReason('image-too-large'))
    expect(await containersOf(uri, true)).toHaveLength(0)
    await remove(uri)

    // Within the limit, the same image runs.
    await meshlet.setImagePolicy({ maxImageMiB: 4096 })
    const fits = await submit({ image })
    await eventually('it runs', async () => (await containersOf(fits)).length === 1, 30_000)
    await remove(fits)
    await eventually('cleaned up', async () => (await containersOf(fits, true)).length === 0)
    await meshlet.setImagePolicy({})
  })
})

describe('a meshlet whose Docker goes away', () => {
  it('stops saying it lends, makes no bid, says why, and lends again when Docker is back', async () => {
    expect((await membership()).lending).toBe(true)
    proxy.setDown(true)
    await eventually('not lending published', async () => {
      const m = await membership()
      return m.lending === false && m.dockerAvailable === false
    })
    expect(meshlet.isLending).toBe(false)
    expect(meshlet.dockerProblem).toMatch(/^Docker is not reachable/)
    const uri = await submit()
    await pastWindow()
    expect(await bobBid(uri)).toBeUndefined()
    const { reason, printed } = await statusOf(uri)
    expect(reason).toBe('docker-unavailable')
    expect(printed).toContain(describeReason('docker-unavailable'))

    proxy.setDown(false)
    await eventually(
      'lending published again',
      async () => {
        const m = await membership()
        return m.lending === true && m.dockerAvailable === undefined
      },
      30_000,
    )
    expect(meshlet.dockerProblem).toBeUndefined()
    // The next round (a few seconds later) gets its bid, and the replica runs.
    await eventually('it runs', async () => (await containersOf(uri)).length === 1, 40_000)
    await remove(uri)
    await eventually('cleaned up', async () => (await containersOf(uri, true)).length === 0)
  })

  it('at start: refuses to start, and its record says Docker is away', async () => {
    const carol = await createMember(net, 'carol')
    await link(carol)
    const missing = dockerMeshlet(net, carol, [alice], {
      runtime: new Runtime({
        meshletDid: carol.meshlet.did,
        docker: new Docker({ socketPath: `/nonexistent/${randomId()}.sock` }),
      }),
    })
    await expect(missing.start()).rejects.toThrow(/Docker engine is not reachable/)
    const r = await carol.meshlet.session.agent.com.atproto.repo.getRecord({
      repo: carol.meshlet.did,
      collection: NSID.membership,
      rkey: 'self',
    })
    expect(r.data.value).toMatchObject({ lending: false, dockerAvailable: false })
  })
})
