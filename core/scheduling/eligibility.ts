// May this meshlet bid in a workload's current round? The first failing check names the reason.
import type { ClusterView, Eligibility, RoundInfo, SelfState, WorkloadView } from './types.js'
import { add, fits, listed, scale, subtract } from './util.js'
import { registryAdmitted, workloadProblems } from './validity.js'

const ZERO = { cpuMillis: 0, memoryMiB: 0, storageMiB: 0 }

export interface EligibilityPolicy {
  /** Free-rider policy (DESIGN §6): true when this meshlet declines the owner's workloads. */
  declineOwner?: (ownerDid: string) => boolean
  /** The lender's maximum image size against what the image's registry says (core/meshlet
   *  image-sizes.ts); undefined: no limit. */
  imageSize?: (image: string) => ImageSizeVerdict | undefined
}

/** An image against the lender's maximum size: within it, over it, or not known (yet). */
export type ImageSizeVerdict = 'fits' | 'too-large' | 'unknown'

/** The network modes a guest may ask for; anything else is refused rather than guessed at. */
export function networkOf(workload: WorkloadView): 'none' | 'egress' | undefined {
  const network: string = workload.record.network ?? 'none'
  if (network === 'none' || network === 'egress') return network
  return undefined
}

export function eligibility(
  self: SelfState,
  workload: WorkloadView,
  info: RoundInfo,
  cluster: ClusterView,
  now: number,
  policy: EligibilityPolicy = {},
): Eligibility {
  const record = workload.record
  const constraints = record.constraints
  // Docker would refuse it on whichever meshlet won it: nobody bids, for the same reason.
  if (workloadProblems(record).length > 0) return { ok: false, reason: 'invalid-workload' }
  // Before not-lending: a meshlet without Docker publishes `lending: false` too, and the
  // engine is the reason worth telling.
  if (self.dockerAvailable === false) return { ok: false, reason: 'docker-unavailable' }
  if (!self.lending) return { ok: false, reason: 'not-lending' }
  if (self.paused) return { ok: false, reason: 'paused' }
  // Peers would reject our bid as author-unlinked, so bidding would only hold capacity for nothing.
  if (cluster.ownerOf(self.meshlet) !== self.owner) return { ok: false, reason: 'owner-unverified' }
  // An owner always trusts themselves, whatever the view says about a pair of equals.
  if (self.owner !== workload.owner && !cluster.isMutual(self.owner, workload.owner)) {
    return { ok: false, reason: 'owner-not-mutual' }
  }
  if (policy.declineOwner?.(workload.owner) === true) {
    return { ok: false, reason: 'owner-below-floor' }
  }
  // Spread is a preference: a holder bids only in a round after a short one (nobody else took
  // the slot for a whole window) or one that replaces a declined win, and ranks there after
  // every meshlet holding fewer replicas.
  if (info.holders.includes(self.meshlet) && info.holdersMayBid !== true) {
    return { ok: false, reason: 'already-placed' }
  }
  if (info.excluded.includes(self.meshlet)) return { ok: false, reason: 'failed-here-before' }
  if ((info.declined ?? []).includes(self.meshlet)) return { ok: false, reason: 'declined-here' }
  // A spent failure budget outranks the closed window: it says why no round will follow.
  if (info.slots <= 0 || (info.exhausted && now > info.closesAt)) {
    return { ok: false, reason: info.exhausted ? 'retries-exhausted' : 'no-slots' }
  }
  if (constraints?.meshlets !== undefined && !listed(constraints.meshlets, self.meshlet)) {
    return { ok: false, reason: 'not-in-allowed-meshlets' }
  }
  if (listed(constraints?.excludeMeshlets, self.meshlet)) {
    return { ok: false, reason: 'meshlet-excluded' }
  }
  const arch = constraints?.arch ?? []
  if (arch.length > 0 && !arch.includes(self.arch)) return { ok: false, reason: 'arch-mismatch' }
  const network = networkOf(workload)
  if (network === undefined) return { ok: false, reason: 'unsupported-network' }
  if (network === 'egress' && !self.allowEgress) return { ok: false, reason: 'egress-not-allowed' }
  if (!registryAdmitted(record.image, self.allowRegistries)) {
    return { ok: false, reason: 'registry-not-allowed' }
  }
  const size = policy.imageSize?.(record.image)
  if (size === 'too-large') return { ok: false, reason: 'image-too-large' }
  if (size === 'unknown') return { ok: false, reason: 'image-size-unknown' }
  if (!fits(record.resources, self.offer)) return { ok: false, reason: 'exceeds-offer' }
  if (!fits(record.resources, subtract(self.offer, self.committed))) {
    return { ok: false, reason: 'insufficient-free-capacity' }
  }
  // Capacity is held by wins; open bids may promise up to `overcommit` × the offer, so a losing
  // bid does not keep this meshlet from bidding elsewhere (a winner declines what it cannot hold).
  const promised = add(self.committed, self.bidding ?? ZERO)
  if (!fits(record.resources, subtract(scale(self.offer, self.overcommit ?? 1), promised))) {
    return { ok: false, reason: 'bids-overcommitted' }
  }
  if (!(now >= info.opensAt)) return { ok: false, reason: 'window-not-open' }
  if (now > info.closesAt) return { ok: false, reason: 'window-closed' }
  return { ok: true }
}
