// Workloads end to end: a real PLC + PDS, a real Docker engine and three meshlets, each with
// its own DID, selecting winners from the same public bids with no central scheduler.
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { NSID } from '../../core/lexicon/index.js'

import { main } from '../../core/cli/main.js'
import { Meshlet } from '../../core/meshlet.js'
import { LABEL_MESHLET } from '../../core/runtime/index.js'
import { bidRkey, describeReason, MAX_PRIORITY } from '../../core/scheduling/index.js'
import { workloadStatusReport } from '../../core/status.js'
import { TEST_IMAGE, TEST_REGISTRY } from '../infra.js'
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
import {
  containersOf,
  removeContainersOf,
  statusesOf,
  dockerMeshlet,
  prepareSource,
} from './_util.js'

let net: Network
let members: Member[]
let eve: Member
const meshlets = new Map<string, Meshlet>()

function meshletFor(m: Member, others: Member[]): Meshlet {
  return dockerMeshlet(net, m, others)
}

async function submit(m: Member, extra: Record<string, unknown> = {}) {
  return m.owner.session.create(NSID.workload, {
    image: TEST_IMAGE,
    command: ['sleep', '600'],
    resources: { cpuMillis: 100, memoryMiB: 32 },
    replicas: 2,
    // Roomy: under a full parallel test run Docker is slow to answer, and a missed window costs
    // a 90 s retry.
    bidWindowMs: 2500,
    createdAt: new Date().toISOString(),
    ...extra,
  })
}

const ownerPds = () => members[0]!.owner.session.agent.com.atproto.repo

const statusesFor = (uri: string) => statusesOf(members[0]!, members, uri)

beforeAll(async () => {
  net = await startNetwork()
  await prepareSource(net)
  members = []
  for (const name of ['alice', 'bob', 'carol']) members.push(await createMember(net, name))
  eve = await createMember(net, 'eve')
  for (const m of [...members, eve]) await link(m)
  await setMembership(eve, members) // eve lists everyone; nobody lists eve
  for (const m of members) {
    const meshlet = meshletFor(
      m,
      members.filter((o) => o !== m),
    )
    meshlets.set(m.meshlet.did, meshlet)
    await meshlet.start()
  }
  await eventually('all three mutual', () =>
    [...meshlets.values()].every((x) => x.clusterReport.peers.length === 3),
  )
})

afterAll(async () => {
  for (const m of meshlets.values()) await m.stop({ stopReplicas: true })
  await removeContainersOf(members.map((m) => m.meshlet.did))
  await net?.close()
})

