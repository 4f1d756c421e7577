// Every field of the workload spec takes effect, end to end: `meshlet submit` and `meshlet update`
// as a person runs them, a real PLC + PDS, two members' meshlets running guests in the real Docker
// engine (alice's lends egress, bob's does not), and what the guests themselves see.
import { arch as osArch } from 'node:os'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { main } from '../../core/cli/main.js'
import { NSID } from '../../core/lexicon/index.js'
import { Meshlet } from '../../core/meshlet.js'
import { EGRESS_NETWORK, LABEL_CID, LABEL_MESHLET } from '../../core/runtime/index.js'
import { DEFAULT_CONFIG, describeReason } from '../../core/scheduling/index.js'
import { workloadStatusReport } from '../../core/status.js'
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
import { containersOf, docker, dockerMeshlet, removeContainersOf, prepareSource } from './_util.js'

let net: Network
let alice: Member
let bob: Member
const meshlets: Meshlet[] = []
/** The protocol's own timings: `meshlet status`, run here as a member would, replays rounds
 *  with them, so daemons on a shorter grace would be judged by a history they did not make. */
const config = DEFAULT_CONFIG
/** Short windows keep the file fast; long enough for a bid under a loaded machine. */
const WINDOW = ['--bid-window', '2000']
/** A failing guest lives a moment first, so its `running` status is written before `failed`. */
const FAIL = ['--', 'sh', '-c', 'sleep 1; exit 3']

beforeAll(async () => {
  net = await startNetwork()
  await prepareSource(net)
  alice = await createMember(net, 'alice')
  bob = await createMember(net, 'bob')
  for (const m of [alice, bob]) await link(m)
  const offer = { cpuMillis: 1000, memoryMiB: 512, storageMiB: 256 }
  meshlets.push(dockerMeshlet(net, alice, [bob], { offer, allowEgress: true, config }))
  meshlets.push(dockerMeshlet(net, bob, [alice], { offer, config }))
  for (const m of meshlets) await m.start()
  await eventually('both mutual', () => meshlets.every((x) => x.clusterReport.peers.length === 2))
})

afterAll(async () => {
  for (const m of meshlets) await m.stop({ stopReplicas: true })
  await removeContainersOf([alice?.meshlet.did, bob?.meshlet.did].filter(Boolean))
  await net?.close()
})

async function cli(argv: string[]) {
  const out: string[] = []
  const err: string[] = []
  const [command = '', ...rest] = argv
  const code = await main(
    [command, '--plc', net.plc.url, '--handle-resolver', net.pds.url, ...rest],
    {
      out: (l) => out.push(l),
      err: (l) => err.push(l),
      env: { OWNER_PASSWORD: alice.owner.password },
    },
  )
  return { code, out: out.join('\n'), err: err.join('\n') }
}

async function submit(flags: string[]): Promise<string> {
  const r = await cli(['submit', '--owner', alice.owner.did, '--image', TEST_IMAGE, ...flags])
  expect(r.err).toBe('')
  expect(r.code).toBe(0)
  return r.out.trim()
}

async function remove(uri: string): Promise<void> {
  await alice.owner.session.delete(NSID.workload, uri.split('/').pop()!)
  await eventually('its containers gone', async () => (await containersOf(uri, true)).length === 0)
}

/** The one running container of a workload, once there is one. */
async function runningContainer(uri: string, cid?: string) {
  const c = await eventually('a running container', async () => {
    const list = (await containersOf(uri)).filter((x) => !cid || x.Labels[LABEL_CID] === cid)
    return list.length === 1 && list[0]
  })
  return docker.getContainer(c.Id)
}

async function logsOf(container: ReturnType<typeof docker.getContainer>): Promise<string> {
  const buf = await container.logs({ stdout: true, stderr: true })
  return buf.toString('utf8')
}

async function outputContains(uri: string, text: string, cid?: string): Promise<string> {
  const c = await runningContainer(uri, cid)
  return eventually(`output with ${text}`, async () => {
    const out = await logsOf(c)
    return out.includes(text) && out
  })
}

const report = (uri: string, now = Date.now()) =>
  workloadStatusReport(localIdentity(net), uri, now, config)

