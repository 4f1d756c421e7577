// Why a member meshlet did not bid, from what it published (see README.md).
import { belowFloor, type Ledger } from '../fairshare/index.js'
import type { LinkageRecords } from '../identity/cluster.js'
import type { MembershipRecord, Resources } from '../lexicon/index.js'
import {
  ENDING_STATES,
  eligibility,
  timeOf,
  type ClusterView,
  type NoBidReason,
  type RoundInfo,
  type SchedulingConfig,
  type StatusView,
  type WorkloadView,
} from '../scheduling/index.js'

/** Facts a meshlet may leave out of its membership record; the checks that need them pass. */
export const POLICY_FACTS = ['lending', 'paused', 'offer', 'arch', 'allowEgress'] as const
export type PolicyFact = (typeof POLICY_FACTS)[number]

export interface WhyNot {
  meshlet: string
  owner: string
  /** The first reason it could not bid, as far as can be known; absent when it could have. */
  reason?: NoBidReason
  /** Facts it did not publish: when `reason` is absent, the real one may hide among these. */
  unknown: PolicyFact[]
  /** Its published maximum image size, when the caller did not learn this image's size: with
   *  `reason` absent, an image over it may be why. */
  imageLimitMiB?: number
}

/**
 * What a meshlet holds, as its statuses show: the request of each current workload version it
 * reports starting or running with a fresh heartbeat at `at`, other than `except`.
 */
export function committedOf(
  meshlet: string,
  statuses: readonly StatusView[],
  workloads: ReadonlyMap<string, WorkloadView>,
  at: number,
  config: SchedulingConfig,
  except?: string,
): Resources {
  const held = { cpuMillis: 0, memoryMiB: 0, storageMiB: 0 }
  for (const s of statuses) {
    if (s.meshlet !== meshlet || s.record.workload.uri === except) continue
    const w = workloads.get(s.record.workload.uri)
    if (w === undefined || w.cid !== s.record.workload.cid) continue
    if (ENDING_STATES.has(s.record.state) || s.record.state === 'draining') continue
    const updated = timeOf(s.record.updatedAt)
    if (!(updated + config.lostAfterMs >= at)) continue
    held.cpuMillis += w.record.resources.cpuMillis
    held.memoryMiB += w.record.resources.memoryMiB
    held.storageMiB += w.record.resources.storageMiB ?? 0
  }
  return held
}

export interface WhyNotInput {
  workload: WorkloadView
  info: RoundInfo
  meshlet: string
  /** Its verified owner. */
  owner: string
  policy: MembershipRecord | undefined
  committed: Resources
  /** The audited ledger, for a published free-rider floor. */
  book: Ledger
  cluster: ClusterView
  /** What pulling the workload's image downloads on an architecture, in bytes, when the caller
   *  asked its registry (for meshlets that publish a maximum image size). */
  imageBytes?: (arch: string) => number | undefined
}

/** Judged at the round's opening: what the meshlet would have decided in time to bid. */
export function whyNot(input: WhyNotInput): WhyNot {
  const { workload, info, meshlet, owner, policy } = input
  const unknown = POLICY_FACTS.filter((f) => policy?.[f] === undefined)
  const record = workload.record
  const self = {
    meshlet,
    owner,
    // A paused meshlet publishes lending false too (it lends nothing now); paused says why.
    lending: policy?.paused === true || (policy?.lending ?? true),
    paused: policy?.paused ?? false,
    // Unknown: the architecture the workload asks for, so that check passes.
    arch: policy?.arch ?? record.constraints?.arch?.[0] ?? 'amd64',
    // Unknown: room for this workload on top of what it holds, so those checks pass.
    offer: policy?.offer ?? {
      cpuMillis: record.resources.cpuMillis + input.committed.cpuMillis,
      memoryMiB: record.resources.memoryMiB + input.committed.memoryMiB,
      storageMiB: (record.resources.storageMiB ?? 0) + (input.committed.storageMiB ?? 0),
    },
    committed: input.committed,
    allowEgress: policy?.allowEgress ?? true,
    ...(policy?.allowRegistries !== undefined ? { allowRegistries: policy.allowRegistries } : {}),
    ...(policy?.dockerAvailable === false ? { dockerAvailable: false } : {}),
  }
  const floor = policy?.minBalance
  const limit = policy?.maxImageMiB
  const bytes = limit === undefined ? undefined : input.imageBytes?.(self.arch)
  const verdict = eligibility(self, workload, info, input.cluster, info.opensAt, {
    ...(floor !== undefined
      ? {
          declineOwner: (o: string) => o !== owner && belowFloor(o, input.book, floor),
        }
      : {}),
    ...(limit !== undefined && bytes !== undefined
      ? { imageSize: () => (bytes > limit * 1024 * 1024 ? 'too-large' : 'fits') }
      : {}),
  })
  return {
    meshlet,
    owner,
    ...(verdict.ok ? {} : { reason: verdict.reason }),
    unknown,
    ...(verdict.ok && limit !== undefined && bytes === undefined ? { imageLimitMiB: limit } : {}),
  }
}

/**
 * The meshlets that could bid for `owner`'s workloads: every meshlet whose link to its owner is
 * verified both ways, of `owner` or of a mutual member. Those that published no membership
 * record are included: for them the answer is that the reason is not known.
 */
export function memberMeshlets(linkage: LinkageRecords, owner: string): string[] {
  return [...linkage.meshletOwner.keys()]
    .filter((m) => {
      const o = linkage.verifiedOwner(m)
      return o !== undefined && (o === owner || linkage.isMutual(o, owner))
    })
    .sort()
}
