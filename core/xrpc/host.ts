// What the XRPC server is composed with: the meshlet's answers, as plain functions. The server
// knows nothing of Meshlet or the app; `meshlet-host.ts` builds this from them, and a test can
// build it from anything.
import type { farm } from '../lexicon/index.js'

export type CapacityView = farm.meshlet.defs.Capacity
export type ReplicaView = farm.meshlet.defs.ReplicaView
export type ReplicaLogs = farm.meshlet.defs.ReplicaLogs
export type WorkloadStatusView = farm.meshlet.getWorkloadStatus.$OutputBody

export interface XrpcHost {
  /** This meshlet's DID and its owner's; undefined while no meshlet runs (answers 503). */
  self(): { meshlet: string; owner: string } | undefined
  /** DIDs of the cluster: mutual owners and their verified meshlets. */
  members(): ReadonlySet<string>
  capacity(): CapacityView
  /** The guest replicas here, in a stable order. */
  replicas(): ReplicaView[]
  /** This meshlet's view of a workload, or undefined when it does not know it. */
  workloadStatus(uri: string): WorkloadStatusView | undefined
  /** Stops and removes this meshlet's replicas of a workload; how many. */
  deleteWorkload(uri: string): Promise<number>
  pause(): Promise<void>
  resume(): Promise<void>
  /** Each local replica's last lines, or undefined when none runs or ran here. */
  logs(uri: string, opts: { lines: number; since?: number }): Promise<ReplicaLogs[] | undefined>
}
