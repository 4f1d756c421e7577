// What auditing every bid costs a plan (docs/fair-share.md): a commune of OWNERS members, each
// with one meshlet, and WORKLOADS workloads that each ran ROUNDS rounds (every round's winner
// published a status, every meshlet bid). The baseline, measured in the same process, is the same
// plan with declared priorities taken on their word.
import { Audit } from '../core/fairshare/index.js'
import { NSID } from '../core/lexicon/index.js'
import {
  DEFAULT_CONFIG,
  bidUri,
  plan,
  statusUri,
  type BidView,
  type ClusterView,
  type StatusView,
  type WorkloadView,
} from '../core/scheduling/index.js'
import { medianMs } from './median.js'

const OWNERS = 8
const T0 = Date.parse('2026-01-01T00:00:00.000Z')
const SIZES = (process.env.BENCH_WORKLOADS ?? '10,50,200').split(',').map(Number)
const ROUNDS = 3

interface World {
  workloads: WorkloadView[]
  bids: BidView[]
  statuses: StatusView[]
  cluster: ClusterView
  now: number
}

function world(n: number): World {
  const owners = Array.from({ length: OWNERS }, (_, i) => `did:plc:owner${i}`)
  const meshlets = owners.map((_, i) => `did:plc:mesh${i}`)
  const cluster: ClusterView = {
    ownerOf: (m) => owners[meshlets.indexOf(m)],
    isMutual: () => true,
  }
  const { graceMs, lostAfterMs, defaultBidWindowMs } = DEFAULT_CONFIG
  const period = defaultBidWindowMs + graceMs + lostAfterMs
  const workloads: WorkloadView[] = []
  const bids: BidView[] = []
  const statuses: StatusView[] = []
  for (let i = 0; i < n; i++) {
    const owner = owners[i % OWNERS]!
    const created = T0 + i * 60_000
    const w: WorkloadView = {
      uri: `at://${owner}/${NSID.workload}/w${i}`,
      cid: `bafyw${i}`,
      owner,
      record: {
        $type: NSID.workload,
        image: 'commune-test/busybox:1',
        resources: { cpuMillis: 100, memoryMiB: 64 },
        replicas: 1,
        createdAt: new Date(created).toISOString(),
      } as WorkloadView['record'],
    }
    workloads.push(w)
    // Each round's winner heartbeats, then stops; the next round opens at the stop.
    for (let r = 0; r < ROUNDS; r++) {
      const opens = created + r * period
      for (const m of meshlets) {
        bids.push({
          uri: bidUri(m, w.uri, r, w.cid),
          cid: `bafyb${i}-${r}-${m}`,
          meshlet: m,
          record: {
            $type: NSID.bid,
            workload: { uri: w.uri, cid: w.cid },
            round: r,
            priority: 0,
            offer: w.record.resources,
            createdAt: new Date(opens + 1000).toISOString(),
          } as BidView['record'],
        })
      }
      const winner = meshlets[(i + r) % meshlets.length]!
      statuses.push({
        uri: statusUri(winner, w.uri, r, w.cid),
        cid: `bafys${i}-${r}`,
        meshlet: winner,
        record: {
          $type: NSID.workloadStatus,
          workload: { uri: w.uri, cid: w.cid },
          round: r,
          state: r === ROUNDS - 1 ? 'running' : 'stopped',
          resources: w.record.resources,
          updatedAt: new Date(opens + period - 1000).toISOString(),
        } as StatusView['record'],
      })
    }
  }
  return { workloads, bids, statuses, cluster, now: T0 + n * 60_000 + ROUNDS * period }
}

export interface AuditFigure {
  workloads: number
  planMs: number
  auditedPlanMs: number
}

export function benchAudit(sizes = SIZES): AuditFigure[] {
  const figures: AuditFigure[] = []
  for (const n of sizes) {
    const w = world(n)
    const input = {
      self: {
        meshlet: 'did:plc:mesh0',
        owner: 'did:plc:owner0',
        lending: true,
        paused: false,
        arch: 'amd64',
        offer: { cpuMillis: 4000, memoryMiB: 8192 },
        committed: { cpuMillis: 0, memoryMiB: 0 },
        allowEgress: false,
      },
      workloads: w.workloads,
      deleted: [],
      bids: w.bids,
      statuses: w.statuses,
      running: [],
      cluster: w.cluster,
      now: w.now,
      config: DEFAULT_CONFIG,
    }
    const runs = n >= 200 ? 5 : 11
    const planMs = medianMs(runs, () => plan({ ...input, priorityOf: () => 0 }))
    const auditedPlanMs = medianMs(runs, () => {
      // A new audit per plan, as the meshlet makes one.
      const audit = new Audit({ ...w, config: DEFAULT_CONFIG, now: w.now })
      plan({
        ...input,
        priorityOf: (_x, info) => audit.priorityAt('did:plc:owner0', audit.cutoffOf(info)),
        audit: audit.expected,
      })
    })
    figures.push({ workloads: n, planMs, auditedPlanMs })
  }
  return figures
}

if (import.meta.url === `file://${process.argv[1]}`) {
  console.log('audited plan (workloads × 3 rounds × 8 meshlets): median ms per plan')
  for (const f of benchAudit()) {
    console.log(
      `  ${String(f.workloads).padStart(4)} workloads  plan ${f.planMs.toFixed(2)} ms  audited ${f.auditedPlanMs.toFixed(2)} ms  ratio ${(f.auditedPlanMs / f.planMs).toFixed(1)}×`,
    )
  }
}
