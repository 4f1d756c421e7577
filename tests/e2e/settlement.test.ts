// A void bid kept past its round's settling, among real meshlets (real PDS, real Docker). Carol's
// meshlet runs a modified client: it bids the highest priority there is in two rounds of Alice's
// workloads and never deletes those bids. The audit voids them and Bob's meshlet wins both. Once
// the rounds settle (no longer auditable: half the retention after their cutoff), peers used to
// take the bids on their word: Carol's meshlet became the winner on every meshlet's next plan,
// Bob's running service replica was unseated, and the finished job's credit left Bob. Now Alice's
// meshlet attests the audited winners while the rounds can be audited, and they stand.
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { main } from '../../core/cli/main.js'
import { CUTOFF_STEP_MS } from '../../core/fairshare/index.js'
import { NSID } from '../../core/lexicon/index.js'
import type { Meshlet } from '../../core/meshlet.js'
import { LABEL_MESHLET } from '../../core/runtime/index.js'
import { bidRkey, MAX_PRIORITY } from '../../core/scheduling/index.js'
import { workloadStatusReport } from '../../core/status.js'
import { TEST_IMAGE } from '../infra.js'
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
import { containersOf, dockerMeshlet, removeContainersOf } from './_util.js'

let net: Network
let alice: Member, bob: Member, carol: Member
const meshlets: Meshlet[] = []
let settleMs = 0

beforeAll(async () => {
  net = await startNetwork()
  alice = await createMember(net, 'alice')
  bob = await createMember(net, 'bob')
  carol = await createMember(net, 'carol')
  for (const m of [alice, bob, carol]) await link(m)
  // Carol's meshlet is not one of ours: its records are written by hand, as a modified client's.
  await setMembership(carol, [alice, bob])
  // Rounds are judged by ledgers on a 5-minute grid, so a round opening now has its cutoff at
  // the last multiple of 5 minutes. The settle period is chosen so that the rounds below settle
  // about 100 s from now: long enough to be decided, audited and attested first.
  let now = Date.now()
  if (now % CUTOFF_STEP_MS > CUTOFF_STEP_MS - 60_000) {
    await new Promise((r) => setTimeout(r, CUTOFF_STEP_MS - (now % CUTOFF_STEP_MS) + 1000))
    now = Date.now()
  }
  settleMs = (now % CUTOFF_STEP_MS) + 100_000
  const retentionMs = 2 * settleMs
  // Alice's meshlet lends nothing: it is there to attest her workloads' rounds.
  meshlets.push(dockerMeshlet(net, alice, [bob, carol], { retentionMs, lending: false }))
  meshlets.push(dockerMeshlet(net, bob, [alice, carol], { retentionMs }))
  for (const m of meshlets) await m.start()
  await eventually('all three mutual', () =>
    meshlets.every((x) => x.clusterReport.peers.length === 3),
  )
}, 120_000)

afterAll(async () => {
  for (const m of meshlets) await m.stop({ stopReplicas: true })
  await removeContainersOf([alice, bob].filter(Boolean).map((m) => m.meshlet.did))
  await net?.close()
})

