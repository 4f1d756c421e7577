// Settlements: the audited winners of a round, attested by a meshlet of the workload's owner
// while the round can still be audited, so that peers judging it after it settles (restarted, new,
// `meshlet status`) keep the winners the audit gave instead of taking bids on their word
// (docs/fair-share.md, "Settled rounds"). Pure: records, the cluster view and times in.
import type { SettlementRecord } from '../lexicon/index.js'
import {
  authorityOf,
  compareStrings,
  timeOf,
  type ClusterView,
  type RoundInfo,
  type WorkloadView,
} from '../scheduling/index.js'

export interface SettlementView {
  uri: string
  cid: string
  /** DID of the meshlet that wrote it (the authority of `uri`). */
  meshlet: string
  record: SettlementRecord
}

/** Why a settlement is ignored, in the order they are checked. */
export const SETTLEMENT_INVALID_REASONS = [
  /** It names another workload, version or round than the one judged. */
  'settlement-other-round',
  /** Its author has no verified owner: anybody can write a record. */
  'settlement-author-unlinked',
  /** Its author's verified owner is not the workload's owner: only the owner may attest. */
  'settlement-not-owner',
  /** Dated before the round was decided (or unreadably): it cannot hold the round's winners. */
  'settlement-early',
  /** Dated once the round had settled: nobody could audit the round any more, so it attests
   *  nothing. */
  'settlement-late',
] as const

export type SettlementInvalidReason = (typeof SETTLEMENT_INVALID_REASONS)[number]

/** What a settlement is judged against: one round of one workload version. */
export interface SettledRound {
  workload: Pick<WorkloadView, 'uri' | 'cid'>
  info: Pick<RoundInfo, 'round' | 'decideAt'>
  /** When the round stops being audited (its cutoff plus the settle period). */
  settlesAt: number
}

/** Why this settlement does not count for the round, or undefined when it does. */
export function settlementProblem(
  s: SettlementView,
  round: SettledRound,
  cluster: ClusterView,
): SettlementInvalidReason | undefined {
  const ref = s.record.workload
  if (
    ref.uri !== round.workload.uri ||
    ref.cid !== round.workload.cid ||
    s.record.round !== round.info.round
  ) {
    return 'settlement-other-round'
  }
  const author = cluster.ownerOf(s.meshlet)
  if (author === undefined) return 'settlement-author-unlinked'
  // The owner is the authority of the workload's URI, whatever a record claims.
  if (author !== authorityOf(round.workload.uri)) return 'settlement-not-owner'
  const at = timeOf(s.record.createdAt)
  // Negated so that an unparsable date (NaN) fails too.
  if (!(at >= round.info.decideAt)) return 'settlement-early'
  if (!(at < round.settlesAt)) return 'settlement-late'
  return undefined
}

/** Of several settlements for one round, the one that counts: the earliest, then the smallest
 *  URI. Two meshlets of one owner whose views differed may attest different winners; every peer
 *  picks the same one. */
export function compareSettlements(a: SettlementView, b: SettlementView): number {
  return (
    timeOf(a.record.createdAt) - timeOf(b.record.createdAt) ||
    compareStrings(a.uri, b.uri) ||
    compareStrings(a.cid, b.cid)
  )
}

/** The settlement that counts for a round among `candidates` (any workload or round; the others
 *  are skipped), or undefined when none does. */
export function settlementFor(
  candidates: readonly SettlementView[],
  round: SettledRound,
  cluster: ClusterView,
): SettlementView | undefined {
  let best: SettlementView | undefined
  for (const s of candidates) {
    if (settlementProblem(s, round, cluster) !== undefined) continue
    if (best === undefined || compareSettlements(s, best) < 0) best = s
  }
  return best
}

/** The key settlements and bids of one round share: workload URI, version, round. */
export function roundKey(uri: string, cid: string, round: number): string {
  return `${uri} ${cid} ${round}`
}
