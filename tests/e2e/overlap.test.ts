// Overlapping clusters and replicas that end on their own. alice and bob are mutual, bob and
// carol are mutual, alice and carol are not: a workload of bob's may go to alice's or carol's
// meshlet, and both must agree on which. Heartbeats run every 50 ms here, so a replica that
// ends races its heartbeat; the ending must stay the last word.
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { NSID } from '../../core/lexicon/index.js'
import { Meshlet } from '../../core/meshlet.js'
import type { RepoWriter } from '../../core/repo/writer.js'
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
import {
  containersOf,
  removeContainersOf,
  statusesOf as statuses,
  dockerMeshlet,
  prepareSource,
} from './_util.js'

let net: Network
let alice: Member, bob: Member, carol: Member
const meshlets: Meshlet[] = []

const statusesOf = (uri: string) => statuses(bob, [alice, bob, carol], uri)

/** The real session, with a PDS that takes 2.5 s to store a replica's ending: heartbeats keep
 *  coming while the ending is in flight, which is when one could overtake it. */
function slowEndings(session: RepoWriter): RepoWriter {
  return {
    did: session.did,
    create: (collection, record) => session.create(collection, record),
    delete: (collection, rkey) => session.delete(collection, rkey),
    put: async (collection, rkey, record) => {
      const state = (record as { state?: string }).state
      if (collection === NSID.workloadStatus && (state === 'exited' || state === 'failed')) {
        await new Promise((r) => setTimeout(r, 2500))
      }
      return session.put(collection, rkey, record)
    },
  }
}

function submit(extra: Record<string, unknown>) {
  return bob.owner.session.create(NSID.workload, {
    image: TEST_IMAGE,
    resources: { cpuMillis: 100, memoryMiB: 32 },
    replicas: 1,
    // Roomy: under a full parallel test run Docker is slow to answer, and a missed window costs
    // a 90 s retry.
    bidWindowMs: 2500,
    createdAt: new Date().toISOString(),
    ...extra,
  })
}

beforeAll(async () => {
  net = await startNetwork()
  await prepareSource(net)
  alice = await createMember(net, 'alice')
  bob = await createMember(net, 'bob')
  carol = await createMember(net, 'carol')
  const members = new Map([
    [alice, [bob]],
    [bob, [alice, carol]],
    [carol, [bob]],
  ])
  for (const m of members.keys()) await link(m)
  for (const [m, others] of members) {
    const meshlet = dockerMeshlet(net, m, others, {
      writer: slowEndings(m.meshlet.session),
      config: { heartbeatMs: 50 },
    })
    meshlets.push(meshlet)
    await meshlet.start()
  }
  await eventually(
    'overlapping clusters formed',
    () =>
      meshlets[1]!.clusterReport.peers.length === 3 &&
      meshlets[0]!.clusterReport.peers.length === 2 &&
      meshlets[2]!.clusterReport.peers.length === 2,
  )
})

afterAll(async () => {
  for (const m of meshlets) await m.stop({ stopReplicas: true })
  await removeContainersOf([alice, bob, carol].map((m) => m.meshlet.did))
  await net?.close()
})

describe('overlapping clusters', () => {
  it('run a one-replica workload once, though two of its bidders are strangers to each other', async () => {
    // Only alice's and carol's meshlets may run it, so the two strangers compete.
    const { uri } = await submit({
      command: ['sleep', '600'],
      constraints: { excludeMeshlets: [bob.meshlet.did] },
    })
    await eventually(
      'one running replica',
      async () => (await containersOf(uri, true)).length === 1,
    )
    await new Promise((r) => setTimeout(r, 2500))
    const list = await containersOf(uri, true)
    expect(list).toHaveLength(1)
    const winner = list[0]!.Labels[LABEL_MESHLET]
    expect([alice.meshlet.did, carol.meshlet.did]).toContain(winner)
    // Both strangers name the same winner.
    for (const m of [meshlets[0]!, meshlets[2]!]) {
      expect((m.explanation(uri) as { winners: string[] }).winners).toEqual([winner])
    }
    await bob.owner.session.delete(NSID.workload, uri.split('/').pop()!)
    await eventually('removed', async () => (await containersOf(uri, true)).length === 0)
  })
})

describe('replicas that end on their own', () => {
  it.each([
    ['exit 3', 'failed', 3],
    ['exit 0', 'exited', 0],
  ])(
    'report `%s` as %s with its code, and the ending stays the last word',
    async (cmd, state, code) => {
      const { uri } = await submit({ command: ['sh', '-c', `sleep 1; ${cmd}`] })
      const ending = (s: { state: string; exitCode?: number }) =>
        s.state === state && s.exitCode === code
      // A bid can reach a peer after its decision (on a loaded machine a hop through the PDS
      // and the stream has taken seconds): that peer then learns it lost, calls its start off
      // or stops the replica, and publishes `yielded`. Whatever the timing, one replica runs to
      // its end and every other bidder yields.
      await eventually(`a ${state} status, and every other bidder yielded`, async () => {
        const statuses = await statusesOf(uri)
        return statuses.some(ending) && statuses.every((s) => ending(s) || s.state === 'yielded')
      })
      // Many heartbeats later the ending still stands, and nothing runs it again.
      await new Promise((r) => setTimeout(r, 1500))
      const statuses = await statusesOf(uri)
      expect(statuses.filter((s) => s.state !== 'yielded')).toEqual([
        expect.objectContaining({ state, exitCode: code }),
      ])
      expect(statuses.every((s) => ending(s) || s.state === 'yielded')).toBe(true)
      // Only the replica that ran keeps its container: the yielded ones were removed or never made.
      const containers = await containersOf(uri, true)
      expect(containers.map((c) => c.State)).toEqual(['exited'])
    },
  )
})
