// Rounds: which bidding cycle of a workload version is current, computed from records alone so
// every peer agrees (DESIGN §4, §5). The whole history is replayed from round 0 on every call; it
// is short, and replaying is what makes the answer a function of the records.
import { sightingOf, type Sighting } from './liveness.js'
import { select } from './select.js'
import type {
  BidView,
  PresenceIndex,
  RoundBids,
  RoundInfo,
  SchedulingConfig,
  Selection,
  StatusView,
  WorkloadView,
} from './types.js'
import { DEFAULT_CONFIG } from './types.js'
import { compareStrings, timeOf } from './util.js'

/** The lexicon's upper bound for a round number. */
export const MAX_ROUND = 1_000_000

/** Reschedule back-off never grows beyond this (unless the workload's first delay is longer). */
export const MAX_BACKOFF_MS = 5 * 60_000

export const DEFAULT_RESTART = Object.freeze({ mode: 'never', maxAttempts: 3, delayMs: 5_000 })

/** Why a placement stopped counting as a healthy replica. */
export type LossCause =
  /** Its status heartbeat is older than lostAfter. */
  | 'heartbeat'
  /** It never published a status by decideAt + lostAfter. */
  | 'no-show'
  /** failed, or exited with a nonzero code, under on-failure/always. */
  | 'failed'
  /** exited 0 under always. */
  | 'restart'
  | 'draining'
  | 'stopped'
  | 'yielded'
  /** Its winner's offer was full with other wins: released at once, and the decliner sits out
   *  the round that replaces it. */
  | 'declined'

export type Fate =
  /** Healthy; lost at `until` unless a newer heartbeat arrives. */
  | { kind: 'alive'; until: number }
  | { kind: 'lost'; cause: LossCause; at: number }
  /** Ended, and the restart policy asks for no new placement: it keeps its slot. */
  | { kind: 'done' }

/** A winner of some round: one replica placed on one meshlet. */
export interface Placement {
  meshlet: string
  round: number
  decideAt: number
  status?: StatusView
  fate: Fate
  /** The round that replaced it, once its slot was handed on. */
  replacedIn?: number
  /** Its failure came after the failure budget was spent: it keeps its slot for good. */
  givenUp?: boolean
}

export interface RoundHistory {
  current: RoundInfo
  /** Winners of the current round as the records stand; final once now >= current.decideAt. */
  winners: string[]
  /** Selections of the rounds that had bids (only when bids were given). */
  selections: Map<number, Selection>
  /** Every round replayed (rounds nobody bid in may be skipped), oldest first; the last is
   *  `current`. */
  rounds: RoundInfo[]
  placements: Placement[]
}

interface RestartPolicy {
  mode: string
  maxAttempts: number
  delayMs: number
}

function restartPolicyOf(workload: WorkloadView): RestartPolicy {
  const policy = workload.record.restartPolicy
  return {
    mode: policy?.mode ?? DEFAULT_RESTART.mode,
    maxAttempts: policy?.maxAttempts ?? DEFAULT_RESTART.maxAttempts,
    delayMs: policy?.delayMs ?? DEFAULT_RESTART.delayMs,
  }
}

/** Back-off before the new placement for a failure, after `failures` earlier ones. */
export function backoffMs(delayMs: number, failures: number): number {
  const cap = Math.max(MAX_BACKOFF_MS, delayMs)
  // 2^20 already passes any cap; stopping there keeps the arithmetic exact.
  return Math.min(cap, delayMs * 2 ** Math.min(failures, 20))
}

/** Where round 0 of this workload version opens: updatedAt, else createdAt. */
export function versionOpensAt(workload: WorkloadView): number {
  return timeOf(workload.record.updatedAt ?? workload.record.createdAt)
}

export function bidWindowOf(workload: WorkloadView, config: SchedulingConfig): number {
  return workload.record.bidWindowMs ?? config.defaultBidWindowMs
}

function isFailure(cause: LossCause): boolean {
  return cause === 'failed' || cause === 'restart'
}

// Which statuses count: this version only, and of each meshlet's several writes for a round the
// newest (ties broken by CID so the choice never depends on input order).
function latestStatuses(
  workload: WorkloadView,
  statuses: readonly StatusView[],
): Map<string, StatusView> {
  const latest = new Map<string, StatusView>()
  for (const status of statuses) {
    const ref = status.record.workload
    if (ref.uri !== workload.uri || ref.cid !== workload.cid) continue
    const key = `${status.record.round} ${status.meshlet}`
    const seen = latest.get(key)
    if (seen === undefined || newer(status, seen)) latest.set(key, status)
  }
  return latest
}

