import { describe, expect, it } from 'vitest'
import { NSID, type MembershipRecord } from '../../../core/lexicon/index.js'
import { DEFAULT_CONFIG, roundOf } from '../../../core/scheduling/index.js'
import { LinkageRecords } from '../../../core/identity/cluster.js'
import { committedOf, memberMeshlets, whyNot, POLICY_FACTS } from '../../../core/whynot/index.js'
import {
  ALICE,
  ALICE_M,
  BOB,
  BOB_M,
  CAROL,
  CAROL_M,
  DAVE,
  DAVE_M,
  SEC,
  T0,
  cluster,
  status,
  workload,
} from '../scheduling/_util.js'

const policy = (p: Partial<MembershipRecord> = {}): MembershipRecord =>
  ({
    $type: NSID.membership,
    members: [ALICE],
    lending: true,
    paused: false,
    arch: 'amd64',
    allowEgress: false,
    offer: { cpuMillis: 1000, memoryMiB: 1024, storageMiB: 0 },
    createdAt: new Date(T0).toISOString(),
    ...p,
  }) as MembershipRecord

const none = { cpuMillis: 0, memoryMiB: 0, storageMiB: 0 }

function ask(
  w = workload({ owner: ALICE }),
  p: MembershipRecord | 'unpublished' = policy(),
  extra = {},
) {
  const info = roundOf(w, [], undefined, T0 + SEC)
  return whyNot({
    workload: w,
    info,
    meshlet: BOB_M,
    owner: BOB,
    policy: p === 'unpublished' ? undefined : p,
    committed: none,
    book: new Map(),
    cluster: cluster(),
    ...extra,
  })
}

describe('whyNot, from what a meshlet published', () => {
  it('names each published reason', () => {
    expect(ask(undefined, policy({ lending: false })).reason).toBe('not-lending')
    expect(ask(undefined, policy({ paused: true })).reason).toBe('paused')
    // What a paused meshlet publishes: not lending, because paused. The reason is the pause.
    expect(ask(undefined, policy({ lending: false, paused: true })).reason).toBe('paused')
    expect(ask(workload({ owner: ALICE, constraints: { arch: ['arm64'] } })).reason).toBe(
      'arch-mismatch',
    )
    expect(ask(workload({ owner: ALICE, network: 'egress' })).reason).toBe('egress-not-allowed')
    expect(
      ask(workload({ owner: ALICE, resources: { cpuMillis: 4000, memoryMiB: 64 } })).reason,
    ).toBe('exceeds-offer')
    expect(
      ask(undefined, policy(), { committed: { cpuMillis: 800, memoryMiB: 0, storageMiB: 0 } })
        .reason,
    ).toBe('insufficient-free-capacity')
  })

  it('names the published registry allow-list, a missing Docker engine and an invalid workload', () => {
    const hub = workload({ owner: ALICE, image: 'busybox:1' })
    expect(ask(hub, policy({ allowRegistries: ['127.0.0.1:5055'] })).reason).toBe(
      'registry-not-allowed',
    )
    expect(ask(hub, policy({ allowRegistries: ['docker.io'] })).reason).toBeUndefined()
    expect(ask(undefined, policy({ dockerAvailable: false })).reason).toBe('docker-unavailable')
    expect(ask(undefined, policy({ dockerAvailable: true })).reason).toBeUndefined()
    expect(ask(workload({ owner: ALICE, resources: { cpuMillis: 5, memoryMiB: 64 } })).reason).toBe(
      'invalid-workload',
    )
  })

  it('names the free-rider floor against the ledger, never for its own owner', () => {
    const book = new Map([
      [ALICE, -5000],
      [BOB, 5000],
    ])
    expect(ask(undefined, policy({ minBalance: -1000 }), { book }).reason).toBe('owner-below-floor')
    expect(ask(undefined, policy({ minBalance: -6000 }), { book }).reason).toBeUndefined()
    expect(
      ask(workload({ owner: BOB }), policy({ minBalance: 1_000_000 }), { book }).reason,
    ).toBeUndefined()
  })

  it('says what it does not know instead of guessing', () => {
    const w = workload({ owner: ALICE, network: 'egress', constraints: { arch: ['arm64'] } })
    const unpublished = ask(w, 'unpublished')
    expect(unpublished.reason).toBeUndefined()
    expect(unpublished.unknown).toEqual([...POLICY_FACTS])
    expect(ask().unknown).toEqual([])
  })
})

