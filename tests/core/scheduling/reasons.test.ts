import { describe, expect, it } from 'vitest'
import {
  BID_INVALID_REASONS,
  NOT_ATTESTED,
  NO_BID_REASONS,
  checkBid,
  describeReason,
  eligibility,
  roundOf,
  type BidAudit,
  type BidInvalidReason,
  type BidView,
  type ClusterView,
  type EligibilityPolicy,
  type NoBidReason,
  type RoundInfo,
  type SelfState,
  type WorkloadView,
} from '../../../core/scheduling/index.js'
import {
  ALICE,
  ALICE_M,
  BOB,
  BOB_M,
  CAROL_M,
  SEC,
  T0,
  bid,
  cluster,
  self,
  workload,
  type WorkloadOpts,
} from './_util.js'

function round0(w: WorkloadView, patch: Partial<RoundInfo> = {}): RoundInfo {
  return { ...roundOf(w, [], undefined, T0 + SEC), ...patch }
}

interface NoBidCase {
  reason: NoBidReason
  self?: Partial<SelfState>
  workload?: WorkloadOpts
  info?: Partial<RoundInfo>
  cluster?: ClusterView
  now?: number
  policy?: EligibilityPolicy
}

const noBidCases: NoBidCase[] = [
  // Below Docker's minimums, or an image Docker cannot parse: every peer finds it invalid.
  { reason: 'invalid-workload', workload: { resources: { cpuMillis: 9, memoryMiB: 256 } } },
  { reason: 'invalid-workload', workload: { resources: { cpuMillis: 500, memoryMiB: 5 } } },
  { reason: 'invalid-workload', workload: { image: 'Commune/BusyBox' } },
  { reason: 'invalid-workload', workload: { image: 'busybox@sha256:abc' } },
  { reason: 'invalid-workload', workload: { image: 'busybox:bad tag' } },
  { reason: 'invalid-workload', workload: { image: '' } },
  // ... and it outranks every reason of the meshlet's own.
  { reason: 'invalid-workload', workload: { image: '::' }, self: { lending: false } },
  { reason: 'not-lending', self: { lending: false } },
  { reason: 'docker-unavailable', self: { dockerAvailable: false } },
  { reason: 'docker-unavailable', self: { dockerAvailable: false, lending: false } },
  { reason: 'paused', self: { paused: true } },
  { reason: 'owner-unverified', cluster: cluster({ [ALICE_M]: ALICE }) },
  { reason: 'owner-not-mutual', cluster: cluster(undefined, [[ALICE, BOB]]) },
  { reason: 'owner-below-floor', policy: { declineOwner: (o) => o === ALICE } },
  { reason: 'already-placed', info: { holders: [BOB_M], slots: 0 } },
  { reason: 'failed-here-before', info: { excluded: [BOB_M] } },
  { reason: 'declined-here', info: { declined: [BOB_M] } },
  { reason: 'no-slots', info: { slots: 0 } },
  { reason: 'retries-exhausted', info: { slots: 0, exhausted: true } },
  { reason: 'not-in-allowed-meshlets', workload: { constraints: { meshlets: [CAROL_M] } } },
  { reason: 'meshlet-excluded', workload: { constraints: { excludeMeshlets: [BOB_M] } } },
  { reason: 'arch-mismatch', workload: { constraints: { arch: ['arm64'] } } },
  { reason: 'egress-not-allowed', workload: { network: 'egress' } },
  { reason: 'unsupported-network', workload: { network: 'host' } },
  { reason: 'registry-not-allowed', self: { allowRegistries: ['ghcr.io'] } },
  { reason: 'registry-not-allowed', self: { allowRegistries: [] } },
  {
    reason: 'registry-not-allowed',
    workload: { image: 'busybox:1' },
    self: { allowRegistries: ['127.0.0.1:5055'] },
  },
  { reason: 'image-too-large', policy: { imageSize: () => 'too-large' } },
  { reason: 'image-size-unknown', policy: { imageSize: () => 'unknown' } },
  // An image within the limit is judged on: the next check names the reason.
  {
    reason: 'exceeds-offer',
    policy: { imageSize: () => 'fits' },
    workload: { resources: { cpuMillis: 8000, memoryMiB: 256 } },
  },
  { reason: 'exceeds-offer', workload: { resources: { cpuMillis: 8000, memoryMiB: 256 } } },
  {
    reason: 'exceeds-offer',
    workload: { resources: { cpuMillis: 100, memoryMiB: 256, storageMiB: 4096 } },
  },
  {
    reason: 'insufficient-free-capacity',
    self: { committed: { cpuMillis: 3800, memoryMiB: 0 } },
  },
  {
    // Wins hold 2000 of 4000; open bids already promise 5000 of the 8000 a 2x overcommit allows.
    reason: 'bids-overcommitted',
    self: {
      committed: { cpuMillis: 2000, memoryMiB: 0 },
      bidding: { cpuMillis: 5000, memoryMiB: 0 },
      overcommit: 2,
    },
    workload: { resources: { cpuMillis: 1500, memoryMiB: 256 } },
  },
  { reason: 'window-not-open', now: T0 - SEC },
  { reason: 'window-closed', now: T0 + 6 * SEC },
]