describe('the workload spec, field by field', () => {
  it('--env: the guest sees the variables, and no network without --egress', async () => {
    const uri = await submit([
      ...WINDOW,
      '--env',
      'GREETING=hello=there',
      '--env',
      'EMPTY=',
      '--',
      'sh',
      '-c',
      'echo "greeting:$GREETING:${EMPTY-unset}:"; cat /proc/net/dev; sleep 600',
    ])
    const out = await outputContains(uri, 'greeting:')
    expect(out).toContain('greeting:hello=there::')
    // Network `none`: the guest has a loopback interface and nothing else.
    expect(out).not.toMatch(/eth\d:/)
    await remove(uri)
  })

  it('--storage: Docker gets a /tmp of that size and the guest sees it', async () => {
    const uri = await submit([
      ...WINDOW,
      '--storage',
      '24',
      '--',
      'sh',
      '-c',
      'df -k /tmp; sleep 600',
    ])
    const c = await runningContainer(uri)
    const info = await c.inspect()
    expect(info.HostConfig.Tmpfs?.['/tmp']).toContain('size=24m')
    expect(info.HostConfig.ShmSize).toBe(24 * 1024 * 1024)
    const out = await outputContains(uri, '/tmp')
    // busybox df -k: "tmpfs  24576  0  24576  0% /tmp"
    expect(out).toMatch(/\s24576\s.*\/tmp/)
    await remove(uri)
  })

  it('--arch: meshlets of another architecture do not bid, and say arch-mismatch', async () => {
    const here = osArch() === 'arm64' ? 'arm64' : 'amd64'
    const other = here === 'arm64' ? 'amd64' : 'arm64'
    const uri = await submit([...WINDOW, '--arch', other, '--', 'sleep', '600'])
    const r = await eventually('both meshlets explain', async () => {
      const r = await report(uri)
      return r.noBid.length === 2 && r.decided && r
    })
    expect(r.noBid.map((n) => n.reason)).toEqual(['arch-mismatch', 'arch-mismatch'])
    expect(r.bids).toEqual([])
    const status = await cli(['status', uri])
    expect(status.out).toContain(`${alice.meshlet.did} (${alice.owner.did}) — arch-mismatch`)
    expect(status.out).toContain(`${bob.meshlet.did} (${bob.owner.did}) — arch-mismatch`)
    expect(await containersOf(uri, true)).toEqual([])
    // The architecture it runs on is taken (aliases too), by `update`.
    const alias = here === 'arm64' ? 'aarch64' : 'x86_64'
    expect((await cli(['update', uri, '--arch', `${other},${alias}`])).code).toBe(0)
    await runningContainer(uri)
    await remove(uri)
  })

  it('--max-runtime: the replica is stopped and its status says it ran past its limit', async () => {
    const uri = await submit([...WINDOW, '--max-runtime', '2', '--', 'sleep', '600'])
    await runningContainer(uri)
    const ended = await eventually('a failed status', async () => {
      const s = (await report(uri)).statuses.find((x) => x.state === 'failed')
      return s
    })
    expect(ended).toMatchObject({ state: 'failed', reason: 'max-runtime-exceeded' })
    expect(ended.message).toContain('maximum runtime of 2 s')
    expect(await containersOf(uri)).toEqual([])
    const status = await cli(['status', uri])
    expect(status.out).toMatch(/round 0: failed \[max-runtime-exceeded\]/)
    await remove(uri)
  })

  it('--restart on-failure: placed again up to the attempts, with back-off, then it stays failed', async () => {
    const uri = await submit([
      ...WINDOW,
      '--restart',
      'on-failure',
      '--restart-attempts',
      '2',
      '--restart-delay',
      '1',
      ...FAIL,
    ])
    const r = await eventually(
      'three failures',
      async () => {
        const r = await report(uri)
        const failed = r.statuses.filter((s) => s.state === 'failed')
        return failed.length === 3 && r
      },
      60_000,
    )
    const byRound = r.statuses.sort((a, b) => a.round - b.round)
    expect(byRound.map((s) => [s.round, s.exitCode])).toEqual([
      [0, 3],
      [1, 3],
      [2, 3],
    ])
    // The meshlet a failure happened on sits out the next round only: the replica went to the
    // other meshlet, then came back.
    const [first, second, third] = byRound.map((s) => s.meshlet)
    expect(second).not.toBe(first)
    expect(third).toBe(first)
    // Two new placements were allowed: as every peer computes it, no round follows, ever.
    const later = await report(uri, Date.now() + 10 * 60_000)
    expect(later.round).toMatchObject({ round: 2, exhausted: true })
    // And `meshlet status` says so once the last failure's back-off has passed.
    await eventually('status says exhausted', async () =>
      (await cli(['status', uri])).out.includes(describeReason('retries-exhausted')),
    )
    await remove(uri)
  })

  it('--restart never: a failed replica is not placed again', async () => {
    const uri = await submit([...WINDOW, '--restart', 'never', ...FAIL])
    const failed = await eventually(
      'a failure',
      async () => (await report(uri)).statuses.find((s) => s.state === 'failed'),
      30_000,
    )
    expect(failed).toMatchObject({ round: 0, exitCode: 3 })
    const later = await report(uri, Date.now() + 10 * 60_000)
    expect(later.round).toMatchObject({ round: 0, slots: 1 })
    expect(later.statuses).toHaveLength(1)
    // The other meshlet made no bid after the failure.
    const bids = await bob.owner.session.agent.com.atproto.repo.listRecords({
      repo: failed.meshlet === bob.meshlet.did ? alice.meshlet.did : bob.meshlet.did,
      collection: NSID.bid,
    })
    expect(
      bids.data.records
        .filter(
          (b) => (b.value as { workload: { uri: string }; round: number }).workload.uri === uri,
        )
        .map((b) => (b.value as { round: number }).round),
    ).not.toContain(1)
    await remove(uri)
  })

  it('update: a new version runs and the old replica yields', async () => {
    const uri = await submit([
      ...WINDOW,
      '--env',
      'VERSION=1',
      '--memory',
      '32',
      '--',
      'sh',
      '-c',
      'echo "version:$VERSION"; sleep 600',
    ])
    const first = await runningContainer(uri)
    const oldCid = (await first.inspect()).Config.Labels[LABEL_CID]!
    expect(await outputContains(uri, 'version:1')).toContain('version:1')

    const r = await cli(['update', uri, '--env', 'VERSION=2', '--restart', 'on-failure'])
    expect(r).toMatchObject({ code: 0, out: uri })
    const record = await alice.owner.session.agent.com.atproto.repo.getRecord({
      repo: alice.owner.did,
      collection: NSID.workload,
      rkey: uri.split('/').pop()!,
    })
    const value = record.data.value as Record<string, unknown>
    // The flags given replaced their fields; the others were kept.
    expect(value).toMatchObject({
      env: [{ name: 'VERSION', value: '2' }],
      resources: { cpuMillis: 100, memoryMiB: 32 },
      restartPolicy: { mode: 'on-failure', maxAttempts: 3, delayMs: 5000 },
      command: ['sh', '-c', 'echo "version:$VERSION"; sleep 600'],
    })
    expect(Date.parse(value.updatedAt as string)).toBeGreaterThan(
      Date.parse(value.createdAt as string),
    )
    const newCid = record.data.cid!
    expect(newCid).not.toBe(oldCid)

    expect(await outputContains(uri, 'version:2', newCid)).toContain('version:2')
    await eventually('the old version gone', async () =>
      (await containersOf(uri, true)).every((c) => c.Labels[LABEL_CID] === newCid),
    )
    await remove(uri)
  })

  it('--egress: runs with network, and only on the meshlet whose lender allows it', async () => {
    const uri = await submit([
      ...WINDOW,
      '--egress',
      '--replicas',
      '2',
      '--',
      'sh',
      '-c',
      'cat /proc/net/dev; sleep 600',
    ])
    // Only alice may run it: both replicas end up there (spread is a preference; the second
    // follows once a round found nobody else to take it).
    const both = await eventually('two running containers', async () => {
      const list = await containersOf(uri)
      return list.length === 2 && list
    })
    expect(both.map((x) => x.Labels[LABEL_MESHLET])).toEqual([alice.meshlet.did, alice.meshlet.did])
    const info = await docker.getContainer(both[0]!.Id).inspect()
    expect(info.HostConfig.NetworkMode).toBe(EGRESS_NETWORK)
    const out = await eventually('output with eth0:', async () => {
      const text = await logsOf(docker.getContainer(both[0]!.Id))
      return text.includes('eth0:') && text
    })
    expect(out).toMatch(/eth0:/)
    const r = await eventually('bob explains', async () => {
      const r = await report(uri)
      return r.noBid.some((n) => n.meshlet === bob.meshlet.did) && r
    })
    expect(r.noBid.find((n) => n.meshlet === bob.meshlet.did)?.reason).toBe('egress-not-allowed')
    // Bob never runs it.
    expect((await containersOf(uri, true)).map((x) => x.Labels[LABEL_MESHLET])).toEqual([
      alice.meshlet.did,
      alice.meshlet.did,
    ])
    await remove(uri)
  })
})
