// Which of a meshlet's own records may be deleted (see README.md). Pure: records and `now` in.
import { NSID } from '../lexicon/index.js'
import {
  roundHistory,
  timeOf,
  type BidAudit,
  type BidView,
  type ClusterView,
  type SchedulingConfig,
  type StatusView,
  type WorkloadView,
} from '../scheduling/index.js'
import type { SettlementView } from '../settlement/index.js'

export const DEFAULT_RETENTION_MS = 24 * 3_600_000

export interface GarbageInput {
  meshlet: string
  /** This meshlet's own bids and statuses. */
  bids: readonly BidView[]
  statuses: readonly StatusView[]
  /** This meshlet's own settlements (core/settlement), if it wrote any. */
  settlements?: readonly SettlementView[]
  /** Workloads known now, by URI. */
  workloads: ReadonlyMap<string, WorkloadView>
  /** Whether a workload missing from `workloads` is known to be gone (its owner's repo was read
   *  completely); an unknown one is kept (its record may not have arrived yet). */
  isGone: (workloadUri: string) => boolean
  /** Everyone's bids and statuses of a workload: the selection of its rounds depends on them. */
  bidsFor: (workloadUri: string) => readonly BidView[]
  statusesFor: (workloadUri: string) => readonly StatusView[]
  cluster: ClusterView
  now: number
  config: SchedulingConfig
  retentionMs: number
  /** The audit peers judge bids by (core/fairshare `Audit.expected`): who won a round is what
   *  the audited selection says. Without it, bids are taken on their word. */
  audit?: BidAudit
}

export interface Garbage {
  collection: typeof NSID.bid | typeof NSID.workloadStatus | typeof NSID.settlement
  rkey: string
  uri: string
  why: 'workload-gone' | 'version-replaced' | 'bid-lost'
}

function rkeyOf(uri: string): string {
  return uri.slice(uri.lastIndexOf('/') + 1)
}

/** The meshlet's own records that nobody needs any more, oldest reasons first, sorted by URI. */
export function garbage(input: GarbageInput): Garbage[] {
  const out: Garbage[] = []
  const old = (date: string | undefined) => timeOf(date) + input.retentionMs <= input.now
  // A losing bid goes sooner: before its round settles (half the retention; core/fairshare),
  // when peers stop auditing it and take what each remaining bid declared. A bid that was void
  // must be gone by then, or it would win on its word.
  const lostAfter = input.retentionMs / 4
  const oldLost = (date: string | undefined) => timeOf(date) + lostAfter <= input.now
  const fate = (uri: string, cid: string): Garbage['why'] | 'keep' => {
    const w = input.workloads.get(uri)
    if (w === undefined) return input.isGone(uri) ? 'workload-gone' : 'keep'
    return w.cid !== cid ? 'version-replaced' : 'keep'
  }
  for (const s of input.statuses) {
    if (s.meshlet !== input.meshlet || !old(s.record.updatedAt)) continue
    const why = fate(s.record.workload.uri, s.record.workload.cid)
    if (why !== 'keep')
      out.push({ collection: NSID.workloadStatus, rkey: rkeyOf(s.uri), uri: s.uri, why })
  }
  // A settlement goes with its workload's version, as the statuses do: a settled round is judged
  // by it for as long as that version's bids are there.
  for (const a of input.settlements ?? []) {
    if (a.meshlet !== input.meshlet || !old(a.record.createdAt)) continue
    const why = fate(a.record.workload.uri, a.record.workload.cid)
    if (why !== 'keep')
      out.push({ collection: NSID.settlement, rkey: rkeyOf(a.uri), uri: a.uri, why })
  }
  const lostBids = new Map<string, BidView[]>()
  for (const b of input.bids) {
    if (b.meshlet !== input.meshlet || !oldLost(b.record.createdAt)) continue
    const why = fate(b.record.workload.uri, b.record.workload.cid)
    if (why !== 'keep') {
      if (!old(b.record.createdAt)) continue
      out.push({ collection: NSID.bid, rkey: rkeyOf(b.uri), uri: b.uri, why })
      continue
    }
    // Kept as unknown (its workload may not have arrived yet): nothing to judge it by.
    if (!input.workloads.has(b.record.workload.uri)) continue
    const list = lostBids.get(b.record.workload.uri) ?? []
    list.push(b)
    lostBids.set(b.record.workload.uri, list)
  }
  // Bids of the current version: only those whose round is decided and did not place us.
  for (const [uri, mine] of lostBids) {
    const w = input.workloads.get(uri)!
    const history = roundHistory(
      w,
      input.statusesFor(uri),
      {
        bids: input.bidsFor(uri),
        cluster: input.cluster,
        ...(input.audit ? { audit: input.audit } : {}),
      },
      input.now,
      input.config,
    )
    for (const b of mine) {
      const round = b.record.round
      const decided =
        round < history.current.round ||
        (round === history.current.round && input.now >= history.current.decideAt)
      const placed = history.placements.some(
        (p) => p.meshlet === input.meshlet && p.round === round,
      )
      if (decided && !placed)
        out.push({ collection: NSID.bid, rkey: rkeyOf(b.uri), uri: b.uri, why: 'bid-lost' })
    }
  }
  return out.sort((a, b) => (a.uri < b.uri ? -1 : a.uri > b.uri ? 1 : 0))
}