describe('eligibility', () => {
  it.each(noBidCases)('$reason', (c) => {
    const w = workload(c.workload)
    const result = eligibility(
      self(c.self),
      w,
      round0(w, c.info),
      c.cluster ?? cluster(),
      c.now ?? T0 + SEC,
      c.policy,
    )
    expect(result).toEqual({ ok: false, reason: c.reason })
  })

  it('covers every reason', () => {
    expect(new Set(noBidCases.map((c) => c.reason))).toEqual(new Set(NO_BID_REASONS))
  })

  it('is ok for an eligible meshlet, at both ends of the window', () => {
    const w = workload()
    for (const now of [T0, T0 + 5 * SEC]) {
      expect(eligibility(self(), w, round0(w), cluster(), now)).toEqual({ ok: true })
    }
  })

  it('allows the owner to run their own workload, egress when allowed, and a matching arch', () => {
    const w = workload({ owner: BOB, network: 'egress', constraints: { arch: ['arm64', 'amd64'] } })
    expect(eligibility(self({ allowEgress: true }), w, round0(w), cluster(), T0)).toEqual({
      ok: true,
    })
  })

  it("bids at exactly Docker's minimums, and from an allowed registry (Hub aliases fold)", () => {
    for (const [image, allowRegistries] of [
      ['busybox:1', ['docker.io']],
      ['library/busybox', ['index.docker.io']],
      ['127.0.0.1:5055/commune/busybox:1', ['127.0.0.1:5055', 'ghcr.io']],
      [`ghcr.io/a/b@sha256:${'a'.repeat(64)}`, ['GHCR.io']],
    ] as const) {
      const w = workload({ image, resources: { cpuMillis: 10, memoryMiB: 6 } })
      const s = self({ allowRegistries })
      expect(eligibility(s, w, round0(w), cluster(), T0), image).toEqual({ ok: true })
    }
  })

  it('treats an owner as mutual with themselves, whatever the view says', () => {
    const w = workload({ owner: BOB })
    const strict: ClusterView = { ownerOf: cluster().ownerOf, isMutual: () => false }
    expect(eligibility(self(), w, round0(w), strict, T0)).toEqual({ ok: true })
    expect(checkBid(bid(BOB_M, w), w, round0(w), strict)).toEqual({ valid: true })
  })

  it('counts committed capacity: fits exactly into what is free', () => {
    const w = workload({ resources: { cpuMillis: 1000, memoryMiB: 1024 } })
    const s = self({ committed: { cpuMillis: 3000, memoryMiB: 7168, storageMiB: 0 } })
    expect(eligibility(s, w, round0(w), cluster(), T0)).toEqual({ ok: true })
  })
})

interface BidCase {
  reason: BidInvalidReason
  bid: (w: WorkloadView) => BidView
  workload?: WorkloadOpts
  info?: Partial<RoundInfo>
  cluster?: ClusterView
  audit?: BidAudit
}

const bidCases: BidCase[] = [
  {
    reason: 'wrong-workload',
    bid: (w) => bid(BOB_M, w, { workloadUri: w.uri.replace('3lwork', '3lother') }),
  },
  { reason: 'stale-cid', bid: (w) => bid(BOB_M, w, { workloadCid: 'bafyolder' }) },
  { reason: 'wrong-round', bid: (w) => bid(BOB_M, w, { round: 1 }) },
  { reason: 'outside-window', bid: (w) => bid(BOB_M, w, { createdAt: T0 - 1 }) },
  { reason: 'outside-window', bid: (w) => bid(BOB_M, w, { createdAt: T0 + 5 * SEC + 1 }) },
  { reason: 'author-unlinked', bid: (w) => bid('did:plc:stranger', w) },
  {
    reason: 'author-not-mutual',
    bid: (w) => bid(BOB_M, w),
    cluster: cluster(undefined, [[ALICE, BOB]]),
  },
  { reason: 'author-excluded', bid: (w) => bid(BOB_M, w), info: { excluded: [BOB_M] } },
  { reason: 'author-excluded', bid: (w) => bid(BOB_M, w), info: { holders: [BOB_M] } },
  {
    reason: 'constraint-violated',
    bid: (w) => bid(BOB_M, w),
    workload: { constraints: { meshlets: [CAROL_M] } },
  },
  {
    reason: 'constraint-violated',
    bid: (w) => bid(BOB_M, w),
    workload: { constraints: { excludeMeshlets: [BOB_M] } },
  },
  {
    reason: 'offer-too-small',
    bid: (w) => bid(BOB_M, w, { offer: { cpuMillis: 100, memoryMiB: 256 } }),
  },
  // The ledger gives BOB 7; the bid declares more (and less would be void too).
  { reason: 'priority-mismatch', bid: (w) => bid(BOB_M, w, { priority: 8 }), audit: () => 7 },
  { reason: 'priority-mismatch', bid: (w) => bid(BOB_M, w, { priority: 6 }), audit: () => 7 },
  // A settled round whose owner attested other winners (core/settlement): void whatever it says.
  {
    reason: 'not-attested',
    bid: (w) => bid(BOB_M, w, { priority: 7 }),
    audit: () => NOT_ATTESTED,
  },
]

describe('checkBid', () => {
  it.each(bidCases)('$reason', (c) => {
    const w = workload(c.workload)
    expect(
      checkBid(c.bid(w), w, round0(w, c.info), c.cluster ?? cluster(), undefined, c.audit),
    ).toEqual({
      valid: false,
      reason: c.reason,
    })
  })

  it('covers every reason', () => {
    expect(new Set(bidCases.map((c) => c.reason))).toEqual(new Set(BID_INVALID_REASONS))
  })

  it('accepts a bid at both ends of the window', () => {
    const w = workload()
    for (const createdAt of [T0, T0 + 5 * SEC]) {
      expect(checkBid(bid(BOB_M, w, { createdAt }), w, round0(w), cluster())).toEqual({
        valid: true,
      })
    }
  })
})

describe('describeReason', () => {
  it('has a sentence for every reason', () => {
    for (const reason of [...NO_BID_REASONS, ...BID_INVALID_REASONS]) {
      expect(describeReason(reason)).toMatch(/^[A-Z].*\.$/)
    }
  })
})