function newer(a: StatusView, b: StatusView): boolean {
  const ta = timeOf(a.record.updatedAt)
  const tb = timeOf(b.record.updatedAt)
  if (ta !== tb && !(Number.isNaN(ta) && Number.isNaN(tb))) {
    if (Number.isNaN(tb)) return true
    if (Number.isNaN(ta)) return false
    return ta > tb
  }
  return compareStrings(a.cid, b.cid) > 0
}

/**
 * What became of a placement, from its latest status. Status times are clamped to the round's
 * decideAt: a replica cannot end before it was chosen, and the clamp keeps history causal when a
 * meshlet's clock runs a little behind.
 */
export function fateOf(
  decideAt: number,
  status: StatusView | undefined,
  policy: { mode: string },
  now: number,
  config: SchedulingConfig,
  /** When the host's presence last vouched for this replica (NaN: it does not), or the whole
   *  sighting (liveness.ts): how long that stays fresh under the host's rule, and the deadline
   *  of a challenge that counts against it. */
  seen: number | Sighting = Number.NaN,
): Fate {
  if (status === undefined) {
    const deadline = decideAt + config.lostAfterMs
    return deadline <= now
      ? { kind: 'lost', cause: 'no-show', at: deadline }
      : { kind: 'alive', until: deadline }
  }
  const updated = timeOf(status.record.updatedAt)
  const at = Number.isNaN(updated) ? decideAt : Math.max(updated, decideAt)
  const restarts = policy.mode === 'on-failure' || policy.mode === 'always'
  const state: string = status.record.state
  switch (state) {
    case 'failed':
      return restarts ? { kind: 'lost', cause: 'failed', at } : { kind: 'done' }
    case 'exited':
      if ((status.record.exitCode ?? 0) !== 0) {
        return restarts ? { kind: 'lost', cause: 'failed', at } : { kind: 'done' }
      }
      return policy.mode === 'always' ? { kind: 'lost', cause: 'restart', at } : { kind: 'done' }
    case 'draining':
    case 'stopped':
    case 'yielded':
    case 'declined':
      return { kind: 'lost', cause: state, at }
    default: {
      // starting, running, and states from newer peers we do not know: alive while the status
      // or the host's presence that lists the replica is fresh, under the rule the presence
      // declares, and not after an unanswered challenge's deadline.
      const sighting: Sighting =
        typeof seen === 'number' ? { at: seen, lostAfterMs: config.lostAfterMs } : seen
      const listed = !Number.isNaN(sighting.at)
      const fresh = listed ? Math.max(at, sighting.at) : at
      let until = fresh + (listed ? sighting.lostAfterMs : config.lostAfterMs)
      if (listed && sighting.answerBy !== undefined) {
        until = Math.min(until, Math.max(sighting.answerBy, decideAt))
      }
      return until <= now
        ? { kind: 'lost', cause: 'heartbeat', at: until }
        : { kind: 'alive', until }
    }
  }
}

/** When `meshlet`'s presence last listed the replica of (workload version, round); NaN when its
 *  presence does not list it. */
export function presenceTime(
  presence: PresenceIndex | undefined,
  meshlet: string,
  workload: WorkloadView,
  round: number,
): number {
  return sightingOf(presence, meshlet, workload, round, DEFAULT_CONFIG).at
}

/** When the slot of a placement may be handed to a new round; Infinity when never. */
function releaseAt(placement: Placement, delayMs: number, failures: number): number {
  const fate = placement.fate
  if (placement.replacedIn !== undefined || placement.givenUp === true) return Infinity
  if (fate.kind === 'done') return Infinity
  if (fate.kind === 'alive') return fate.until
  return isFailure(fate.cause) ? fate.at + backoffMs(delayMs, failures) : fate.at
}

function sorted(values: Iterable<string>): string[] {
  return [...new Set(values)].sort(compareStrings)
}

/**
 * Replays the rounds of a workload version up to `now`. With `bids`, the winners of each round
 * come from select(); without, the meshlets that published a status for the round stand in for
 * them (good enough to show a round, but the executor must always pass the bids).
 */
