// Audited fair share (DESIGN §11, docs/fair-share.md). A bid's priority is not taken on its word:
// every peer recomputes it from the public ledger as of the round's opening, and the ledger counts
// a status only for a replica the records show was placed there, for no longer than the records
// show it alive, and for no more than the workload asked for. Everything is a function of records
// that every peer holds by the time it judges a round, so peers agree.
import type { Resources } from '../lexicon/index.js'
import { roundKey, settlementFor, type SettlementView } from '../settlement/attest.js'
import {
  DEFAULT_CONFIG,
  ENDING_STATES,
  NOT_ATTESTED,
  roundHistory,
  select,
  timeOf,
  versionOpensAt,
  type BidAudit,
  type BidView,
  type PresenceIndex,
  type ClusterView,
  type RoundHistory,
  type RoundInfo,
  type SchedulingConfig,
  type StatusView,
  type WorkloadView,
} from '../scheduling/index.js'
import {
  DEFAULT_HALF_LIFE_MS,
  accountsOf,
  balancesOf,
  decayedUsage,
  type Account,
  type Ledger,
  type Transfer,
} from './ledger.js'
import { auditedPriority } from './priority.js'

/** Rounds are judged by the ledger at the last multiple of this before their opening (less the
 *  grace): a ledger costs a pass over every placement, and fair share has no use for finer
 *  time. */
export const CUTOFF_STEP_MS = 5 * 60_000

/** How long a round stays open to audit, from its cutoff; also how long a deleted workload's
 *  usage keeps counting after its deletion. Half the retention of tombstones and of bids
 *  (core/hygiene, a day by default), so everything an audit reads is still there
 *  (docs/fair-share.md, "Deleted and updated workloads"). */
export const DEFAULT_SETTLE_MS = 12 * 3_600_000

export interface AuditInput {
  /** The workloads as they stand: one current version per URI. */
  workloads: readonly WorkloadView[]
  bids: readonly BidView[]
  statuses: readonly StatusView[]
  cluster: ClusterView
  config?: SchedulingConfig
  halfLifeMs?: number
  /** The hosts' presence (liveness of the replicas they list), as the rounds use it. */
  presence?: PresenceIndex
  /** The latest moment asked about (the plan's `now`): rounds are replayed up to it. */
  now: number
  /** Rounds whose cutoff is this long before `now` are settled: their bids are no longer
   *  audited. Every peer of a commune must use the same value (DEFAULT_SETTLE_MS). */
  settleMs?: number
  /** Settlements seen (core/settlement): a settled round's winners as a meshlet of the
   *  workload's owner attested them while the round could be audited. */
  settlements?: readonly SettlementView[]
}

/** One status the ledger counts, and what it moves. */
export interface Credit extends Transfer {
  meshlet: string
  workload: string
  round: number
  /** The milliseconds credited: from the round's decision to `endAt`. */
  creditedMs: number
  endAt: number
  resources: Resources
}

// A status that will not be rewritten (DESIGN §5: the executor never rewrites an ending).
function isFinal(state: string): boolean {
  return ENDING_STATES.has(state) || state === 'draining'
}

/** When a tombstone says its workload was deleted; undefined for a live workload, NaN for a date
 *  nobody can read (such a tombstone counts for nothing). */
export function deletedAtOf(workload: WorkloadView): number | undefined {
  const at = workload.record.deletedAt
  return at === undefined ? undefined : timeOf(at)
}

function smaller(a: Resources, b: Resources | undefined): Resources {
  if (b === undefined) return a
  return {
    cpuMillis: Math.max(0, Math.min(a.cpuMillis, b.cpuMillis)),
    memoryMiB: Math.max(0, Math.min(a.memoryMiB, b.memoryMiB)),
    ...(a.storageMiB !== undefined
      ? { storageMiB: Math.max(0, Math.min(a.storageMiB, b.storageMiB ?? 0)) }
      : {}),
  }
}

/**
 * When the replica a placement's latest status describes stopped counting, as of `cutoff`, the
 * same whichever version of the status a peer holds: a version written after the cutoff says
 * the replica was alive at it (an executor never writes again after a loss), and versions written
 * before it are immutable once final, or alive until a heartbeat goes stale.
 */
