// Records dated far ahead or far behind, on every collection, against two running, lending
// meshlets on a real PLC + PDS: each is dropped with a reason, nothing is planned for them, and
// nothing spins — counted, not timed: the meshlets' own plan runs over a window, and every timer
// they set stays within the clamp (a delay past 2^31 ms fires at once, forever: the spin of
// issue 9, where one workload dated 40 days ahead took idle daemons to 40 % of a core).
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { MAX_WAKE_MS } from '../../../core/clock/index.js'
import { NSID } from '../../../core/lexicon/index.js'
import { Meshlet } from '../../../core/meshlet.js'
import { Runtime } from '../../../core/runtime/index.js'
import { bidRkey } from '../../../core/scheduling/index.js'
import type { RecordEvent } from '../../../core/sync/index.js'
import {
  createMember,
  eventually,
  link,
  localIdentity,
  setMembership,
  startNetwork,
  type Member,
  type Network,
} from '../../_util.js'

const DAY = 86_400_000
const FUTURE = new Date(Date.now() + 40 * DAY).toISOString()
const PAST = '1999-01-01T00:00:00.000Z'

let net: Network
let alice: Member, bob: Member, dave: Member, erin: Member
let meshlet: Meshlet
let peer: Meshlet
const dropped: Extract<RecordEvent, { event: 'dropped' }>[] = []
/** Every plan run of either meshlet, and the timer it set. */
const planned: { at: number; wakeInMs?: number }[] = []
const warnings: Error[] = []
const onWarning = (w: Error) => warnings.push(w)

beforeAll(async () => {
  process.on('warning', onWarning)
  net = await startNetwork()
  alice = await createMember(net, 'alice')
  bob = await createMember(net, 'bob')
  dave = await createMember(net, 'dave')
  erin = await createMember(net, 'erin')
  for (const m of [alice, bob]) await link(m)
  await setMembership(alice, [bob])
  await setMembership(bob, [alice])
  meshlet = new Meshlet({
    did: alice.meshlet.did,
    owner: alice.owner.did,
    members: [bob.owner.did, dave.owner.did, erin.owner.did],
    identity: localIdentity(net),
    writer: alice.meshlet.session,
    firehose: net.pds.url,
    offer: { cpuMillis: 1000, memoryMiB: 512 },
    // Lending, with a real engine: a meshlet that took a far-dated workload would bid on it.
    runtime: new Runtime({ meshletDid: alice.meshlet.did }),
  })
  peer = new Meshlet({
    did: bob.meshlet.did,
    owner: bob.owner.did,
    members: [alice.owner.did, dave.owner.did, erin.owner.did],
    identity: localIdentity(net),
    writer: bob.meshlet.session,
    firehose: net.pds.url,
    offer: { cpuMillis: 1000, memoryMiB: 512 },
    runtime: new Runtime({ meshletDid: bob.meshlet.did }),
  })
  meshlet.on('record', (evt) => {
    if (evt.event === 'dropped') dropped.push(evt)
  })
  for (const m of [meshlet, peer]) {
    m.on('planned', (p) => planned.push(p))
    await m.start()
  }
})

afterAll(async () => {
  process.off('warning', onWarning)
  await meshlet?.stop()
  await peer?.stop()
  await net?.close()
})

const resources = { cpuMillis: 100, memoryMiB: 64 }

