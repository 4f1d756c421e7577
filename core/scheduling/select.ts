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
import { NOT_ATTESTED } from './types.js'
import { compareStrings, fits, listed, spreadKey, timeOf } from './util.js'

/** Meshlets whose bids do not count in a round: excluded, holders (unless `holdersMayBid`:
 *  spread is a preference), and who declined the round before (so a reopened round never picks
 *  its decliner again). */
function barredFrom(info: RoundInfo): Set<string> {
  const holders = info.holdersMayBid === true ? [] : info.holders
  return new Set([...info.excluded, ...holders, ...(info.declined ?? [])])
}

/** How many replicas of the version each holder holds, when holders may bid (else empty). */
function heldBy(info: RoundInfo): Map<string, number> {
  const held = new Map<string, number>()
  if (info.holdersMayBid !== true) return held
  for (const m of info.holders) held.set(m, (held.get(m) ?? 0) + 1)
  return held
}

// What is judged of a bid alone, kept per bid record between plans: every plan judges the same
// bids again, and parsing their times, hashing their spread keys and asking the cluster about
// their authors was most of a plan's cost (bench/selection.ts). A BidView is a record as seen
// (a new record is a new object), so these never go stale; the author check also depends on the
// cluster, and is kept only while the cluster view's version stays the same.
type AuthorReason = 'author-unlinked' | 'author-not-mutual' | null

interface BidFacts {
  createdAt: number
  /** spreadKey(workload URI, meshlet), and its first 48 bits as a number for a fast compare. */
  key: string
  head: number
  cluster?: ClusterView
  version?: number
  owner?: string
  author?: AuthorReason
  /** Scratch for startingOrder: the sort it last took part in. */
  pass?: number
}

const facts = new WeakMap<BidView, BidFacts>()

function factsOf(bid: BidView): BidFacts {
  let f = facts.get(bid)
  if (f === undefined) {
    const key = spreadKey(bid.record.workload.uri, bid.meshlet)
    f = { createdAt: timeOf(bid.record.createdAt), key, head: parseInt(key.slice(0, 12), 16) }
    facts.set(bid, f)
  }
  return f
}

// Each workload version's last ranked order of valid bids, per round: every plan ranks the same
// rounds again, usually with the same bids or a few more. Sorting starts from it,
// with the bids that were not in it after it: the sort (a merge sort that finds ordered runs)
// then costs about one comparison per bid instead of n log n. Only the starting permutation
// comes from here; the sort decides the order, so the result is what a fresh sort gives.
const lastOrder = new WeakMap<WorkloadView, Map<number, readonly Entry[]>>()
let pass = 0

interface Entry {
  bid: BidView
  f: BidFacts
  /** Replicas of the version its meshlet already holds (set by each select). */
  held: number
}

function startingOrder(workload: WorkloadView, round: number, valid: Entry[]): Entry[] {
  const stamp = ++pass
  for (const { f } of valid) {
    // A list that holds one bid twice is sorted as given (no daemon's store does that).
    if (f.pass === stamp) return valid
    f.pass = stamp
  }
  const out: Entry[] = []
  for (const e of lastOrder.get(workload)?.get(round) ?? []) {
    // Still valid here, and not placed yet.
    if (e.f.pass === stamp) {
      e.f.pass = -stamp
      out.push(e)
    }
  }
  for (const e of valid) if (e.f.pass === stamp) out.push(e)
  return out
}

/** Why the bid's author may not bid for an owner's workload, or null when it may. */
function authorCheck(bid: BidView, f: BidFacts, owner: string, cluster: ClusterView): AuthorReason {
  const version = cluster.version
  if (
    version !== undefined &&
    f.cluster === cluster &&
    f.version === version &&
    f.owner === owner
  ) {
    return f.author as AuthorReason
  }
  const author = cluster.ownerOf(bid.meshlet)
  const reason: AuthorReason =
    author === undefined
      ? 'author-unlinked'
      : author !== owner && !cluster.isMutual(author, owner)
        ? 'author-not-mutual'
        : null
  if (version !== undefined) {
    f.cluster = cluster
    f.version = version
    f.owner = owner
    f.author = reason
  }
  return reason
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
  return judge(bid, factsOf(bid), workload, info, cluster, barred, audit)
}

function judge(
  bid: BidView,
  f: BidFacts,
  workload: WorkloadView,
  info: RoundInfo,
  cluster: ClusterView,
  barred: ReadonlySet<string>,
  audit: BidAudit | undefined,
): BidCheck {
  const record = bid.record
  if (record.workload.uri !== workload.uri) return { valid: false, reason: 'wrong-workload' }
  if (record.workload.cid !== workload.cid) return { valid: false, reason: 'stale-cid' }
  if (record.round !== info.round) return { valid: false, reason: 'wrong-round' }
  // Written as a negated range so an unparsable time (NaN) is outside too.
  if (!(f.createdAt >= info.opensAt && f.createdAt <= info.closesAt)) {
    return { valid: false, reason: 'outside-window' }
  }
  const author = authorCheck(bid, f, workload.owner, cluster)
  if (author !== null) return { valid: false, reason: author }
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
  if (audit !== undefined) {
    const expected = audit(bid, info)
    if (expected === NOT_ATTESTED) return { valid: false, reason: 'not-attested' }
    if (expected !== record.priority) return { valid: false, reason: 'priority-mismatch' }
  }
  return { valid: true }
}

// Rank order: replicas of the version the meshlet already holds ascending (spread is a
// preference: a holder wins only what nobody holding fewer can take), then priority descending,
// then the spread key ascending (so equal priorities do not
// always favour the same DIDs), then meshlet DID, then record CID ascending (which picks a
// meshlet's best bid when it made several). The keys are hex of equal length, so comparing their
// first 48 bits as numbers orders them as the strings do; the strings settle a tie there.
function byRank(a: Entry, b: Entry): number {
  return a.held - b.held || byBid(a.bid, b.bid, a.f, b.f)
}

function byBid(a: BidView, b: BidView, fa: BidFacts, fb: BidFacts): number {
  return (
    b.record.priority - a.record.priority ||
    fa.head - fb.head ||
    compareStrings(fa.key, fb.key) ||
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
 * Valid bids ranked by replicas held (asc), priority (desc) then spreadKey (asc), one per
 * meshlet; the first `info.slots` win. The result does not depend on the order of `bids`.
 */
export function select(
  workload: WorkloadView,
  info: RoundInfo,
  bids: readonly BidView[],
  cluster: ClusterView,
  audit?: BidAudit,
): Selection {
  const judged: Entry[] = []
  const invalid: RankedBid[] = []
  const barred = barredFrom(info)
  for (const bid of bids) {
    const f = factsOf(bid)
    const check = judge(bid, f, workload, info, cluster, barred, audit)
    if (check.valid) judged.push({ bid, f, held: 0 })
    else invalid.push({ bid, valid: false, reason: check.reason, winner: false })
  }
  const keyed = startingOrder(workload, info.round, judged)
  const held = heldBy(info)
  // Entries kept from an earlier sort may carry another round view's counts: set them afresh.
  for (const e of keyed) e.held = held.get(e.bid.meshlet) ?? 0
  keyed.sort(byRank)
  let orders = lastOrder.get(workload)
  if (orders === undefined) lastOrder.set(workload, (orders = new Map()))
  if (keyed.length > 0) orders.set(info.round, keyed)
  else orders.delete(info.round)
  const valid = keyed.map((e) => e.bid)
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