function endAt(status: StatusView, cutoff: number): number {
  // Statuses change on transitions only (liveness is in the hosts' presence, which keeps no
  // history): the one moment every peer can agree on is a final status written before the
  // cutoff. A replica still running at the cutoff is credited once it ends.
  const updated = timeOf(status.record.updatedAt)
  if (Number.isNaN(updated) || updated > cutoff || !isFinal(status.record.state)) {
    return Number.NEGATIVE_INFINITY
  }
  return updated
}

/**
 * The public ledger, recomputed as of any cutoff, and the priority each bid must declare. One
 * instance answers for one set of records; answers are memoized by cutoff, so judging the bids of
 * many rounds costs one ledger per distinct round opening.
 */
export class Audit {
  readonly config: SchedulingConfig
  private readonly halfLifeMs: number
  private readonly statusesByUri = new Map<string, StatusView[]>()
  private readonly bidsByUri = new Map<string, BidView[]>()
  private readonly credits = new Map<number, Credit[]>()
  private readonly books = new Map<number, Ledger>()
  private readonly pending = new Set<number>()
  private readonly rounds = new Map<string, AuditedRound[]>()
  private readonly settlementsByRound = new Map<string, SettlementView[]>()
  private readonly attestations = new Map<string, SettlementView | null>()
  private readonly horizon: number
  readonly settleMs: number

  constructor(private readonly input: AuditInput) {
    this.config = input.config ?? DEFAULT_CONFIG
    this.halfLifeMs = input.halfLifeMs ?? DEFAULT_HALF_LIFE_MS
    this.horizon = input.now
    this.settleMs = input.settleMs ?? DEFAULT_SETTLE_MS
    for (const s of input.statuses) push(this.statusesByUri, s.record.workload.uri, s)
    for (const b of input.bids) push(this.bidsByUri, b.record.workload.uri, b)
    for (const st of input.settlements ?? []) {
      const ref = st.record.workload
      push(this.settlementsByRound, roundKey(ref.uri, ref.cid, st.record.round), st)
    }
  }

  /** The ledger a round is judged by: records older than the grace at its opening, so a record
   *  every peer has seen by the time it bids, on a grid of CUTOFF_STEP_MS so that rounds opening
   *  close together share one ledger. Always strictly before the opening. */
  cutoffOf(info: RoundInfo): number {
    const latest = info.opensAt - Math.max(1, this.config.graceMs)
    return Math.floor(latest / CUTOFF_STEP_MS) * CUTOFF_STEP_MS
  }

  /** Whether a round is past auditing: its cutoff lies `settleMs` or more before `now`. The
   *  ledger of such a cutoff may have lost records since (a deleted workload's tombstone and
   *  its statuses go after the retention period), so a bid that was honest when the round was
   *  decided could no longer be told from one that was not; its declared priority stands. */
  settled(info: RoundInfo): boolean {
    return this.cutoffOf(info) + this.settleMs <= this.horizon
  }

  /** The priority a bid must declare; NaN (never equal) when its author has no verified owner.
   *  In a settled round, what it declared, unless a settlement that counts (core/settlement)
   *  attests winners without it: then NOT_ATTESTED. */
  readonly expected: BidAudit = (bid, info) => {
    if (this.settled(info)) {
      const ref = bid.record.workload
      const attested = this.settlementOf(ref.uri, ref.cid, info)
      if (
        attested === undefined ||
        (attested.record.winners as readonly string[]).includes(bid.meshlet)
      ) {
        return bid.record.priority
      }
      return NOT_ATTESTED
    }
    const owner = this.input.cluster.ownerOf(bid.meshlet)
    if (owner === undefined) return Number.NaN
    return this.priorityAt(owner, this.cutoffOf(info))
  }

  /** The settlement that counts for a round of a workload version (the earliest valid one), or
   *  undefined when there is none. */
  settlementOf(uri: string, cid: string, info: RoundInfo): SettlementView | undefined {
    const key = roundKey(uri, cid, info.round)
    const candidates = this.settlementsByRound.get(key)
    if (candidates === undefined) return undefined
    // Keyed by the round's times too: a replay that takes bids on their word may time a round
    // of the same number differently.
    const memoKey = `${key} ${info.decideAt} ${info.opensAt}`
    let chosen = this.attestations.get(memoKey)
    if (chosen === undefined) {
      chosen =
        settlementFor(
          candidates,
          { workload: { uri, cid }, info, settlesAt: this.cutoffOf(info) + this.settleMs },
          this.input.cluster,
        ) ?? null
      this.attestations.set(memoKey, chosen)
    }
    return chosen ?? undefined
  }

