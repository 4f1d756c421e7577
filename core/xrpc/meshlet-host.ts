// The XrpcHost of a running Meshlet: the answers come from what the meshlet already knows (its
// records, its containers), and the app supplies what only it has (the host's size, the lending
// toggle it persists). `meshlet()` is read on every call, since the app may replace the meshlet
// (another machine account) while the server keeps running.
import { AtUri } from '@atproto/syntax'
import { clusterView } from '../identity/cluster.js'
import type { Resources } from '../lexicon/index.js'
import type { Meshlet } from '../meshlet.js'
import { roundOf, select, type Explanation } from '../scheduling/index.js'
import type {
  CapacityView,
  ReplicaLogs,
  ReplicaView,
  WorkloadStatusView,
  XrpcHost,
} from './host.js'

export interface MeshletHostOptions {
  meshlet: () => Meshlet | undefined
  /** What the machine has. */
  total: () => Resources
  /** The owner's lending toggle, as the app keeps it (so the dashboard shows it too). */
  setLending: (lending: boolean) => Promise<void>
  now?: () => number
}

const LIVE = new Set(['running', 'created', 'restarting'])

export function meshletHost(opts: MeshletHostOptions): XrpcHost {
  const now = opts.now ?? Date.now
  const running = (): Meshlet => {
    const m = opts.meshlet()
    if (!m) throw new Error('this meshlet is not running')
    return m
  }
  const capacity = (): CapacityView => {
    const m = running()
    const used = { cpuMillis: 0, memoryMiB: 0, storageMiB: 0 }
    for (const r of m.replicas) {
      if (!LIVE.has(r.state)) continue
      const res = m.store.workloads.get(r.workloadUri)?.record.resources
      if (!res) continue
      used.cpuMillis += res.cpuMillis
      used.memoryMiB += res.memoryMiB
      used.storageMiB += res.storageMiB ?? 0
    }
    return {
      meshlet: m.did as CapacityView['meshlet'],
      owner: m.opts.owner as CapacityView['owner'],
      lending: m.isLending,
      paused: m.isPaused,
      total: opts.total(),
      offered: m.settings.offer,
      used,
    }
  }
  return {
    self: () => {
      const m = opts.meshlet()
      return m ? { meshlet: m.did, owner: m.opts.owner } : undefined
    },
    members: () => {
      const report = opts.meshlet()?.clusterReport
      return new Set(report?.peers.flatMap((p) => [p.owner, ...p.meshlets]) ?? [])
    },
    capacity,
    replicas: () => {
      const m = running()
      return m.replicas.map((r): ReplicaView => {
        const w = m.store.workloads.get(r.workloadUri)
        return {
          workload: r.workloadUri as ReplicaView['workload'],
          owner: new AtUri(r.workloadUri).host as ReplicaView['owner'],
          round: r.round,
          state: r.state,
          image: (w?.record.image ?? r.image).slice(0, 512),
          ...(w ? { resources: w.record.resources } : {}),
          ...(r.startedAt ? { startedAt: r.startedAt as ReplicaView['startedAt'] } : {}),
          ...(r.exitCode !== undefined ? { exitCode: r.exitCode } : {}),
        }
      })
    },
    workloadStatus: (uri) => {
      const m = running()
      const w = m.store.workloads.get(uri)
      if (!w) return undefined
      const view = clusterView(m.store.linkage)
      const statuses = m.store.statusesFor(uri).filter((s) => s.record.workload.cid === w.cid)
      const bids = m.store.bidsFor(uri)
      const info = roundOf(w, statuses, { bids, cluster: view }, now(), m.config)
      const selection = select(w, info, bids, view)
      const noBid = (m.explanation(uri) as Explanation | undefined)?.noBid
      const body: WorkloadStatusView = {
        uri: w.uri as WorkloadStatusView['uri'],
        cid: w.cid as WorkloadStatusView['cid'],
        round: info.round,
        bids: selection.ranked
          .filter((r) => r.bid.record.round === info.round || !r.valid)
          .map((r) => ({
            meshlet: r.bid.meshlet as `did:${string}:${string}`,
            round: r.bid.record.round,
            priority: r.bid.record.priority,
            valid: r.valid,
            ...(r.reason ? { reason: r.reason.slice(0, 64) } : {}),
            winner: r.winner,
          })),
        statuses: statuses.map((s) => ({
          meshlet: s.meshlet as `did:${string}:${string}`,
          round: s.record.round,
          state: s.record.state,
          ...(s.record.exitCode !== undefined ? { exitCode: s.record.exitCode } : {}),
          ...(s.record.message ? { message: s.record.message } : {}),
          updatedAt: s.record.updatedAt,
        })),
        ...(noBid ? { noBidReason: noBid.slice(0, 64) } : {}),
      }
      return body
    },
    deleteWorkload: async (uri) => {
      const m = running()
      const runtime = m.opts.runtime
      if (!runtime) return 0
      let stopped = 0
      for (const r of await runtime.find(uri)) {
        if (await m.stopGuest(r.containerId, 'stopped-by-owner')) stopped++
      }
      return stopped
    },
    pause: () => opts.setLending(false),
    resume: () => opts.setLending(true),
    logs: async (uri, { lines, since }) => {
      const runtime = running().opts.runtime
      if (!runtime) return undefined
      const found = await runtime.find(uri)
      if (found.length === 0) return undefined
      const out: ReplicaLogs[] = []
      for (const r of found) {
        const tail = await runtime.logs(r.containerId, {
          lines,
          ...(since !== undefined ? { since } : {}),
        })
        out.push({
          round: r.round,
          state: r.state,
          truncated: tail.truncated,
          lines: tail.lines.map((l) => ({ ...l, at: l.at as ReplicaLogs['lines'][number]['at'] })),
        })
      }
      return out
    },
  }
}
