// Bid validity and the deterministic selection every meshlet computes alike (DESIGN §4).
import type {
  BidAudit,
  BidCheck,
  BidView,
  ClusterView,
  RankedBid,
  RoundInfo,
  Selection,
  WorkloadView,
} from './types.js'
import { compareStrings, fits, listed, spreadKey, timeOf } from './util.js'

/** Meshlets whose bids do not count in a round: excluded, holders, and who declined the round
 *  before (so a reopened round never picks its decliner again). */
function barredFrom(info: RoundInfo): Set<string> {
  return new Set([...info.excluded, ...info.holders, ...(info.declined ?? [])])
}

export function checkBid(
  bid: BidView,
  workload: WorkloadView,
  info: RoundInfo,
  cluster: ClusterView,
  // Meshlets barred from this round (excluded and holders), when the caller judges many bids.
  barred: ReadonlySet<string> = barredFrom(info),
  audit?: BidAudit,
): BidCheck {
  const record = bid.record
  if (record.workload.uri !== workload.uri) return { valid: false, reason: 'wrong-workload' }
  if (record.workload.cid !== workload.cid) return { valid: false, reason: 'stale-cid' }
  if (record.round !== info.round) return { valid: false, reason: 'wrong-round' }
  const createdAt = timeOf(record.createdAt)
  // Written as a negated range so an unparsable time (NaN) is outside too.
  if (!(createdAt >= info.opensAt && createdAt <= info.closesAt)) {
    return { valid: false, reason: 'outside-window' }
  }
  const author = cluster.ownerOf(bid.meshlet)
  if (author === undefined) return { valid: false, reason: 'author-unlinked' }
  if (author !== workload.owner && !cluster.isMutual(author, workload.owner)) {
    return { valid: false, reason: 'author-not-mutual' }
  }
  if (barred.has(bid.meshlet)) {
    return { valid: false, reason: 'author-excluded' }
  }
  const constraints = workload.record.constraints
  if (
    (constraints?.meshlets !== undefined && !listed(constraints.meshlets, bid.meshlet)) ||
    listed(constraints?.excludeMeshlets, bid.meshlet)
  ) {
    return { valid: false, reason: 'constraint-violated' }
  }
  if (!fits(workload.record.resources, record.offer)) {
    return { valid: false, reason: 'offer-too-small' }
  }
  // Checked last: the audit reads the ledger, the costliest check, and only for bids that
  // would otherwise count.
  if (audit !== undefined && audit(bid, info) !== record.priority) {
    return { valid: false, reason: 'priority-mismatch' }
  }
  return { valid: true }
}

// Rank order: priority descending, then the spread key ascending (so equal priorities do not
// always favour the same DIDs), then meshlet DID, then record CID ascending (which picks a
// meshlet's best bid when it made several).
function byRank(a: BidView, b: BidView, keyA: string, keyB: string): number {
  return (
    b.record.priority - a.record.priority ||
    compareStrings(keyA, keyB) ||
    compareStrings(a.meshlet, b.meshlet) ||
    compareStrings(a.cid, b.cid) ||
    compareStrings(a.uri, b.uri)
  )
}

// Bids that are not ranked are listed after the ranked ones in an order that ignores the input's.
function byIdentity(a: BidView, b: BidView): number {
  return (
    compareStrings(a.meshlet, b.meshlet) ||
    compareStrings(a.cid, b.cid) ||
    compareStrings(a.uri, b.uri) ||
    b.record.priority - a.record.priority
  )
}

/**
 * Valid bids ranked by priority (desc) then spreadKey (asc), one per meshlet; the first
 * `info.slots` win. The result does not depend on the order of `bids`.
 */
export function select(
  workload: WorkloadView,
  info: RoundInfo,
  bids: readonly BidView[],
  cluster: ClusterView,
  audit?: BidAudit,
): Selection {
  const valid: BidView[] = []
  const invalid: RankedBid[] = []
  const barred = barredFrom(info)
  for (const bid of bids) {
    const check = checkBid(bid, workload, info, cluster, barred, audit)
    if (check.valid) valid.push(bid)
    else invalid.push({ bid, valid: false, reason: check.reason, winner: false })
  }
  // Each bid's spread key is looked up once, not at every comparison of the sort.
  const keyed = valid.map((bid) => ({ bid, key: spreadKey(workload.uri, bid.meshlet) }))
  keyed.sort((a, b) => byRank(a.bid, b.bid, a.key, b.key))
  valid.length = 0
  for (const { bid } of keyed) valid.push(bid)
  const ranked: RankedBid[] = []
  const outranked: RankedBid[] = []
  const seen = new Set<string>()
  const winners: string[] = []
  for (const bid of valid) {
    if (seen.has(bid.meshlet)) {
      outranked.push({ bid, valid: true, winner: false })
      continue
    }
    seen.add(bid.meshlet)
    const winner = winners.length < info.slots
    if (winner) winners.push(bid.meshlet)
    ranked.push({ bid, valid: true, rank: ranked.length, winner })
  }
  outranked.sort((a, b) => byIdentity(a.bid, b.bid))
  invalid.sort((a, b) => byIdentity(a.bid, b.bid))
  return { winners, ranked: [...ranked, ...outranked, ...invalid] }
}