  /** The priority an owner's meshlets declare in a round judged at `cutoff`. */
  priorityAt(owner: string, cutoff: number): number {
    return auditedPriority(owner, this.ledgerAt(cutoff))
  }

  /** A workload's rounds with every bid audited. */
  history(workload: WorkloadView, now: number): RoundHistory {
    return roundHistory(
      workload,
      this.statusesByUri.get(workload.uri) ?? [],
      {
        bids: this.bidsByUri.get(workload.uri) ?? [],
        cluster: this.input.cluster,
        audit: this.expected,
      },
      now,
      this.config,
      this.input.presence,
    )
  }

  ledgerAt(cutoff: number): Ledger {
    let book = this.books.get(cutoff)
    if (book === undefined) {
      book = balancesOf(accountsOf(this.creditsAt(cutoff)))
      this.books.set(cutoff, book)
    }
    return book
  }

  accountsAt(cutoff: number): Map<string, Account> {
    return accountsOf(this.creditsAt(cutoff))
  }

  /** The statuses that count as of `cutoff`, and what each moves. */
  creditsAt(cutoff: number): Credit[] {
    const memo = this.credits.get(cutoff)
    if (memo !== undefined) return memo
    // Cutoffs of the rounds a ledger depends on lie strictly before it, so this cannot recur;
    // the guard only keeps a broken invariant from overflowing the stack.
    if (this.pending.has(cutoff) || !Number.isFinite(cutoff)) return []
    this.pending.add(cutoff)
    const out: Credit[] = []
    try {
      for (const workload of this.input.workloads) {
        // A status for a workload nobody can read, or for a version that is not the current
        // one, cannot be checked: it counts for nothing (docs/fair-share.md says what that costs).
        if (!(versionOpensAt(workload) <= cutoff)) continue
        // A deleted workload's tombstone keeps its usage counting, but only for cutoffs less
        // than `settleMs` after the deletion: those are audited only while the tombstone (kept
        // for twice as long) is still there, so its removal changes no ledger anyone computes.
        const deleted = deletedAtOf(workload)
        if (deleted !== undefined && !(cutoff < deleted + this.settleMs)) continue
        const statuses = this.statusesByUri.get(workload.uri)
        if (statuses === undefined || statuses.length === 0) continue
        for (const p of this.placementsBefore(workload, cutoff)) {
          const credit = this.creditOf(workload, p, cutoff)
          if (credit !== undefined) out.push(credit)
        }
      }
    } finally {
      this.pending.delete(cutoff)
    }
    out.sort((a, b) => (a.meshlet < b.meshlet ? -1 : a.meshlet > b.meshlet ? 1 : a.round - b.round))
    this.credits.set(cutoff, out)
    return out
  }

  /**
   * The rounds of a workload, each with the winners its audited selection gives and their latest
   * statuses. The rounds' times and slots come from a replay that takes bids on their word (it
   * needs no ledger, so it never recurs); who won each round is then judged with the audit, once
   * per round, by the ledger of that round's cutoff. A bid inflated to win changes nothing here
   * but, at worst, when later rounds of that one workload open.
   */
  private roundsOf(workload: WorkloadView): AuditedRound[] {
    const key = `${workload.uri} ${workload.cid}`
    const memo = this.rounds.get(key)
    if (memo !== undefined) return memo
    const bids = this.bidsByUri.get(workload.uri) ?? []
    const statuses = this.statusesByUri.get(workload.uri) ?? []
    const replay = roundHistory(
      workload,
      statuses,
      { bids, cluster: this.input.cluster },
      this.horizon,
      this.config,
      this.input.presence,
    )
    const latest = new Map<string, StatusView>()
    for (const s of statuses) {
      if (s.record.workload.cid !== workload.cid) continue
      const k = `${s.record.round} ${s.meshlet}`
      const seen = latest.get(k)
      if (seen === undefined || newer(s, seen)) latest.set(k, s)
    }
    const bidsByRound = new Map<string, BidView[]>()
    for (const b of bids) {
      if (b.record.workload.cid === workload.cid) push(bidsByRound, String(b.record.round), b)
    }
    const out: AuditedRound[] = []
    for (const info of replay.rounds) {
      const roundBids = bidsByRound.get(String(info.round))
      if (roundBids === undefined) continue
      out.push({
        info,
        lazyWinners: undefined,
        bids: roundBids,
        statusOf: (m) => latest.get(`${info.round} ${m}`),
      })
    }
    this.rounds.set(key, out)
    return out
  }