export function roundHistory(
  workload: WorkloadView,
  statuses: readonly StatusView[],
  bids: RoundBids | undefined,
  now: number,
  config: SchedulingConfig = DEFAULT_CONFIG,
  presence?: PresenceIndex,
): RoundHistory {
  const record = workload.record
  const policy = restartPolicyOf(workload)
  const window = bidWindowOf(workload, config)
  const replicas = Math.max(0, record.replicas)
  const latest = latestStatuses(workload, statuses)

  const bidsByRound = new Map<number, BidView[]>()
  const active = new Set<number>()
  if (bids !== undefined) {
    for (const bid of bids.bids) {
      const ref = bid.record.workload
      if (ref.uri !== workload.uri || ref.cid !== workload.cid) continue
      const list = bidsByRound.get(bid.record.round)
      if (list === undefined) bidsByRound.set(bid.record.round, [bid])
      else list.push(bid)
      active.add(bid.record.round)
    }
  } else {
    for (const status of latest.values()) active.add(status.record.round)
  }
  const activeRounds = [...active].sort((a, b) => a - b)
  // Without bids, statuses stand in for winners: index them by round once, not per round.
  const statusesByRound = new Map<number, StatusView[]>()
  if (bids === undefined) {
    for (const status of latest.values()) {
      const list = statusesByRound.get(status.record.round)
      if (list === undefined) statusesByRound.set(status.record.round, [status])
      else list.push(status)
    }
  }
  // The next round with bids or statuses, for the fast-forward; rounds only grow, so a cursor.
  let activeIndex = 0

  const placements: Placement[] = []
  // Placements not yet replaced (at most `replicas` of them): the only ones that hold a slot or
  // can release one, so each round looks at these instead of the whole history.
  let holding: Placement[] = []
  const selections = new Map<number, Selection>()
  const rounds: RoundInfo[] = []
  /** Meshlets whose placement never showed up: not placed again in this version. */
  const noShows = new Set<string>()
  /** Meshlets whose failure the next round replaces: they sit that round out, so the replica
   *  goes elsewhere when it can, and may come back to them in a later round (a commune of one
   *  lender still restarts its replicas). */
  let sittingOut = new Set<string>()
  /** Who declined a slot handed on to the next round: barred from that round only, so the
   *  reopened round cannot pick them again, while a later one may. */
  let declinedNext = new Set<string>()
  let failures = 0
  /** Consecutive short rounds that had winners: the retry back-off. Empty rounds cost nobody a
   *  write, so they do not count (and stay cheap to fast-forward over). */
  let shortRuns = 0
  /** The round before this one placed fewer replicas than it had slots: nobody else could take
   *  them for a whole window, so holders may bid in this one (after everyone else). So may they
   *  in a round that replaces a declined win (its winner could not take it either). */
  let afterShort = false
  let exhausted = false
  let round = 0
  let opensAt = versionOpensAt(workload)
  if (Number.isNaN(opensAt)) opensAt = Infinity

  for (;;) {
    const excludedSorted =
      sittingOut.size === 0 && noShows.size === 0 ? [] : sorted([...noShows, ...sittingOut])
    const closesAt = opensAt + window
    const decideAt = closesAt + config.graceMs
    const info: RoundInfo = {
      round,
      opensAt,
      closesAt,
      decideAt,
      slots: Math.max(0, replicas - holding.length),
      excluded: excludedSorted,
      holders: holding.map((p) => p.meshlet).sort(compareStrings),
      ...((afterShort || declinedNext.size > 0) && holding.length > 0
        ? { holdersMayBid: true }
        : {}),
      ...(declinedNext.size > 0 ? { declined: sorted(declinedNext) } : {}),
      exhausted,
      failures,
    }
    declinedNext = new Set()
    sittingOut = new Set()
    rounds.push(info)

    let winners: string[]
    if (bids !== undefined) {
      const selection = select(
        workload,
        info,
        bidsByRound.get(round) ?? [],
        bids.cluster,
        bids.audit,
      )
      if (selection.ranked.length > 0) selections.set(round, selection)
      winners = selection.winners
    } else {
      winners = (statusesByRound.get(round) ?? [])
        .filter((s) => s.record.state !== 'yielded' && s.record.state !== 'declined')
        .map((s) => s.meshlet)
        .filter(
          (m) =>
            !info.excluded.includes(m) &&
            (info.holdersMayBid === true || !info.holders.includes(m)) &&
            !(info.declined ?? []).includes(m),
        )
        .sort(compareStrings)
        .slice(0, info.slots)
    }
    for (const meshlet of winners) {
      const status = latest.get(`${round} ${meshlet}`)
      const seen = sightingOf(presence, meshlet, workload, round, config)
      const fate = fateOf(decideAt, status, policy, now, config, seen)
      const placement: Placement = { meshlet, round, decideAt, fate, ...(status ? { status } : {}) }
      placements.push(placement)
      holding.push(placement)
    }

    // Find where the next round opens. Usually one pass; another when the only slots due were
    // failures past the budget, which are given up rather than handed on.
    let next: number
    for (;;) {
      const releases = holding
        .map((p) => releaseAt(p, policy.delayMs, failures))
        .filter((t) => t !== Infinity)
      const minRelease = Math.min(...releases)
      // A round that placed fewer replicas than it had slots tries again within seconds: bids
      // that came late (a stream cut, a loaded machine, a winner declining) get another window
      // at a time every peer computes alike. Repeated short rounds with bids back off.
      const retryDelay = retryDelayMs(config, shortRuns)
      const retryAt = winners.length < info.slots ? decideAt + retryDelay : Infinity
      next = Math.max(decideAt, Math.min(minRelease, retryAt))

      if (!(next <= now) || round >= MAX_ROUND) {
        const future = [opensAt, closesAt, decideAt, next, ...releases].filter(
          (t) => t > now && Number.isFinite(t),
        )
        if (future.length > 0) info.nextChangeAt = Math.min(...future)
        info.exhausted = exhausted
        return { current: info, winners, selections, placements, rounds }
      }

      // Fast-forward over rounds that nobody bid in: each opens one period after the last, and
      // replaying them one by one would only cost time on a workload nobody can take.
      if (winners.length === 0 && retryAt < minRelease) {
        const period = window + config.graceMs + retryDelay
        const byNow = Math.floor((now - opensAt) / period)
        const byRelease =
          minRelease === Infinity ? Infinity : Math.ceil((minRelease - opensAt) / period) - 1
        while (activeIndex < activeRounds.length && activeRounds[activeIndex]! <= round) {
          activeIndex += 1
        }
        const nextActive = activeRounds[activeIndex]
        const byActivity = nextActive === undefined ? Infinity : nextActive - round
        const skip = Math.min(byNow, byRelease, byActivity, MAX_ROUND - round)
        if (skip >= 2) {
          next = opensAt + skip * period
          round += skip - 1
          // A bar on the next round only (a failure's host sitting out, a decliner) was spent
          // in the rounds skipped, as a replay of each would have spent it.
          sittingOut = new Set()
          declinedNext = new Set()
          break
        }
      }

      // Hand on every slot released by `next`, oldest first.
      const due = holding
        .filter((p) => releaseAt(p, policy.delayMs, failures) <= next)
        .sort(
          (a, b) =>
            releaseAt(a, policy.delayMs, failures) - releaseAt(b, policy.delayMs, failures) ||
            a.round - b.round ||
            compareStrings(a.meshlet, b.meshlet),
        )
      let handedOn = retryAt <= next
      for (const p of due) {
        const fate = p.fate
        if (fate.kind === 'lost' && isFailure(fate.cause)) {
          if (failures >= policy.maxAttempts) {
            p.givenUp = true
            exhausted = true
          } else {
            failures += 1
            p.replacedIn = round + 1
            handedOn = true
          }
          if (fate.cause === 'failed') sittingOut.add(p.meshlet)
        } else {
          p.replacedIn = round + 1
          handedOn = true
          if (fate.kind === 'lost' && fate.cause === 'no-show') noShows.add(p.meshlet)
          if (fate.kind === 'lost' && fate.cause === 'declined') declinedNext.add(p.meshlet)
        }
      }
      holding = holding.filter((p) => p.replacedIn === undefined)
      if (handedOn) break
    }
    if (winners.length >= info.slots) shortRuns = 0
    else if (winners.length > 0) shortRuns += 1
    afterShort = winners.length < info.slots
    round += 1
    opensAt = next
  }
}

/** How long after decideAt a short round reopens, after `shortRuns` earlier short rounds. */
export function retryDelayMs(config: SchedulingConfig, shortRuns: number): number {
  return Math.min(
    Math.max(config.maxRetryMs, config.retryMs),
    config.retryMs * 2 ** Math.min(shortRuns, 20),
  )
}

/**
 * The current round of a workload version. `bids` are the bids seen for it and the cluster to
 * judge them with: the winners of earlier rounds decide which replicas later rounds replace.
 */
export function roundOf(
  workload: WorkloadView,
  statuses: readonly StatusView[],
  bids: RoundBids | undefined,
  now: number,
  config: SchedulingConfig = DEFAULT_CONFIG,
  presence?: PresenceIndex,
): RoundInfo {
  return roundHistory(workload, statuses, bids, now, config, presence).current
}