describe('workloads end to end', () => {
  let uri: string

  it('runs two replicas on two distinct meshlets, which report running', async () => {
    uri = (await submit(members[0]!)).uri
    const running = await eventually('two containers', async () => {
      const list = await containersOf(uri)
      return list.length === 2 && list
    })
    const hosts = running.map((c) => c.Labels[LABEL_MESHLET])
    expect(new Set(hosts).size).toBe(2)
    const statuses = await eventually('two running statuses', async () => {
      const s = (await statusesFor(uri)).filter((x) => x.state === 'running')
      return s.length === 2 && s
    })
    expect(statuses.map((s) => s.meshlet).sort()).toEqual([...hosts].sort())
    // Every meshlet agrees on the winners.
    const report = await workloadStatusReport(localIdentity(net), uri, Date.now())
    expect([...report.winners].sort()).toEqual([...hosts].sort())
    // And it stays two: no third meshlet starts one.
    await new Promise((r) => setTimeout(r, 1500))
    expect(await containersOf(uri)).toHaveLength(2)
  })

  it('leaves no duplicate and no orphan when a meshlet daemon is killed and started again', async () => {
    const before = (await containersOf(uri)).map((c) => c.Id)
    const [host] = (await containersOf(uri)).map((c) => c.Labels[LABEL_MESHLET]!)
    const old = meshlets.get(host!)!
    await old.stop() // as a crash would: its container keeps running
    const m = members.find((x) => x.meshlet.did === host)!
    const again = meshletFor(
      m,
      members.filter((o) => o !== m),
    )
    meshlets.set(host!, again)
    await again.start()
    await new Promise((r) => setTimeout(r, 2000))
    const list = await containersOf(uri, true)
    expect(list).toHaveLength(2)
    expect(list.every((c) => c.State === 'running')).toBe(true)
    // The very containers from before: kept, not replaced.
    expect(list.map((c) => c.Id).sort()).toEqual(before.sort())

    // A workload deleted while its meshlet is down leaves an orphan, removed on restart.
    await again.stop()
    const survivor = (await containersOf(uri)).find((c) => c.Labels[LABEL_MESHLET] === host)
    expect(survivor).toBeDefined()
    const other = members.find((x) => x.meshlet.did !== host && meshlets.get(x.meshlet.did))!
    expect(other).toBeDefined()
    await members[0]!.owner.session.delete(NSID.workload, uri.split('/').pop()!)
    const third = meshletFor(
      m,
      members.filter((o) => o !== m),
    )
    meshlets.set(host!, third)
    await third.start()
    await eventually(
      'all containers of the deleted workload removed',
      async () => (await containersOf(uri, true)).length === 0,
    )
  })

  it('removes the containers when the workload record is deleted', async () => {
    const { uri: u } = await submit(members[1]!)
    await eventually('two containers', async () => (await containersOf(u)).length === 2)
    await members[1]!.owner.session.delete(NSID.workload, u.split('/').pop()!)
    await eventually('containers removed', async () => (await containersOf(u, true)).length === 0)
    // Each replica reports it was stopped (published right after its container is removed).
    await eventually('both report stopped', async () => {
      const states = (await statusesFor(u)).map((s) => s.state)
      return states.length === 2 && states.every((x) => x === 'stopped')
    })
  })

  it('voids an inflated priority: the bid loses, the winner keeps its replica, status says why', async () => {
    const { uri: u, cid } = await submit(members[0]!, { replicas: 1 })
    const [first] = await eventually('one container', async () => {
      const list = await containersOf(u)
      return list.length === 1 && list
    })
    const winner = first!.Labels[LABEL_MESHLET]!
    const cheat = members.find((m) => m.meshlet.did !== winner)!
    // A member's meshlet declares the highest priority the lexicon allows, inside the window:
    // before the audit, this bid won and the replica moved to it.
    const w = meshlets.get(winner)!.store.workloads.get(u)!
    await cheat.meshlet.session.put(NSID.bid, bidRkey(u, 0, cid), {
      workload: { uri: u, cid },
      round: 0,
      priority: MAX_PRIORITY,
      offer: w.record.resources,
      createdAt: new Date(Date.parse(w.record.createdAt) + 100).toISOString(),
    })
    type Seen = { bids: { meshlet: string; valid: boolean; reason?: string }[] } | undefined
    await eventually('every meshlet judges the bid void', () =>
      [...meshlets.values()].every((x) =>
        (x.explanation(u) as Seen)?.bids.some(
          (b) => b.meshlet === cheat.meshlet.did && !b.valid && b.reason === 'priority-mismatch',
        ),
      ),
    )
    const list = await containersOf(u)
    expect(list.map((c) => c.Labels[LABEL_MESHLET])).toEqual([winner])
    expect((await statusesFor(u)).filter((s) => s.state === 'yielded')).toEqual([])
    // Anyone can see why, from the public records.
    const report = await workloadStatusReport(localIdentity(net), u, Date.now())
    expect(report.winners).toEqual([winner])
    const voided = report.bids.find((b) => b.meshlet === cheat.meshlet.did)!
    expect(voided).toMatchObject({ valid: false, reason: 'priority-mismatch', winner: false })
    expect(voided.audited).not.toBe(MAX_PRIORITY)
    const out: string[] = []
    const code = await main(['status', u, '--plc', net.plc.url, '--handle-resolver', net.pds.url], {
      out: (l) => out.push(l),
      err: (l) => out.push(l),
      env: {},
    })
    expect(code).toBe(0)
    const line = out.find((l) => l.includes(cheat.meshlet.did) && l.includes('void'))
    expect(line).toContain('priority-mismatch')
    expect(line).toContain(describeReason('priority-mismatch'))
    await members[0]!.owner.session.delete(NSID.workload, u.split('/').pop()!)
    await eventually('cleaned up', async () => (await containersOf(u, true)).length === 0)
  })

  it('reports a bad image as a failed replica, with the cause, and leaves nothing behind', async () => {
    const image = `${TEST_REGISTRY}/commune/no-such-image:1`
    const { uri: u } = await submit(members[0]!, { replicas: 1, image })
    const failed = await eventually('a failed status', async () =>
      (await statusesFor(u)).find((s) => s.state === 'failed'),
    )
    expect(failed.message).toContain(image)
    expect(await containersOf(u, true)).toHaveLength(0)
  })

  it('never runs a workload from a stranger', async () => {
    const { uri: u } = await submit(eve, { replicas: 1 })
    await new Promise((r) => setTimeout(r, 5000)) // window 2.5 s + grace 0.5 s, and margin
    expect(await containersOf(u, true)).toHaveLength(0)
    const bids = []
    for (const m of members) {
      const res = await ownerPds().listRecords({ repo: m.meshlet.did, collection: NSID.bid })
      bids.push(
        ...res.data.records.filter(
          (r) => (r.value as { workload: { uri: string } }).workload.uri === u,
        ),
      )
    }
    expect(bids).toHaveLength(0)
  })

  it('never runs a workload bigger than any offer, and status says why', async () => {
    const { uri: u } = await submit(members[2]!, {
      replicas: 1,
      resources: { cpuMillis: 64_000, memoryMiB: 32 },
    })
    await new Promise((r) => setTimeout(r, 5000))
    expect(await containersOf(u, true)).toHaveLength(0)
    const report = await workloadStatusReport(localIdentity(net), u, Date.now())
    expect(report.winners).toEqual([])
    expect(report.noBid.map((n) => n.reason)).toEqual([
      'exceeds-offer',
      'exceeds-offer',
      'exceeds-offer',
    ])
    expect(report.headline).toContain(describeReason('exceeds-offer'))
    // The same answer from the command line.
    const out: string[] = []
    const code = await main(['status', u, '--plc', net.plc.url, '--handle-resolver', net.pds.url], {
      out: (l) => out.push(l),
      err: (l) => out.push(l),
      env: {},
    })
    expect(code).toBe(0)
    expect(out.join('\n')).toContain(describeReason('exceeds-offer'))
  })
})