  private winnersOf(workload: WorkloadView, round: AuditedRound): string[] {
    round.lazyWinners ??= select(
      workload,
      round.info,
      round.bids,
      this.input.cluster,
      this.expected,
    ).winners
    return round.lazyWinners
  }

  /** The placements of a workload that a ledger at `cutoff` may count, with their statuses. */
  private placementsBefore(
    workload: WorkloadView,
    cutoff: number,
  ): { meshlet: string; round: number; decideAt: number; status?: StatusView }[] {
    const lostAfter = this.config.lostAfterMs
    const deleted = deletedAtOf(workload)
    const out = []
    for (const r of this.roundsOf(workload)) {
      if (!(r.info.decideAt + lostAfter <= cutoff)) break
      // Nothing is placed once a workload is deleted: a round opening at or after its deletion
      // places nobody (honest meshlets do not bid in it).
      if (deleted !== undefined && !(r.info.opensAt < deleted)) break
      for (const meshlet of this.winnersOf(workload, r)) {
        const status = r.statusOf(meshlet)
        out.push({
          meshlet,
          round: r.info.round,
          decideAt: r.info.decideAt,
          ...(status ? { status } : {}),
        })
      }
    }
    return out
  }

  private creditOf(
    workload: WorkloadView,
    p: { meshlet: string; round: number; decideAt: number; status?: StatusView },
    cutoff: number,
  ): Credit | undefined {
    const status = p.status
    // A declined win never ran: nothing to credit.
    if (status === undefined || status.record.state === 'declined') return undefined
    const lender = this.input.cluster.ownerOf(p.meshlet)
    if (lender === undefined || lender === workload.owner) return undefined
    const { lostAfterMs } = this.config
    // An honest replica's first status is out by its no-show deadline; before that, some peers
    // may hold it and some not, so nobody counts it yet.
    if (cutoff < p.decideAt + lostAfterMs) return undefined
    let end = endAt(status, cutoff)
    const deleted = deletedAtOf(workload)
    if (deleted !== undefined) {
      // Deleted: every host stops its replica on seeing the tombstone, so it counts until
      // `lostAfter` after the deletion at most, and from then on that is its end even without
      // a final status (a host that was away when it was deleted stops it, and says so, late).
      const stopBy = deleted + lostAfterMs
      end = cutoff >= stopBy && end === Number.NEGATIVE_INFINITY ? stopBy : Math.min(end, stopBy)
    }
    let creditedMs = end - p.decideAt
    const wallMs = status.record.usage?.wallMs
    // A final status is immutable, so its own claim can bound it too.
    const final = isFinal(status.record.state) && timeOf(status.record.updatedAt) <= cutoff
    if (final && wallMs !== undefined) {
      creditedMs = Math.min(creditedMs, wallMs)
    }
    if (!(creditedMs > 0)) return undefined
    const resources = smaller(workload.record.resources, status.record.resources)
    const milli = decayedUsage(resources, creditedMs, cutoff - end, this.halfLifeMs)
    if (milli === 0n) return undefined
    return {
      lender,
      user: workload.owner,
      milli,
      meshlet: p.meshlet,
      workload: workload.uri,
      round: p.round,
      creditedMs,
      endAt: end,
      resources,
    }
  }
}

interface AuditedRound {
  info: RoundInfo
  bids: BidView[]
  /** Computed on first use: judging a round needs the ledger of its cutoff. */
  lazyWinners: string[] | undefined
  statusOf: (meshlet: string) => StatusView | undefined
}

// The newer of two writes of one status record; ties broken by CID, as the rounds do.
function newer(a: StatusView, b: StatusView): boolean {
  const ta = timeOf(a.record.updatedAt)
  const tb = timeOf(b.record.updatedAt)
  if (Number.isNaN(tb) && !Number.isNaN(ta)) return true
  if (Number.isNaN(ta) || Number.isNaN(tb) || ta === tb) {
    return Number.isNaN(ta) === Number.isNaN(tb) && a.cid > b.cid
  }
  return ta > tb
}

function push<T>(map: Map<string, T[]>, key: string, value: T): void {
  const list = map.get(key)
  if (list === undefined) map.set(key, [value])
  else list.push(value)
}