async function submit(command: string[]) {
  const createdAt = new Date().toISOString()
  const resources = { cpuMillis: 500, memoryMiB: 64 }
  const w = await alice.owner.session.create(NSID.workload, {
    image: TEST_IMAGE,
    command,
    resources,
    replicas: 1,
    bidWindowMs: 2500,
    createdAt,
  })
  // Carol's modified client: the highest priority the lexicon allows, inside the window.
  await carol.meshlet.session.put(NSID.bid, bidRkey(w.uri, 0, w.cid), {
    workload: { uri: w.uri, cid: w.cid },
    round: 0,
    priority: MAX_PRIORITY,
    offer: resources,
    createdAt: new Date(Date.parse(createdAt) + 100).toISOString(),
  })
  return w
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

describe('a settled round', () => {
  it('keeps its audited winner: the replica stays and so does the credit', async () => {
    const service = await submit(['sleep', '600'])
    const job = await submit(['sleep', '10'])
    const [running] = await eventually(
      "the service on Bob's meshlet",
      async () => {
        const list = await containersOf(service.uri)
        return list.length === 1 && list
      },
      60_000,
    )
    expect(running!.Labels[LABEL_MESHLET]).toBe(bob.meshlet.did)
    // Carol's client also attests itself the winner, earlier than Alice's meshlet can: a
    // settlement from a meshlet that is not the workload owner's counts for nothing.
    for (const w of [service, job]) {
      await carol.meshlet.session.put(NSID.settlement, bidRkey(w.uri, 0, w.cid), {
        workload: { uri: w.uri, cid: w.cid },
        round: 0,
        winners: [carol.meshlet.did],
        createdAt: new Date().toISOString(),
      })
    }
    // Every meshlet voids Carol's bids while the rounds can be audited.
    type Seen = { bids: { meshlet: string; valid: boolean; reason?: string }[] } | undefined
    await eventually('Carol’s bids void everywhere', () =>
      meshlets.every((m) =>
        [service.uri, job.uri].every((u) =>
          (m.explanation(u) as Seen)?.bids.some(
            (b) => b.meshlet === carol.meshlet.did && b.reason === 'priority-mismatch',
          ),
        ),
      ),
    )
    const credited = (m: Meshlet) => {
      const at = Date.now()
      return m
        .audit(at)
        .creditsAt(at)
        .some((c) => c.workload === job.uri && c.meshlet === bob.meshlet.did && c.round === 0)
    }
    await eventually(
      'the job ran, ended, and is credited to Bob',
      () => meshlets.every(credited),
      60_000,
    )

    // Alice's meshlet attests both rounds while they can be audited.
    await eventually(
      'settlements naming Bob’s meshlet',
      async () => {
        const res = await alice.owner.session.agent.com.atproto.repo.listRecords({
          repo: alice.meshlet.did,
          collection: NSID.settlement,
        })
        const named = res.data.records.map(
          (r) => r.value as { workload: { uri: string }; winners: string[] },
        )
        return [service.uri, job.uri].every((u) =>
          named.some((n) => n.workload.uri === u && n.winners.join() === bob.meshlet.did),
        )
      },
      90_000,
    )

    // Anyone can see which settlement counts, and why another does not.
    const report = await workloadStatusReport(localIdentity(net), service.uri, Date.now())
    expect(report.settlements).toEqual([
      expect.objectContaining({
        meshlet: carol.meshlet.did,
        counts: false,
        reason: 'settlement-not-owner',
      }),
      expect.objectContaining({
        meshlet: alice.meshlet.did,
        round: 0,
        winners: [bob.meshlet.did],
        counts: true,
      }),
    ])
    const out: string[] = []
    const code = await main(
      ['status', service.uri, '--plc', net.plc.url, '--handle-resolver', net.pds.url],
      { out: (l) => out.push(l), err: (l) => out.push(l), env: {} },
    )
    expect(code).toBe(0)
    expect(out).toContain(`    counts  round 0 by ${alice.meshlet.did}: ${bob.meshlet.did}`)
    expect(out).toContain(
      `    ignored round 0 by ${carol.meshlet.did}: ${carol.meshlet.did} — settlement-not-owner`,
    )

    // Wait for both rounds to settle, then watch every meshlet plan on them for a while.
    const audit = meshlets[0]!.audit()
    const settlesAt = Math.max(
      ...[service.uri, job.uri].map((u) => {
        const w = meshlets[0]!.store.workloads.get(u)!
        return audit.cutoffOf(audit.history(w, Date.now()).rounds[0]!) + settleMs
      }),
    )
    expect(audit.settleMs).toBe(settleMs)
    expect(settlesAt).toBeGreaterThan(Date.now())
    await sleep(settlesAt - Date.now() + 1000)
    // Each meshlet plans again within lostAfter (its replicas' liveness, presence, wake-ups).
    const until = Date.now() + 40_000
    while (Date.now() < until) {
      for (const m of meshlets) {
        const a = m.audit()
        const w = m.store.workloads.get(service.uri)!
        expect(a.settled(a.history(w, Date.now()).rounds[0]!)).toBe(true)
        expect(a.history(w, Date.now()).placements.map((p) => p.meshlet)).toEqual([bob.meshlet.did])
        expect(credited(m)).toBe(true)
      }
      expect((await containersOf(service.uri)).map((c) => c.Id)).toEqual([running!.Id])
      await sleep(1000)
    }
    // Carol's bids now count for nothing because Alice's meshlet did not name them, and the
    // finished job was not placed again.
    await eventually('Carol’s bid not attested, everywhere', () =>
      meshlets.every((m) =>
        (m.explanation(service.uri) as Seen)?.bids.some(
          (b) => b.meshlet === carol.meshlet.did && b.reason === 'not-attested',
        ),
      ),
    )
    for (const m of meshlets) {
      expect(m.store.bidsFor(job.uri).map((b) => b.record.round)).not.toContain(1)
    }
  }, 300_000)
})
