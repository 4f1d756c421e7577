// Whose records this meshlet reads. It follows (backfills and keeps up with) the DIDs whose
// records matter to its cluster's selections, and of everyone else keeps only records that speak
// about it: how strangers who list our owner, and forged linkage, become visible (and are then
// rejected with a reason). Pure: the linkage records seen are the input.
import type { LinkageRecords } from '../identity/cluster.js'
import { NSID } from '../lexicon/index.js'
import type { RecordEvent } from '../sync/index.js'

export interface Us {
  /** Our owner. */
  owner: string
  /** The owners our membership lists. */
  members: readonly string[]
}

/** The DIDs whose records matter: our owner and members, the owners our mutual peers list
 *  (bidders on a peer's workload may be their friends rather than ours, and every bidder's bid
 *  must be seen for the selection to agree), and every meshlet those owners name. */
export function followTargets(linkage: LinkageRecords, us: Us): string[] {
  const owners = new Set([us.owner, ...us.members])
  for (const o of [...owners]) {
    if (o !== us.owner && !linkage.isMutual(us.owner, o)) continue
    for (const m of linkage.verifiedMeshlets(o)) {
      for (const listed of linkage.membership.get(m) ?? []) owners.add(listed)
    }
  }
  return [...owners].flatMap((o) => [o, ...(linkage.ownerMeshlets.get(o) ?? [])])
}

/** Whether to keep a record change: everything from a followed DID; from anyone else only a
 *  meshlet claiming one of our members (or a meshlet that lists us) as its owner, or listing our
 *  owner — and the deletion of such a claim. Everything else on a relay is someone else's
 *  commune. */
export function aboutUs(
  evt: RecordEvent,
  us: Us & { followed: ReadonlySet<string>; linkage: LinkageRecords },
): boolean {
  if (evt.event !== 'put' && evt.event !== 'delete') return false
  if (us.followed.has(evt.did)) return true
  if (evt.event === 'delete') {
    return evt.collection === NSID.meshletOwner
      ? us.linkage.meshletOwner.has(evt.did)
      : us.linkage.membership.has(evt.did)
  }
  if (evt.collection === NSID.meshletOwner) {
    const owner = (evt.record as { owner: string }).owner
    return (
      owner === us.owner ||
      us.members.includes(owner) ||
      // who a meshlet that lists us claims to belong to
      us.linkage.membership.has(evt.did)
    )
  }
  if (evt.collection === NSID.membership) {
    return (evt.record as { members: string[] }).members.includes(us.owner)
  }
  return false
}
