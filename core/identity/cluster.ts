// Cluster formation (DESIGN §3) as a pure function of the linkage and membership records seen.
// A peer counts only when both linkage records agree and both meshlets list each other's owner;
// every candidate that does not count keeps a named reason the UI and CLI can show.

/** The three kinds of record that decide who is in the cluster, as last seen. */
export class LinkageRecords {
  /** owner DID → meshlet DIDs named by that owner's commune.scheduler.meshlet records */
  readonly ownerMeshlets = new Map<string, Set<string>>()
  /** meshlet DID → owner named by its commune.scheduler.meshletOwner record */
  readonly meshletOwner = new Map<string, string>()
  /** meshlet DID → owner DIDs listed by its commune.scheduler.membership record */
  readonly membership = new Map<string, readonly string[]>()
  // Answers derived from the three maps, per owner, built on first use and dropped on any
  // change: selection asks isMutual once per bid, and scanning an owner's meshlets on every
  // call made it quadratic in the number of bids. Records change rarely; questions are many.
  private readonly verifiedCache = new Map<string, readonly string[]>()
  private readonly recognisedCache = new Map<string, ReadonlySet<string>>()
  private readonly ownerCache = new Map<string, string | null>()
  private readonly mutualCache = new Map<string, Map<string, boolean>>()
  private changes = 0

  /** Grows with every change: answers memoized at one version hold until it moves. */
  get version(): number {
    return this.changes
  }

  private changed(): void {
    this.changes += 1
    this.verifiedCache.clear()
    this.recognisedCache.clear()
    this.ownerCache.clear()
    this.mutualCache.clear()
  }

  setOwnerMeshlet(owner: string, meshlet: string, present: boolean): void {
    this.changed()
    let set = this.ownerMeshlets.get(owner)
    if (present) {
      if (!set) this.ownerMeshlets.set(owner, (set = new Set()))
      set.add(meshlet)
    } else if (set) {
      set.delete(meshlet)
      if (set.size === 0) this.ownerMeshlets.delete(owner)
    }
  }

  setMeshletOwner(meshlet: string, owner: string | undefined): void {
    this.changed()
    if (owner === undefined) this.meshletOwner.delete(meshlet)
    else this.meshletOwner.set(meshlet, owner)
  }

  setMembership(meshlet: string, members: readonly string[] | undefined): void {
    this.changed()
    if (members === undefined) this.membership.delete(meshlet)
    else this.membership.set(meshlet, [...new Set(members)])
  }

  /** The owner of a meshlet when both linkage records agree, else undefined. */
  verifiedOwner(meshlet: string): string | undefined {
    let owner = this.ownerCache.get(meshlet)
    if (owner === undefined) {
      const claimed = this.meshletOwner.get(meshlet)
      owner =
        claimed !== undefined && this.ownerMeshlets.get(claimed)?.has(meshlet) ? claimed : null
      this.ownerCache.set(meshlet, owner)
    }
    return owner ?? undefined
  }

  /** Meshlets of an owner whose linkage is verified both ways. */
  verifiedMeshlets(owner: string): string[] {
    return [...this.verified(owner)]
  }

  private verified(owner: string): readonly string[] {
    let list = this.verifiedCache.get(owner)
    if (list === undefined) {
      const named = this.ownerMeshlets.get(owner)
      list = named ? [...named].filter((m) => this.meshletOwner.get(m) === owner).sort() : []
      this.verifiedCache.set(owner, list)
    }
    return list
  }

  /** Whether some verified meshlet of `owner` lists `member`. */
  recognises(owner: string, member: string): boolean {
    let members = this.recognisedCache.get(owner)
    if (members === undefined) {
      members = new Set(this.verified(owner).flatMap((m) => this.membership.get(m) ?? []))
      this.recognisedCache.set(owner, members)
    }
    return members.has(member)
  }

  /** A and B are mutual when a meshlet of each lists the other (DESIGN §1). */
  isMutual(a: string, b: string): boolean {
    let row = this.mutualCache.get(a)
    if (row === undefined) this.mutualCache.set(a, (row = new Map()))
    let mutual = row.get(b)
    if (mutual === undefined) {
      mutual =
        a === b ? this.verified(a).length > 0 : this.recognises(a, b) && this.recognises(b, a)
      row.set(b, mutual)
    }
    return mutual
  }
}

export const RejectReason = {
  selfUnlinked: 'self-unlinked',
  ownerListsNoMeshlet: 'owner-lists-no-meshlet',
  meshletMissingOwnerRecord: 'meshlet-missing-owner-record',
  meshletNamesOtherOwner: 'meshlet-names-other-owner',
  notListedByOwner: 'not-listed-by-owner',
  meshletMissingMembership: 'meshlet-missing-membership',
  doesNotListUs: 'does-not-list-us',
  notOurMember: 'not-our-member',
} as const
export type RejectReason = (typeof RejectReason)[keyof typeof RejectReason]

export interface Rejection {
  owner: string
  meshlet?: string
  reason: RejectReason
  message: string
}

export interface Peer {
  owner: string
  meshlets: string[]
}

export interface ClusterReport {
  /** Mutual, linkage-verified peers (our own owner first when our meshlet is linked). */
  peers: Peer[]
  rejected: Rejection[]
}

