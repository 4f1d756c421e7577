// Records dated far ahead or far behind, on every collection, against a running meshlet on a real
// PLC + PDS: each is dropped with a reason, nothing is planned for them, and no timer overflows
// (a delay past 2^31 ms fires at once, forever: the spin this guards against).
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { NSID } from '../../../core/lexicon/index.js'
import { Meshlet } from '../../../core/meshlet.js'
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
const dropped: Extract<RecordEvent, { event: 'dropped' }>[] = []
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
  })
  meshlet.on('record', (evt) => {
    if (evt.event === 'dropped') dropped.push(evt)
  })
  await meshlet.start()
})

afterAll(async () => {
  process.off('warning', onWarning)
  await meshlet?.stop()
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
    const rkey = bidRkey(w.uri, 0)
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
    await bob.meshlet.session.put(NSID.workloadStatus, bidRkey(w.uri, 1), {
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

    const expected = [
      [NSID.workload, w.uri],
      [NSID.workload, updated.uri],
      [NSID.bid, `at://${bob.meshlet.did}/${NSID.bid}/${rkey}`],
      [NSID.workloadStatus, `at://${bob.meshlet.did}/${NSID.workloadStatus}/${rkey}`],
      [NSID.workloadStatus, `at://${bob.meshlet.did}/${NSID.workloadStatus}/${bidRkey(w.uri, 1)}`],
      [NSID.meshlet, `at://${m.owner.did}/${NSID.meshlet}/${m.meshlet.did}`],
      [NSID.meshletOwner, `at://${m.meshlet.did}/${NSID.meshletOwner}/self`],
      [NSID.membership, `at://${m.meshlet.did}/${NSID.membership}/self`],
    ]
    for (const [collection, uri] of expected) {
      const evt = await eventually(`${uri} dropped`, () => dropped.find((d) => d.uri === uri))
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
  })
})
