// Which local replicas this meshlet's presence may vouch for. Pure: records and `now` in, a list out.
import {
  ENDING_STATES,
  roundHistory,
  type BidAudit,
  type BidView,
  type ClusterView,
  type PresenceIndex,
  type SchedulingConfig,
  type StatusView,
  type WorkloadView,
} from '../scheduling/index.js'

export interface VouchedReplica {
  workload: { uri: string; cid: string }
  round: number
}

export interface VouchInput {
  meshlet: string
  /** Local containers that run. */
  running: readonly { workloadUri: string; cid: string; round: number }[]
  workloads: ReadonlyMap<string, WorkloadView>
  statusesFor: (workloadUri: string) => readonly StatusView[]
  bidsFor: (workloadUri: string) => readonly BidView[]
  cluster: ClusterView
  presence: PresenceIndex
  now: number
  config: SchedulingConfig
  /** The bid audit plan() judges rounds with (fairshare.Audit.expected). Without it a bid that
   *  declares a priority the ledger does not give it would win here and lose in the plan: the
   *  presence would leave out a replica the plan keeps running, and peers would count it lost. */
  audit?: BidAudit
}

/**
 * The replicas whose placement on this meshlet peers still count alive, and whose own status is
 * not an ending: vouching for anything else would either resurrect a replica peers have replaced
 * or contradict its ending. Sorted, so equal inputs give equal records.
 */
export function vouchFor(input: VouchInput): VouchedReplica[] {
  const out: VouchedReplica[] = []
  for (const r of input.running) {
    const w = input.workloads.get(r.workloadUri)
    if (w === undefined || w.cid !== r.cid) continue
    const statuses = input.statusesFor(w.uri)
    const own = statuses.find(
      (s) =>
        s.meshlet === input.meshlet &&
        s.record.workload.cid === w.cid &&
        s.record.round === r.round,
    )
    if (
      own === undefined ||
      ENDING_STATES.has(own.record.state) ||
      own.record.state === 'draining'
    ) {
      continue
    }
    const history = roundHistory(
      w,
      statuses,
      {
        bids: input.bidsFor(w.uri),
        cluster: input.cluster,
        ...(input.audit ? { audit: input.audit } : {}),
      },
      input.now,
      input.config,
      input.presence,
    )
    const placement = history.placements.find(
      (p) => p.meshlet === input.meshlet && p.round === r.round,
    )
    if (placement?.fate.kind !== 'alive') continue
    out.push({ workload: { uri: w.uri, cid: w.cid }, round: r.round })
  }
  return out.sort(
    (a, b) =>
      (a.workload.uri < b.workload.uri ? -1 : a.workload.uri > b.workload.uri ? 1 : 0) ||
      a.round - b.round,
  )
}
