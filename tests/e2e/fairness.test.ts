// Forged usage against real meshlets on a real PDS: a member's meshlet publishes statuses for a
// workload that does not exist and for a round it never won, with impossible run times and sizes.
// The ledger before the audit believed them; the audited ledger every meshlet ranks by does not.
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { accounts, ledger } from '../../core/fairshare/index.js'
import { clusterView } from '../../core/identity/cluster.js'
import { NSID } from '../../core/lexicon/index.js'
import { Meshlet } from '../../core/meshlet.js'
import { DEFAULT_CONFIG, bidRkey } from '../../core/scheduling/index.js'
import { workloadStatusReport } from '../../core/status.js'
import { TEST_IMAGE } from '../infra.js'
import {
  containersOf,
  dockerMeshlet,
  removeContainersOf,
  prepareSource,
  sourceConfig,
} from './_util.js'
import { LABEL_MESHLET } from '../../core/runtime/index.js'
import {
  createMember,
  eventually,
  link,
  localIdentity,
  startNetwork,
  type Member,
  type Network,
} from '../_util.js'

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
  // Honest meshlets without Docker: they follow, audit and explain, but never bid.
  for (const m of all) {
    const meshlet = new Meshlet({
      did: m.meshlet.did,
      owner: m.owner.did,
      members: all.filter((o) => o !== m).map((o) => o.owner.did),
      identity: localIdentity(net),
      writer: m.meshlet.session,
      firehose: net.pds.url,
      source: sourceConfig(net),
      offer: { cpuMillis: 1000, memoryMiB: 256 },
    })
    meshlets.push(meshlet)
    await meshlet.start()
  }
  await eventually('all three mutual', () =>
    meshlets.every((x) => x.clusterReport.peers.length === 3),
  )
})

afterAll(async () => {
  for (const m of meshlets) await m.stop()
  await removeContainersOf([alice, bob, carol].filter(Boolean).map((m) => m.meshlet.did))
  await net?.close()
})

describe('forged usage', () => {
  it('moves nobody’s balance or priority', async () => {
    const created = new Date(Date.now() - 3_600_000).toISOString()
    const real = await bob.owner.session.create(NSID.workload, {
      image: 'registry.invalid/never:1',
      resources: { cpuMillis: 100, memoryMiB: 32 },
      replicas: 1,
      createdAt: created,
    })
    const ghost = `at://${alice.owner.did}/${NSID.workload}/3lghostghost2`
    const huge = { cpuMillis: 64_000, memoryMiB: 65_536 }
    const now = new Date().toISOString()
    // For a workload Alice never published: credits Carol, debits Alice.
    await carol.meshlet.session.put(NSID.workloadStatus, bidRkey(ghost, 0, real.cid), {
      workload: { uri: ghost, cid: real.cid },
      round: 0,
      state: 'running',
      resources: huge,
      usage: { wallMs: 1_000_000_000_000 },
      startedAt: created,
      updatedAt: now,
    })
    // For Bob's real workload, in a round Carol's meshlet never bid in, let alone won.
    await carol.meshlet.session.put(NSID.workloadStatus, bidRkey(real.uri, 0, real.cid), {
      workload: { uri: real.uri, cid: real.cid },
      round: 0,
      state: 'exited',
      exitCode: 0,
      resources: huge,
      usage: { wallMs: 3_600_000 },
      startedAt: created,
      updatedAt: now,
    })
    await eventually('every meshlet holds both forged statuses', () =>
      meshlets.every(
        (m) =>
          m.store.allStatuses().filter((s) => s.meshlet === carol.meshlet.did).length === 2 &&
          m.store.workloads.has(real.uri),
      ),
    )

    for (const m of meshlets) {
      const statuses = m.store.allStatuses()
      // What the ledger did before the audit: Carol up, Alice and Bob down by thousands of units.
      const naive = ledger(statuses, clusterView(m.store.linkage), Date.now())
      expect(naive.get(carol.owner.did)).toBeGreaterThan(1_000_000)
      expect(naive.get(alice.owner.did)).toBeLessThan(0)
      expect(accounts(statuses, clusterView(m.store.linkage), Date.now()).size).toBe(3)
      // What every meshlet ranks by now: nothing moved.
      const at = Date.now() + 10 * 60_000
      expect([...m.accountsAt(at)]).toEqual([])
      const audit = m.audit()
      for (const owner of [alice, bob, carol]) expect(audit.priorityAt(owner.owner.did, at)).toBe(0)
    }
    // The report anyone can compute agrees: Carol won nothing, so no bid and no winner.
    const report = await workloadStatusReport(localIdentity(net), real.uri, Date.now())
    expect(report.winners).toEqual([])
  })
})

describe('the free-rider floor', () => {
  it('makes a lender decline owners below it, and the owner sees why', async () => {
    // The same three, now lending with Docker: Bob's meshlet declines anyone below +0.001 units
    // (everyone here stands at 0), Carol's has no floor.
    for (const m of meshlets.splice(0)) await m.stop()
    const all = [alice, bob, carol]
    const others = (m: Member) => all.filter((o) => o !== m)
    const bobs = dockerMeshlet(net, bob, others(bob), { minBalance: 1 })
    const carols = dockerMeshlet(net, carol, others(carol))
    meshlets.push(bobs, carols)
    for (const m of meshlets) await m.start()
    await eventually('both mutual', () => meshlets.every((x) => x.clusterReport.peers.length === 3))
    await eventually("Bob's floor is published", () =>
      carols.store.policies.get(bob.meshlet.did)?.minBalance === 1 ? true : undefined,
    )
    const { uri } = await alice.owner.session.create(NSID.workload, {
      image: TEST_IMAGE,
      command: ['sleep', '600'],
      resources: { cpuMillis: 100, memoryMiB: 32 },
      replicas: 2,
      bidWindowMs: 2500,
      createdAt: new Date().toISOString(),
    })
    // Carol's is the only meshlet that takes it: both replicas end up there (spread is a
    // preference; the second follows once a round found nobody else to take it).
    const both = await eventually('two replicas, on Carol’s meshlet', async () => {
      const list = await containersOf(uri)
      return list.length === 2 && list
    })
    expect(both.map((c) => c.Labels[LABEL_MESHLET])).toEqual([carol.meshlet.did, carol.meshlet.did])
    // Judged on the grace these meshlets run with (dockerMeshlet's), or the second round's
    // window would not be theirs.
    const report = await workloadStatusReport(localIdentity(net), uri, Date.now(), {
      ...DEFAULT_CONFIG,
      graceMs: 500,
    })
    // Its current round is the second replica's; the first round's bid is listed as of another
    // round.
    expect(report.bids.filter((b) => b.valid).map((b) => b.meshlet)).toEqual([carol.meshlet.did])
    expect(report.noBid.find((n) => n.meshlet === bob.meshlet.did)).toEqual({
      meshlet: bob.meshlet.did,
      owner: bob.owner.did,
      reason: 'owner-below-floor',
      unknown: [],
    })
    // Alice's own meshlet stopped earlier: by what it published it could bid, so the reason is
    // honestly unknown rather than made up.
    expect(report.noBid.find((n) => n.meshlet === alice.meshlet.did)?.reason).toBeUndefined()
    await alice.owner.session.delete(NSID.workload, uri.split('/').pop()!)
    await eventually('cleaned up', async () => (await containersOf(uri, true)).length === 0)
  })
})
