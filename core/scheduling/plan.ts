// The plan: what this meshlet should do now, as data. A thin executor applies it to Docker and
// the repo, then calls plan() again on new records or at nextWakeAt.
import type { NoBidReason } from './reasons.js'
import { runtimeDeadline } from './deadline.js'
import { eligibility } from './eligibility.js'
import { roundHistory, versionOpensAt, type Placement, type RoundHistory } from './rounds.js'
import type {
  BidAction,
  BidView,
  DeclineAction,
  Explanation,
  LocalReplica,
  Plan,
  PlanInput,
  StartAction,
  StatusView,
  StopAction,
  StopReason,
  WorkloadView,
} from './types.js'
import type { Resources } from '../lexicon/index.js'
import { add, bidRkey, compareStrings, fits, spreadKey, subtract } from './util.js'

/** The lexicon's bounds for a bid's priority. */
export const MAX_PRIORITY = 1_000_000_000_000

/** An integer inside the lexicon's bounds, whatever the priority function returned. */
export function clampPriority(priority: number): number {
  if (!Number.isFinite(priority)) return 0
  return Math.max(-MAX_PRIORITY, Math.min(MAX_PRIORITY, Math.trunc(priority)))
}

// If a caller passes two versions of one workload, the newer one (then the larger CID) is the
// workload; the other is superseded.
function latestVersions(workloads: readonly WorkloadView[], deleted: Set<string>) {
  const byUri = new Map<string, WorkloadView>()
  for (const w of workloads) {
    if (deleted.has(w.uri)) continue
    const seen = byUri.get(w.uri)
    if (
      seen === undefined ||
      versionOpensAt(w) > versionOpensAt(seen) ||
      (versionOpensAt(w) === versionOpensAt(seen) && compareStrings(w.cid, seen.cid) > 0)
    ) {
      byUri.set(w.uri, w)
    }
  }
  return [...byUri.values()]
}

const PUBLISH: Record<StopReason, StopAction['status']> = {
  yielded: 'yielded',
  paused: 'draining',
  deleted: 'stopped',
  superseded: 'stopped',
  'not-selected': 'stopped',
  'max-runtime': 'failed',
}

function stop(replica: LocalReplica, reason: StopReason, publish = true): StopAction {
  const status = publish ? PUBLISH[reason] : undefined
  return {
    type: 'stop',
    workloadUri: replica.workloadUri,
    cid: replica.cid,
    round: replica.round,
    reason,
    ...(status !== undefined ? { status } : {}),
  }
}

/** Docker states of a container that has stopped running on its own or is going away. */
const ENDED = new Set(['exited', 'dead', 'removing'])

// A replica whose round's selection ranks this meshlet's valid bid below the winners was
// outbid (usually by a late bid): it yields. Anything else is simply not selected.
function lostReason(history: RoundHistory, meshlet: string, round: number): StopReason {
  const selection = history.selections.get(round)
  const mine = selection?.ranked.find((r) => r.bid.meshlet === meshlet && r.rank !== undefined)
  const placed = history.placements.some((p) => p.meshlet === meshlet && p.round === round)
  return mine !== undefined && !mine.winner && !placed ? 'yielded' : 'not-selected'
}

function hasOwnBid(
  bidsByUri: Map<string, BidView[]>,
  meshlet: string,
  workload: WorkloadView,
  round: number,
): boolean {
  return (bidsByUri.get(workload.uri) ?? []).some(
    (b) =>
      b.meshlet === meshlet && b.record.workload.cid === workload.cid && b.record.round === round,
  )
}