export interface ClusterSelf {
  meshlet: string
  owner: string
  /** Owner DIDs this meshlet was configured with (--cluster-members). */
  members: readonly string[]
}

/** Computes the active cluster of `self` from the records seen. Pure; sorted output. */
export function computeCluster(self: ClusterSelf, records: LinkageRecords): ClusterReport {
  const rejected: Rejection[] = []
  const peers: Peer[] = []
  const selfOwner = records.verifiedOwner(self.meshlet)
  if (selfOwner !== self.owner) {
    rejected.push({
      owner: self.owner,
      meshlet: self.meshlet,
      reason: RejectReason.selfUnlinked,
      message: `this meshlet is not linked both ways to ${self.owner} yet (run \`meshlet link\`)`,
    })
    return { peers, rejected }
  }
  peers.push({ owner: self.owner, meshlets: records.verifiedMeshlets(self.owner) })

  const members = [...new Set(self.members)].filter((m) => m !== self.owner).sort()
  for (const owner of members) {
    const named = [...(records.ownerMeshlets.get(owner) ?? [])].sort()
    if (named.length === 0) {
      rejected.push({
        owner,
        reason: RejectReason.ownerListsNoMeshlet,
        message: `${owner} lists no meshlet in their repo`,
      })
    }
    const accepted: string[] = []
    for (const meshlet of named) {
      const claimed = records.meshletOwner.get(meshlet)
      const members = records.membership.get(meshlet)
      if (claimed === undefined) {
        rejected.push({
          owner,
          meshlet,
          reason: RejectReason.meshletMissingOwnerRecord,
          message: `${owner} lists meshlet ${meshlet}, but that meshlet names no owner`,
        })
      } else if (claimed !== owner) {
        rejected.push({
          owner,
          meshlet,
          reason: RejectReason.meshletNamesOtherOwner,
          message: `${owner} lists meshlet ${meshlet}, but that meshlet names ${claimed} as its owner`,
        })
      } else if (members === undefined) {
        rejected.push({
          owner,
          meshlet,
          reason: RejectReason.meshletMissingMembership,
          message: `meshlet ${meshlet} of ${owner} has published no membership yet`,
        })
      } else if (!members.includes(self.owner)) {
        rejected.push({
          owner,
          meshlet,
          reason: RejectReason.doesNotListUs,
          message: `meshlet ${meshlet} of ${owner} does not list you (${self.owner}) yet`,
        })
      } else {
        accepted.push(meshlet)
      }
    }
    if (accepted.length > 0) peers.push({ owner, meshlets: accepted })
  }

  // Meshlets claiming one of our members (or us) whose owner does not name them: forged or
  // half-done linkage. Seen only when their records reached us, so this list is best effort.
  const claimants = new Set([self.owner, ...members])
  for (const [meshlet, claimed] of [...records.meshletOwner].sort(([a], [b]) => cmp(a, b))) {
    if (!claimants.has(claimed) || records.ownerMeshlets.get(claimed)?.has(meshlet)) continue
    rejected.push({
      owner: claimed,
      meshlet,
      reason: RejectReason.notListedByOwner,
      message: `meshlet ${meshlet} claims owner ${claimed}, but ${claimed}'s repo does not list it`,
    })
  }
  // Meshlets that list us while their owner is not among our members: strangers to us, or
  // people we have not added yet. Their records are ignored; saying so helps whoever set it up.
  for (const [meshlet, listed] of [...records.membership].sort(([a], [b]) => cmp(a, b))) {
    const claimed = records.meshletOwner.get(meshlet)
    if (!listed.includes(self.owner) || claimed === undefined || claimants.has(claimed)) continue
    rejected.push({
      owner: claimed,
      meshlet,
      reason: RejectReason.notOurMember,
      message: `meshlet ${meshlet} (owner ${claimed}) lists you, but ${claimed} is not among your members`,
    })
  }
  return { peers, rejected }
}

/** The scheduling layer's view: verified ownership (both linkage records agree) and mutuality
 *  from the records themselves, not from our own cluster. Selection must come out the same on
 *  every meshlet, and clusters overlap: a bidder on a peer's workload may be the peer's friend
 *  without being ours. Strangers still never count: their workloads fail mutuality with us,
 *  and their bids fail mutuality with the workload's owner. */
export interface ClusterView {
  ownerOf(meshletDid: string): string | undefined
  isMutual(ownerA: string, ownerB: string): boolean
  /** Changes whenever an answer may change, so judgements of a bid can be kept until then. */
  readonly version?: number
}

const views = new WeakMap<LinkageRecords, ClusterView>()

/** The view of a set of records: one object per set, made once, whose answers follow the
 *  records as they change (with `version`), so planners keep what they judged between calls. */
export function clusterView(records: LinkageRecords): ClusterView {
  let view = views.get(records)
  if (view === undefined) {
    view = {
      ownerOf: (meshlet) => records.verifiedOwner(meshlet),
      isMutual: (a, b) => records.isMutual(a, b),
      get version() {
        return records.version
      },
    }
    views.set(records, view)
  }
  return view
}

function cmp(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0
}