describe('records dated beyond the allowed skew', () => {
  it.each([
    ['40 days ahead', FUTURE, () => dave, /ahead of our clock \(allowed 5 min\)/],
    ['before the protocol', PAST, () => erin, /is before 2023-01-01/],
  ])('are dropped on every collection when %s', async (_, date, who, reason) => {
    const m = who()
    const w = await bob.owner.session.put(NSID.workload, `w-${m.name}`, {
      image: 'commune-test/busybox:1',
      resources,
      replicas: 1,
      createdAt: date,
    })
    const updated = await bob.owner.session.put(NSID.workload, `u-${m.name}`, {
      image: 'commune-test/busybox:1',
      resources,
      replicas: 1,
      createdAt: new Date().toISOString(),
      updatedAt: date,
    })
    const ref = { uri: w.uri, cid: w.cid }
    const rkey = bidRkey(w.uri, 0, w.cid)
    await bob.meshlet.session.put(NSID.bid, rkey, {
      workload: ref,
      round: 0,
      priority: 0,
      offer: resources,
      createdAt: date,
    })
    await bob.meshlet.session.put(NSID.workloadStatus, rkey, {
      workload: ref,
      round: 0,
      state: 'running',
      updatedAt: date,
    })
    await bob.meshlet.session.put(NSID.workloadStatus, bidRkey(w.uri, 1, w.cid), {
      workload: ref,
      round: 1,
      state: 'exited',
      updatedAt: new Date().toISOString(),
      finishedAt: date,
    })
    await m.owner.session.put(NSID.meshlet, m.meshlet.did, {
      meshlet: m.meshlet.did,
      createdAt: date,
    })
    await m.meshlet.session.put(NSID.meshletOwner, 'self', { owner: m.owner.did, createdAt: date })
    await m.meshlet.session.put(NSID.membership, 'self', {
      members: [alice.owner.did],
      createdAt: date,
    })
    // Presence is followed from linked meshlets only: Bob's, rewritten in each case.
    await bob.meshlet.session.put(NSID.presence, 'self', {
      state: 'lending',
      replicas: [{ workload: ref, round: 0 }],
      seq: 0,
      intervalMs: 20_000,
      updatedAt: date,
    })
    await bob.owner.session.put(NSID.workloadSecrets, `w-${m.name}`, {
      workload: w.uri,
      boxes: [],
      updatedAt: date,
    })
    await m.owner.session.put(NSID.sealingKey, 'self', {
      key: {
        algorithm: 'x25519-hkdf-sha256-xchacha20poly1305',
        publicKey: new Uint8Array(32).fill(7),
        createdAt: date,
      },
    })

    const expected = [
      [NSID.workload, w.uri],
      [NSID.workload, updated.uri],
      [NSID.bid, `at://${bob.meshlet.did}/${NSID.bid}/${rkey}`],
      [NSID.workloadStatus, `at://${bob.meshlet.did}/${NSID.workloadStatus}/${rkey}`],
      [
        NSID.workloadStatus,
        `at://${bob.meshlet.did}/${NSID.workloadStatus}/${bidRkey(w.uri, 1, w.cid)}`,
      ],
      [NSID.meshlet, `at://${m.owner.did}/${NSID.meshlet}/${m.meshlet.did}`],
      [NSID.meshletOwner, `at://${m.meshlet.did}/${NSID.meshletOwner}/self`],
      [NSID.membership, `at://${m.meshlet.did}/${NSID.membership}/self`],
      [NSID.presence, `at://${bob.meshlet.did}/${NSID.presence}/self`],
      [NSID.workloadSecrets, `at://${bob.owner.did}/${NSID.workloadSecrets}/w-${m.name}`],
      [NSID.sealingKey, `at://${m.owner.did}/${NSID.sealingKey}/self`],
    ]
    for (const [collection, uri] of expected) {
      const evt = await eventually(`${uri} dropped`, () =>
        dropped.find((d) => d.uri === uri && reason.test(d.reason)),
      )
      expect(evt.collection).toBe(collection)
      expect(evt.reason).toMatch(reason)
    }
    // None of them reached the store: the meshlet neither plans for them nor counts dave or
    // erin as linked.
    expect(meshlet.store.workloads.has(w.uri)).toBe(false)
    expect(meshlet.store.workloads.has(updated.uri)).toBe(false)
    expect(meshlet.store.allBids().some((b) => b.meshlet === bob.meshlet.did)).toBe(false)
    expect(meshlet.store.allStatuses().some((s) => s.meshlet === bob.meshlet.did)).toBe(false)
    expect(meshlet.store.linkage.meshletOwner.has(m.meshlet.did)).toBe(false)
    expect(meshlet.explanation(w.uri)).toBeUndefined()
    expect(warnings.map((x) => x.name)).not.toContain('TimeoutOverflowWarning')

    // Nothing spins: over a window after the last drop, neither meshlet plans more than a
    // record or two could explain (a spin plans thousands of times), and no timer it ever set
    // goes past the clamp.
    const from = planned.length
    await new Promise((r) => setTimeout(r, 3000))
    expect(planned.length - from).toBeLessThanOrEqual(2)
    expect(planned.length).toBeGreaterThan(0)
    for (const p of planned) expect(p.wakeInMs ?? 0).toBeLessThanOrEqual(MAX_WAKE_MS)
    expect(peer.store.workloads.has(w.uri)).toBe(false)
  })
})
