// A storm on the real stack (PDS, Docker, three meshlets in this process, default timings): ten
// workloads of 2 replicas at 250 millicores published within 2 s onto three meshlets offering
// 8 slots each. Capacity is held by wins, not by bids: bids overcommit, winners decline the
// excess, and the declined rounds reopen at once, so all 20 replicas run, spread over all three,
// and no meshlet ever runs more than its offer (docs/failure-handling.md).
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { NSID } from '../../core/lexicon/index.js'
import type { Meshlet } from '../../core/meshlet.js'
import { LABEL_MESHLET, LABEL_WORKLOAD } from '../../core/runtime/index.js'
import { DEFAULT_CONFIG } from '../../core/scheduling/index.js'
import { TEST_IMAGE } from '../infra.js'
import {
  createMember,
  eventually,
  link,
  startNetwork,
  type Member,
  type Network,
} from '../_util.js'
import { docker, dockerMeshlet, removeContainersOf, prepareSource } from './_util.js'

const CPU = 250
const SLOTS = 8
let net: Network
let members: Member[]
const meshlets = new Map<string, Meshlet>()

beforeAll(async () => {
  net = await startNetwork()
  await prepareSource(net)
  members = []
  for (const name of ['alice', 'bob', 'carol']) members.push(await createMember(net, name))
  for (const m of members) await link(m)
  for (const m of members) {
    const meshlet = dockerMeshlet(
      net,
      m,
      members.filter((o) => o !== m),
      {
        offer: { cpuMillis: SLOTS * CPU, memoryMiB: 1024 },
        // The default timings, grace included (dockerMeshlet shortens it otherwise).
        config: { ...DEFAULT_CONFIG },
      },
    )
    meshlets.set(m.meshlet.did, meshlet)
    await meshlet.start()
  }
  await eventually('all three mutual', () =>
    [...meshlets.values()].every((x) => x.clusterReport.peers.length === 3),
  )
  // Three meshlets and a PDS start slowly on a loaded machine.
}, 180_000)

afterAll(async () => {
  for (const m of meshlets.values()) await m.stop({ stopReplicas: true }).catch(() => undefined)
  await removeContainersOf(members.map((m) => m.meshlet.did))
  await net?.close()
})

/** The running guests of our meshlets, per meshlet DID and per workload URI. A workload may
 *  run both replicas on one meshlet where no other had room (spread is a preference). */
async function observe(uris: Set<string>) {
  const list = await docker.listContainers({ filters: { label: [LABEL_MESHLET] } })
  const perMeshlet = new Map<string, number>()
  const perWorkload = new Map<string, number>()
  for (const c of list) {
    const host = c.Labels[LABEL_MESHLET] ?? ''
    const uri = c.Labels[LABEL_WORKLOAD] ?? ''
    if (!meshlets.has(host) || c.State !== 'running') continue
    perMeshlet.set(host, (perMeshlet.get(host) ?? 0) + 1)
    if (uris.has(uri)) perWorkload.set(uri, (perWorkload.get(uri) ?? 0) + 1)
  }
  return { perMeshlet, perWorkload }
}

describe('a storm', () => {
  it('ten workloads x 2 replicas in 2 s: all run, spread over all three meshlets, none over its offer', async () => {
    const started = Date.now()
    // Ten publishes dated 150 ms apart, so all inside 2 s by construction (a loaded machine's
    // late timers cannot stretch the storm); each waits for its date, and they do not wait for
    // each other, as a loaded PDS may take longer to answer than the spacing.
    const base = Date.now()
    const written = await Promise.all(
      Array.from({ length: 10 }, async (_, i) => {
        await new Promise((r) => setTimeout(r, i * 150))
        const owner = members[i % members.length]!
        const createdAt = new Date(base + i * 150).toISOString()
        const { uri } = await owner.owner.session.create(NSID.workload, {
          image: TEST_IMAGE,
          command: ['sleep', '600'],
          resources: { cpuMillis: CPU, memoryMiB: 16 },
          replicas: 2,
          createdAt,
        })
        return uri
      }),
    )
    const uris = new Set(written)

    let observations = 0
    let peak = 0
    const overs: string[] = []
    const settled = await eventually(
      'all 20 replicas running',
      async () => {
        const seen = await observe(uris)
        observations += 1
        // At every observation: no meshlet runs more than its offer holds (kept, not thrown:
        // eventually() would take a throw for "not yet").
        for (const [host, n] of seen.perMeshlet) {
          if (n > SLOTS) overs.push(`${host} ran ${n} guests of ${SLOTS}`)
          peak = Math.max(peak, n)
        }
        const full = [...uris].every((u) => seen.perWorkload.get(u) === 2)
        return full && seen
      },
      120_000,
    )
    const settledMs = Date.now() - started
    expect(overs).toEqual([])

    // Spread: every meshlet runs some of the storm.
    expect([...settled.perMeshlet.keys()].sort()).toEqual([...meshlets.keys()].sort())
    // The protocol's own figure: when, by the records, the last placement was decided.
    const decidedAt = Math.max(
      ...[...uris].map((u) => {
        const e = [...meshlets.values()][0]!.explanation(u) as { decideAt: number }
        return e.decideAt
      }),
    )
    const decidedMs = decidedAt - started
    const declined = [...meshlets.values()][0]!.store
      .allStatuses()
      .filter((s) => s.record.state === 'declined' && uris.has(s.record.workload.uri)).length
    console.log(
      `storm: 20 replicas running ${(settledMs / 1000).toFixed(1)} s after the first publish ` +
        `(last placement decided at ${(decidedMs / 1000).toFixed(1)} s by the records); ` +
        `per meshlet ${[...settled.perMeshlet.values()].join('/')}, peak ${peak} of ${SLOTS}, ` +
        `${declined} declined, ${observations} observations`,
    )
    // Settled by the protocol's own deadlines: every placement decided within 30 s.
    expect(decidedMs).toBeLessThanOrEqual(30_000)

    // And it stays settled: one more look a presence interval later, still none over its offer.
    await new Promise((r) => setTimeout(r, 2000))
    const after = await observe(uris)
    for (const n of after.perMeshlet.values()) expect(n).toBeLessThanOrEqual(SLOTS)
    expect([...uris].every((u) => after.perWorkload.get(u) === 2)).toBe(true)
  }, 180_000)
})
