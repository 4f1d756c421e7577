// A bid that arrives after the decision (a loaded machine, a slow stream, a confirmation that
// took seconds) makes the meshlet that thought it won lose. If that meshlet is still starting
// the replica, it must call the start off: left to finish, it would run the guest (a short job
// to its end) on a machine that knows it lost, and a one-replica workload would run twice.
// Here the start is held at its first write, a better bid is published after the decision, and
// the meshlet must publish `yielded` and never create a container.
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { NSID } from '../../core/lexicon/index.js'
import { Meshlet } from '../../core/meshlet.js'
import type { RepoWriter } from '../../core/repo/writer.js'
import { spreadKey } from '../../core/scheduling/index.js'
import { TEST_IMAGE } from '../infra.js'
import {
  createMember,
  eventually,
  link,
  setMembership,
  startNetwork,
  type Member,
  type Network,
} from '../_util.js'
import { LABEL_WORKLOAD } from '../../core/runtime/index.js'
import {
  containersOf,
  docker,
  dockerMeshlet,
  removeContainersOf,
  statusesOf,
  prepareSource,
} from './_util.js'

let net: Network
let alice: Member, bob: Member
let meshlet: Meshlet
const held: (() => void)[] = []
let startsHeld = 0

/** The real session, with a PDS that keeps every `starting` status waiting until the test lets
 *  it through: the replica's start stays under way for as long as the test needs. */
function heldStarts(session: RepoWriter): RepoWriter {
  return {
    did: session.did,
    create: (collection, record) => session.create(collection, record),
    delete: (collection, rkey) => session.delete(collection, rkey),
    put: async (collection, rkey, record) => {
      if (
        collection === NSID.workloadStatus &&
        (record as { state?: string }).state === 'starting'
      ) {
        startsHeld += 1
        await new Promise<void>((r) => held.push(r))
      }
      return session.put(collection, rkey, record)
    },
  }
}

const S32 = '234567abcdefghijklmnopqrstuvwxyz'

/** The containers Docker created for a workload between two times (seconds), from its events:
 *  a container made and removed again leaves no other trace. */
async function createdFor(uri: string, since: number, until: number): Promise<unknown[]> {
  const stream = await docker.getEvents({
    since,
    until,
    filters: { type: ['container'], event: ['create'], label: [`${LABEL_WORKLOAD}=${uri}`] },
  })
  let text = ''
  for await (const chunk of stream) text += String(chunk)
  return text
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((l) => JSON.parse(l) as unknown)
}

/** A record key in the TID format (microseconds, clock id), as a PDS would make one. */
function tid(micros: number, clock: number): string {
  let n = (BigInt(micros) << 10n) | BigInt(clock)
  let out = ''
  for (let i = 0; i < 13; i++) {
    out = S32[Number(n & 31n)]! + out
    n >>= 5n
  }
  return out
}

beforeAll(async () => {
  net = await startNetwork()
  await prepareSource(net)
  alice = await createMember(net, 'alice')
  bob = await createMember(net, 'bob')
  for (const m of [alice, bob]) await link(m)
  // bob's meshlet is linked and mutual with alice, but no daemon runs it: its one bid is the
  // test's, published late.
  await setMembership(bob, [bob, alice])
  meshlet = dockerMeshlet(net, alice, [bob], { writer: heldStarts(alice.meshlet.session) })
  await meshlet.start()
  await eventually('alice and bob are mutual', () =>
    meshlet.clusterReport.peers.some((p) => p.owner === bob.owner.did),
  )
})

afterAll(async () => {
  for (const r of held.splice(0)) r()
  await meshlet?.stop({ stopReplicas: true })
  await removeContainersOf([alice.meshlet.did, bob.meshlet.did])
  await net?.close()
})

describe('a late bid', () => {
  it('calls off the start of a replica it overtakes: `yielded`, and no container', async () => {
    // A key for which bob's meshlet ranks first (equal priorities fall to the spread key), so
    // its bid, once seen, wins.
    const now = Date.now()
    const bobFirst = (rkey: string) => {
      const uri = `at://${alice.owner.did}/${NSID.workload}/${rkey}`
      return spreadKey(uri, bob.meshlet.did) < spreadKey(uri, alice.meshlet.did)
    }
    let clock = 0
    while (!bobFirst(tid(now * 1000, clock))) clock += 1
    const rkey = tid(now * 1000, clock)
    const createdAt = new Date(now).toISOString()
    const { uri, cid } = await alice.owner.session.put(NSID.workload, rkey, {
      image: TEST_IMAGE,
      command: ['sleep', '600'],
      resources: { cpuMillis: 100, memoryMiB: 32 },
      replicas: 1,
      bidWindowMs: 2500,
      createdAt,
    })
    // alice's meshlet bids alone, decides it won, and starts: held at its `starting` write.
    await eventually('the start under way', () => startsHeld === 1)
    const own = meshlet.store.bidsFor(uri).find((b) => b.meshlet === alice.meshlet.did)!
    // bob's bid for the same round (on a loaded machine the workload may reach alice only
    // after round 0 closed, and she bids in the next): dated as hers, inside its window, with
    // the priority every peer computes (both owners have an empty ledger), and published only
    // now, after the decision.
    await bob.meshlet.session.put(NSID.bid, own.uri.split('/').pop()!, {
      workload: { uri, cid },
      round: own.record.round,
      priority: own.record.priority,
      offer: own.record.offer,
      createdAt: own.record.createdAt,
    })
    await eventually(
      'alice sees that bob won',
      () => (meshlet.explanation(uri) as { winners: string[] }).winners[0] === bob.meshlet.did,
    )
    for (const r of held.splice(0)) r()
    const statuses = await eventually('alice yields', async () => {
      const s = await statusesOf(alice, [alice], uri)
      return s.some((x) => x.state === 'yielded') && s
    })
    expect(statuses).toEqual([expect.objectContaining({ state: 'yielded' })])
    // The start never reached Docker, and nothing starts later.
    await new Promise((r) => setTimeout(r, 1500))
    expect(await containersOf(uri, true)).toEqual([])
    expect(await createdFor(uri, Math.floor(now / 1000) - 1, Math.ceil(Date.now() / 1000))).toEqual(
      [],
    )
    expect(startsHeld).toBe(1)
  })
})
