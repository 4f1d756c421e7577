// Cluster formation of a running meshlet against a real PLC + PDS: mutual members form the
// cluster; a one-sided member, forged linkage and a stranger are rejected with their reasons;
// membership changes arrive on the firehose and re-form the cluster live.
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { RejectReason } from '../../../core/identity/cluster.js'
import { NSID } from '../../../core/lexicon/index.js'
import { Meshlet } from '../../../core/meshlet.js'
import {
  createMember,
  eventually,
  link,
  linkMeshletSide,
  localIdentity,
  setMembership,
  startNetwork,
  type Member,
  type Network,
} from '../../_util.js'

let net: Network
let alice: Member, bob: Member, carol: Member, mallory: Member, eve: Member
let meshlet: Meshlet

beforeAll(async () => {
  net = await startNetwork()
  alice = await createMember(net, 'alice')
  bob = await createMember(net, 'bob')
  carol = await createMember(net, 'carol')
  mallory = await createMember(net, 'mallory')
  eve = await createMember(net, 'eve')
  for (const m of [alice, bob, carol, eve]) await link(m)
  await setMembership(bob, [alice, carol])
  await setMembership(carol, [bob]) // carol does not list alice: one-sided
  meshlet = new Meshlet({
    did: alice.meshlet.did,
    owner: alice.owner.did,
    members: [bob.owner.did, carol.owner.did],
    identity: localIdentity(net),
    writer: alice.meshlet.session,
    firehose: net.pds.url,
    offer: { cpuMillis: 1000, memoryMiB: 512 },
  })
  await meshlet.start()
})

afterAll(async () => {
  await meshlet?.stop()
  await net?.close()
})

const reasons = () =>
  meshlet.clusterReport.rejected.map((r) => [r.owner, r.meshlet, r.reason] as const)

describe('a meshlet forming its cluster', () => {
  it('admits the mutual member and rejects the one-sided one with its reason', () => {
    expect(meshlet.clusterReport.peers.map((p) => p.owner)).toEqual([
      alice.owner.did,
      bob.owner.did,
    ])
    expect(reasons()).toContainEqual([
      carol.owner.did,
      carol.meshlet.did,
      RejectReason.doesNotListUs,
    ])
    const carolRejection = meshlet.clusterReport.rejected.find((r) => r.owner === carol.owner.did)
    expect(carolRejection?.message).toContain('does not list you')
  })

  it('rejects a meshlet whose claimed owner does not list it (forged linkage)', async () => {
    // Mallory's meshlet claims to belong to bob and lists alice; bob never named it.
    await linkMeshletSide(mallory, bob.owner.did)
    await setMembership(mallory, [alice])
    await eventually('forged claim rejected', () =>
      reasons().some(
        ([o, m, r]) =>
          o === bob.owner.did && m === mallory.meshlet.did && r === RejectReason.notListedByOwner,
      ),
    )
    expect(meshlet.clusterReport.peers.flatMap((p) => p.meshlets)).not.toContain(
      mallory.meshlet.did,
    )
  })

  it('rejects a stranger who lists us', async () => {
    await setMembership(eve, [alice])
    await eventually('stranger named', () =>
      reasons().some(
        ([o, m, r]) =>
          o === eve.owner.did && m === eve.meshlet.did && r === RejectReason.notOurMember,
      ),
    )
    expect(meshlet.clusterReport.peers.map((p) => p.owner)).not.toContain(eve.owner.did)
  })

  it('re-forms the cluster live when a membership changes on the firehose', async () => {
    await setMembership(carol, [bob, alice])
    await eventually('carol joins', () =>
      meshlet.clusterReport.peers.some((p) => p.owner === carol.owner.did),
    )
    expect(reasons().some(([o]) => o === carol.owner.did)).toBe(false)
    // And leaves again when she drops alice.
    await setMembership(carol, [bob])
    await eventually(
      'carol leaves',
      () => !meshlet.clusterReport.peers.some((p) => p.owner === carol.owner.did),
    )
  })

  it('resumes from its cursor and backfills what it missed while stopped', async () => {
    const dataDir = await mkdtemp(join(tmpdir(), 'meshlet-restart-'))
    const bobs = () =>
      new Meshlet({
        did: bob.meshlet.did,
        owner: bob.owner.did,
        members: [alice.owner.did, carol.owner.did],
        identity: localIdentity(net),
        writer: bob.meshlet.session,
        firehose: net.pds.url,
        dataDir,
        offer: { cpuMillis: 1000, memoryMiB: 512 },
      })
    const first = bobs()
    await first.start()
    await setMembership(carol, [bob, alice])
    await eventually('carol’s change seen on the firehose', () =>
      first.store.linkage.membership.get(carol.meshlet.did)?.includes(alice.owner.did),
    )
    expect(first.clusterReport.peers.map((p) => p.owner)).toContain(carol.owner.did)
    await first.stop()
    const saved = JSON.parse(await readFile(join(dataDir, 'cursor.json'), 'utf8')) as {
      cursors: Record<string, number>
    }
    expect(Object.values(saved.cursors)[0]).toBeGreaterThan(0)

    await setMembership(carol, [alice]) // carol drops bob while bob's meshlet is down
    const second = bobs()
    await second.start()
    try {
      expect(second.clusterReport.peers.map((p) => p.owner)).not.toContain(carol.owner.did)
      expect(second.clusterReport.rejected).toContainEqual(
        expect.objectContaining({ owner: carol.owner.did, reason: RejectReason.doesNotListUs }),
      )
    } finally {
      await second.stop()
      await rm(dataDir, { recursive: true, force: true })
    }
  })

  it('publishes its own membership record on start', async () => {
    const rec = await alice.meshlet.session.agent.com.atproto.repo.getRecord({
      repo: alice.meshlet.did,
      collection: NSID.membership,
      rkey: 'self',
    })
    expect((rec.data.value as { members: string[] }).members).toEqual([
      alice.owner.did,
      bob.owner.did,
      carol.owner.did,
    ])
  })
})