describe('whyNot and a published maximum image size', () => {
  const MiB = 1024 * 1024
  it('names image-too-large when the caller learned the size, and says what it could not learn', () => {
    const p = policy({ maxImageMiB: 10, arch: 'arm64' })
    const asked: string[] = []
    const bytes = (n: number) => (arch: string) => (asked.push(arch), n)
    expect(ask(undefined, p, { imageBytes: bytes(11 * MiB) }).reason).toBe('image-too-large')
    // The size for the meshlet's own architecture.
    expect(asked).toEqual(['arm64'])
    const fits = ask(undefined, p, { imageBytes: bytes(9 * MiB) })
    expect(fits.reason).toBeUndefined()
    expect(fits.imageLimitMiB).toBeUndefined()
    const unlearned = ask(undefined, p, { imageBytes: () => undefined })
    expect(unlearned.reason).toBeUndefined()
    expect(unlearned.imageLimitMiB).toBe(10)
    // No published maximum: the size does not matter and is not asked for.
    expect(ask(undefined, policy(), { imageBytes: bytes(99 * MiB) }).reason).toBeUndefined()
    expect(asked).toEqual(['arm64', 'arm64'])
  })
})

describe('committedOf', () => {
  it('sums the requests of current replicas with a fresh heartbeat, and nothing else', () => {
    const a = workload({
      owner: ALICE,
      rkey: '3laaaaaaaaaaa',
      resources: { cpuMillis: 300, memoryMiB: 64 },
    })
    const b = workload({
      owner: ALICE,
      rkey: '3lbbbbbbbbbbb',
      resources: { cpuMillis: 200, memoryMiB: 32 },
    })
    const at = T0 + 60 * SEC
    const statuses = [
      status(BOB_M, a, { updatedAt: at - 10 * SEC }),
      status(BOB_M, b, { updatedAt: at - DEFAULT_CONFIG.lostAfterMs - 1 }), // stale
      status(BOB_M, b, { round: 1, state: 'exited', updatedAt: at }), // ended
      status(BOB_M, a, { round: 2, workloadCid: 'bafyold', updatedAt: at }), // old version
    ]
    const byUri = new Map([
      [a.uri, a],
      [b.uri, b],
    ])
    expect(committedOf(BOB_M, statuses, byUri, at, DEFAULT_CONFIG)).toEqual({
      cpuMillis: 300,
      memoryMiB: 64,
      storageMiB: 0,
    })
    expect(committedOf(BOB_M, statuses, byUri, at, DEFAULT_CONFIG, a.uri)).toEqual(none)
  })
})

describe('memberMeshlets', () => {
  it('lists the verified meshlets of the owner and of mutual members, with or without a policy', () => {
    const l = new LinkageRecords()
    const linked = (owner: string, meshlet: string) => {
      l.setOwnerMeshlet(owner, meshlet, true)
      l.setMeshletOwner(meshlet, owner)
    }
    linked(ALICE, ALICE_M)
    linked(BOB, BOB_M)
    linked(CAROL, CAROL_M)
    l.setMembership(ALICE_M, [ALICE, BOB, CAROL])
    l.setMembership(BOB_M, [ALICE, BOB])
    // carol lists nobody: not mutual with alice.
    l.setMembership(CAROL_M, [CAROL])
    // A second meshlet of bob's, linked but with no membership record of its own.
    linked(BOB, 'did:plc:bobmesh2')
    // dave's meshlet names him, but he never listed it: not verified.
    l.setMeshletOwner(DAVE_M, DAVE)
    l.setMembership(DAVE_M, [ALICE])
    expect(memberMeshlets(l, ALICE)).toEqual([ALICE_M, BOB_M, 'did:plc:bobmesh2'].sort())
    expect(memberMeshlets(l, CAROL)).toEqual([CAROL_M])
  })
})