export function plan(input: PlanInput): Plan {
  const { self, cluster, now, config } = input
  const deleted = new Set(input.deleted)
  const idle = self.paused || !self.lending
  const stops: StopAction[] = []
  const starts: StartAction[] = []
  const bidActions: BidAction[] = []
  const explain = new Map<string, Explanation>()
  let wake = Infinity

  const bidsByUri = new Map<string, BidView[]>()
  for (const bid of input.bids) {
    const list = bidsByUri.get(bid.record.workload.uri)
    if (list === undefined) bidsByUri.set(bid.record.workload.uri, [bid])
    else list.push(bid)
  }
  const statusesByUri = new Map<string, StatusView[]>()
  for (const status of input.statuses) {
    const list = statusesByUri.get(status.record.workload.uri)
    if (list === undefined) statusesByUri.set(status.record.workload.uri, [status])
    else list.push(status)
  }
  const localByUri = new Map<string, LocalReplica[]>()
  for (const replica of input.running) {
    const list = localByUri.get(replica.workloadUri)
    if (list === undefined) localByUri.set(replica.workloadUri, [replica])
    else list.push(replica)
  }

  const presence = new Map((input.presence ?? []).map((p) => [p.meshlet, p]))
  const workloads = latestVersions(input.workloads, deleted)
  const known = new Set(workloads.map((w) => w.uri))
  for (const replica of input.running) {
    if (deleted.has(replica.workloadUri)) stops.push(stop(replica, 'deleted'))
    // A workload we do not know (yet) is left alone unless we are pausing: it may be a record
    // the sync layer has not delivered, and only a delete proves it gone.
    else if (!known.has(replica.workloadUri) && idle && !ENDED.has(replica.state)) {
      stops.push(stop(replica, 'paused'))
    }
  }

  // Bids claim capacity in the order rounds opened (then by URI), so when capacity is short the
  // earlier workload gets it, on every run alike.
  const histories = workloads
    .map((workload) => ({
      workload,
      history: roundHistory(
        workload,
        statusesByUri.get(workload.uri) ?? [],
        {
          bids: bidsByUri.get(workload.uri) ?? [],
          cluster,
          ...(input.audit ? { audit: input.audit } : {}),
        },
        now,
        config,
        presence,
      ),
    }))
    .sort(
      (a, b) =>
        a.history.current.opensAt - b.history.current.opensAt ||
        compareStrings(a.workload.uri, b.workload.uri),
    )

  // Capacity is held by wins, not by bids. First the wins: running guests hold what they hold;
  // each decided win without a container is kept while the offer holds it, in the order the
  // rounds were decided (then by spread key), and the rest is declined at once, so those rounds
  // reopen for others within seconds. Nothing this plan starts takes the guests past the offer.
  let held = self.committed
  let bidding: Resources = { cpuMillis: 0, memoryMiB: 0, storageMiB: 0 }
  const wins: { workload: WorkloadView; placement: Placement }[] = []
  for (const { workload, history } of histories) {
    const local = localByUri.get(workload.uri) ?? []
    for (const p of history.placements) {
      if (p.meshlet !== self.meshlet || now < p.decideAt || p.fate.kind !== 'alive') continue
      if (local.some((r) => r.cid === workload.cid && r.round === p.round)) continue
      wins.push({ workload, placement: p })
    }
    const info = history.current
    if (now < info.decideAt && hasOwnBid(bidsByUri, self.meshlet, workload, info.round)) {
      bidding = add(bidding, workload.record.resources)
    }
  }
  wins.sort(
    (a, b) =>
      a.placement.decideAt - b.placement.decideAt ||
      compareStrings(
        spreadKey(a.workload.uri, self.meshlet),
        spreadKey(b.workload.uri, self.meshlet),
      ) ||
      compareStrings(a.workload.uri, b.workload.uri) ||
      a.placement.round - b.placement.round,
  )
  const kept = new Set<Placement>()
  const declines: DeclineAction[] = []
  for (const { workload, placement } of wins) {
    const resources = workload.record.resources
    // An idle meshlet holds nothing new: declining now beats a no-show peers wait lostAfter for.
    if (!idle && fits(resources, subtract(self.offer, held))) {
      kept.add(placement)
      held = add(held, resources)
    } else {
      declines.push({
        type: 'decline',
        workload,
        round: placement.round,
        rkey: bidRkey(workload.uri, placement.round, workload.cid),
      })
    }
  }

  for (const { workload, history } of histories) {
    const info = history.current
    const hasBid = hasOwnBid(bidsByUri, self.meshlet, workload, info.round)
    let noBid: NoBidReason | undefined
    if (!hasBid) {
      const bidder = { ...self, committed: held, bidding, overcommit: config.overcommit }
      const verdict = eligibility(bidder, workload, info, cluster, now, {
        ...(input.declineOwner ? { declineOwner: input.declineOwner } : {}),
        ...(input.imageSize ? { imageSize: input.imageSize } : {}),
      })
      if (verdict.ok) {
        const resources = workload.record.resources
        bidActions.push({
          type: 'bid',
          workload,
          round: info.round,
          priority: clampPriority(input.priorityOf(workload, info)),
          offer: resources,
          rkey: bidRkey(workload.uri, info.round, workload.cid),
        })
        bidding = add(bidding, resources)
      } else {
        noBid = verdict.reason
      }
    }

    // Only decided rounds place replicas: before decideAt a better bid may still arrive.
    const mine = history.placements.filter((p) => p.meshlet === self.meshlet && now >= p.decideAt)
    const keep = mine.filter((p) => p.fate.kind === 'alive' || p.fate.kind === 'done')
    const local = localByUri.get(workload.uri) ?? []
    for (const replica of local) {
      if (replica.cid !== workload.cid) {
        stops.push(stop(replica, 'superseded'))
        continue
      }
      // An ended container of this version holds nothing, and its status already says how it
      // ended; a stop would only rewrite that status and with it every peer's round history.
      if (ENDED.has(replica.state)) continue
      const placement = mine.find((p) => p.round === replica.round)
      // A placement of ours that was lost is history peers have acted on: leave its status be.
      const publish = placement?.fate.kind !== 'lost'
      if (idle) stops.push(stop(replica, 'paused', publish))
      else if (placement !== undefined && placement.fate.kind !== 'lost') {
        const deadline = runtimeDeadline(workload, replica)
        if (deadline === undefined) continue
        if (deadline <= now) stops.push(stop(replica, 'max-runtime'))
        else wake = Math.min(wake, deadline)
      } else if (replica.round === info.round && now < info.decideAt) continue
      else stops.push(stop(replica, lostReason(history, self.meshlet, replica.round), publish))
    }
    if (!idle) {
      for (const p of keep) {
        if (p.fate.kind !== 'alive') continue
        const present = local.some((r) => r.cid === workload.cid && r.round === p.round)
        if (!present && kept.has(p)) {
          starts.push({
            type: 'start',
            workload,
            round: p.round,
            rkey: bidRkey(workload.uri, p.round, workload.cid),
          })
        }
      }
    }

    const selection = history.selections.get(info.round)
    explain.set(workload.uri, {
      cid: workload.cid,
      round: info.round,
      opensAt: info.opensAt,
      closesAt: info.closesAt,
      decideAt: info.decideAt,
      slots: info.slots,
      exhausted: info.exhausted,
      ...(noBid !== undefined ? { noBid } : {}),
      hasBid,
      winners: history.winners,
      decided: now >= info.decideAt,
      holders: info.holders,
      placed: history.placements
        .filter((p) => p.fate.kind === 'alive' && now >= p.decideAt)
        .map((p) => p.meshlet)
        .sort(compareStrings),
      excluded: info.excluded,
      bids: (selection?.ranked ?? []).map((r) => ({
        meshlet: r.bid.meshlet,
        priority: r.bid.record.priority,
        valid: r.valid,
        ...(r.reason !== undefined ? { reason: r.reason } : {}),
        winner: r.winner,
      })),
    })
    if (info.nextChangeAt !== undefined) wake = Math.min(wake, info.nextChangeAt)
  }

  stops.sort(
    (a, b) =>
      compareStrings(a.workloadUri, b.workloadUri) ||
      compareStrings(a.cid, b.cid) ||
      a.round - b.round,
  )
  starts.sort((a, b) => compareStrings(a.workload.uri, b.workload.uri) || a.round - b.round)
  declines.sort((a, b) => compareStrings(a.workload.uri, b.workload.uri) || a.round - b.round)
  const sortedExplain = new Map([...explain.entries()].sort(([a], [b]) => compareStrings(a, b)))
  return {
    // Stops first, so a replica being replaced is gone before its successor starts; declines
    // before starts, so the rounds they reopen open as early as they can.
    actions: [...stops, ...declines, ...starts, ...bidActions],
    capacity: { held, bidding },
    ...(wake !== Infinity ? { nextWakeAt: wake } : {}),
    explain: sortedExplain,
  }
}
