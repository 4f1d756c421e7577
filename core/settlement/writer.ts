// Which settlements a meshlet of the workload's owner writes, and writing them: once per decided
// round that placed someone, while the round can still be audited. `dueSettlements` is pure; the
// SettlementWriter only remembers what it already wrote and hands records to the meshlet's
// budgeted writer.
import {
  bidRkey,
  compareStrings,
  timeOf,
  type BidView,
  type ClusterView,
  type RoundHistory,
  type RoundInfo,
  type SchedulingConfig,
  type WorkloadView,
} from '../scheduling/index.js'
import type { SettlementView } from './attest.js'

/** What the settlement decision reads of the audit (core/fairshare `Audit`). */
export interface AuditedRounds {
  readonly settleMs: number
  history(workload: WorkloadView, now: number): RoundHistory
  cutoffOf(info: RoundInfo): number
  settlementOf(uri: string, cid: string, info: RoundInfo): SettlementView | undefined
}

export interface SettleInput {
  /** This meshlet, and the owner it is linked to. */
  meshlet: string
  owner: string
  /** The workloads as they stand (current versions); only the owner's are attested. */
  workloads: Iterable<WorkloadView>
  audit: AuditedRounds
  cluster: ClusterView
  /** The owner's verified meshlets: the first (by DID) writes, the others only if it does not. */
  siblings: readonly string[]
  now: number
  config: SchedulingConfig
  /** A workload's bids and settlements, when the caller indexes them: a workload whose recent
   *  rounds are all attested already is then skipped without replaying its history (a plan
   *  replays every workload once already). */
  bidsFor?: (workloadUri: string) => readonly BidView[]
  settlementsFor?: (workloadUri: string) => readonly SettlementView[]
}

/** One settlement to write. */
export interface Attestation {
  workload: WorkloadView
  round: number
  /** Sorted meshlet DIDs. */
  winners: string[]
  /** bidRkey(workload, round): one record per round, rewritten only if this meshlet's own audit
   *  changed before the round settled. */
  rkey: string
}

export interface SettlePlan {
  due: Attestation[]
  /** When the next settlement falls due without new records. */
  nextAt?: number
}

/**
 * The settlements this meshlet should write now. A round is attested once it is decided and
 * every honest bid of its window has long arrived (the no-show deadline, `decideAt + lostAfter`),
 * by the owner's first meshlet; the k-th one waits k more `lostAfter` and writes only if none
 * counts by then. Never once the round has settled: nobody can audit it any more.
 */
export function dueSettlements(input: SettleInput): SettlePlan {
  const { meshlet, owner, audit, cluster, now, config } = input
  const due: Attestation[] = []
  let nextAt = Infinity
  if (cluster.ownerOf(meshlet) !== owner) return { due }
  const order = [...new Set(input.siblings)].sort(compareStrings).indexOf(meshlet)
  const rank = order === -1 ? input.siblings.length : order
  for (const workload of input.workloads) {
    if (workload.owner !== owner || settledOrAttested(input, workload)) continue
    const history = audit.history(workload, now)
    for (const info of history.rounds) {
      const winners = history.selections.get(info.round)?.winners ?? []
      if (winners.length === 0) continue
      const settlesAt = audit.cutoffOf(info) + audit.settleMs
      if (now >= settlesAt) continue
      // Halfway to settling at the latest, whatever the stagger says: a short retention (tests)
      // must still leave room for the write.
      const dueAt = Math.min(
        info.decideAt + config.lostAfterMs * (1 + rank),
        info.decideAt + Math.floor((settlesAt - info.decideAt) / 2),
      )
      const sorted = [...winners].sort(compareStrings)
      const counted = audit.settlementOf(workload.uri, workload.cid, info)
      if (counted !== undefined) {
        // One counts already. Ours is rewritten if our audit moved since (a late bid); another
        // meshlet's stands (the earliest counts, so a second record would change nothing).
        if (counted.meshlet !== meshlet || sameList(counted.record.winners, sorted)) continue
      }
      if (now < dueAt) {
        nextAt = Math.min(nextAt, dueAt)
        continue
      }
      due.push({
        workload,
        round: info.round,
        winners: sorted,
        rkey: bidRkey(workload.uri, info.round, workload.cid),
      })
    }
  }
  return { due, ...(nextAt !== Infinity ? { nextAt } : {}) }
}

/**
 * Whether no round of this version can need a settlement, judged from its bids alone: every round
 * with a bid young enough to be unsettled (a round settles at most `settleMs` after any of its
 * bids: its cutoff precedes its window) already has one from a meshlet of the owner. A round whose
 * winners moved after it was attested (a bid arriving later than `lostAfter` after the decision)
 * is then not attested again; no honest bid arrives that late.
 */
function settledOrAttested(input: SettleInput, workload: WorkloadView): boolean {
  if (input.bidsFor === undefined || input.settlementsFor === undefined) return false
  const attested = new Set<number>()
  for (const s of input.settlementsFor(workload.uri)) {
    if (s.record.workload.cid !== workload.cid) continue
    if (input.cluster.ownerOf(s.meshlet) === workload.owner) attested.add(s.record.round)
  }
  for (const b of input.bidsFor(workload.uri)) {
    if (b.record.workload.cid !== workload.cid || attested.has(b.record.round)) continue
    // Negated so that a bid with an unreadable date counts as young.
    if (!(timeOf(b.record.createdAt) + input.audit.settleMs <= input.now)) return false
  }
  return true
}

function sameList(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i])
}

/** How long a failed settlement write waits before it is tried again. */
export const RETRY_MS = 60_000

export interface SettlementWriterOptions {
  /** Writes the record in this meshlet's repo (through the budgeted writer) and applies it to
   *  what the meshlet has seen. */
  put: (rkey: string, record: Record<string, unknown>) => Promise<void>
  onError: (err: Error) => void
}

/** Writes due settlements, each (round, winners) once while its write is queued: once written,
 *  the record itself (applied to what the meshlet has seen) says it is done. */
export class SettlementWriter {
  private readonly writing = new Set<string>()
  /** Writes that failed, not tried again before this time (a session without the scope for the
   *  collection must not retry on every plan). */
  private readonly failed = new Map<string, number>()
  private readonly inFlight = new Set<Promise<void>>()

  constructor(private readonly opts: SettlementWriterOptions) {}

  /** Starts the writes due now; returns when the next one falls due. */
  settle(input: SettleInput): number | undefined {
    const plan = dueSettlements(input)
    for (const a of plan.due) {
      const key = `${a.workload.uri} ${a.workload.cid} ${a.round} ${a.winners.join(',')}`
      if (this.writing.has(key) || (this.failed.get(key) ?? -Infinity) > input.now) continue
      this.failed.delete(key)
      this.writing.add(key)
      const record = {
        workload: { uri: a.workload.uri, cid: a.workload.cid },
        round: a.round,
        winners: a.winners,
        createdAt: new Date(input.now).toISOString(),
      }
      const write: Promise<void> = this.opts
        .put(a.rkey, record)
        // On failure, tried again on a later tick while the round can still be audited.
        .catch((err: unknown) => {
          this.failed.set(key, input.now + RETRY_MS)
          this.opts.onError(err as Error)
        })
        .finally(() => {
          this.writing.delete(key)
          this.inFlight.delete(write)
        })
      this.inFlight.add(write)
    }
    return plan.nextAt
  }

  /** Resolves once every write started has finished. */
  async settled(): Promise<void> {
    await Promise.all([...this.inFlight])
  }
}
