// A replica's status records as this meshlet writes them. Peers compute rounds from these
// records, so their order is part of the protocol: writes for one replica go out in the order
// they were asked for, and once an ending (`ENDING_STATES`: exited, failed, stopped, yielded,
// declined) is asked for, no later `starting`, `running` or heartbeat may follow it — a finished job
// reported running again would be declared lost and run a second time.
import type { Resources, WorkloadStatusRecord } from '../lexicon/index.js'
import { bidRkey, ENDING_STATES } from '../scheduling/index.js'
import { replicaKey } from '../applier/index.js'

/** A status record before publishing: plain strings where the lexicon has branded formats. */
export type StatusDraft = {
  [K in keyof Omit<WorkloadStatusRecord, '$type' | 'updatedAt'>]: WorkloadStatusRecord[K] extends
    infer T | undefined
    ? T extends string
      ? string
      : T extends { uri: string; cid: string }
        ? { uri: string; cid: string }
        : T
    : never
}

/** The record as written: the draft with its `updatedAt`. */
export type StatusRecord = StatusDraft & { updatedAt: string }

export interface StatusWriterOptions {
  /** Writes the record under `rkey` (through the budgeted writer) and applies it locally. */
  put: (rkey: string, record: StatusRecord) => Promise<void>
  now: () => number
}

export class StatusWriter {
  /** Replicas (uri|cid|round) whose ending was asked for: nothing but another ending follows. */
  private readonly ended = new Set<string>()
  /** The last write asked for per replica, which the next one waits for. */
  private readonly writes = new Map<string, Promise<void>>()

  constructor(private readonly opts: StatusWriterOptions) {}

  /** Publishes a replica's status after the writes asked for before it; a non-ending status of
   *  a replica whose ending was asked for is dropped (resolves without writing). Rejects when
   *  the write fails; a failed write does not hold up the next one. */
  publish(workloadUri: string, round: number, record: StatusDraft): Promise<void> {
    const key = replicaKey({ workloadUri, cid: record.workload.cid, round })
    const ending = ENDING_STATES.has(record.state)
    if (ending) this.ended.add(key)
    else if (this.ended.has(key)) return Promise.resolve()
    const previous = this.writes.get(key) ?? Promise.resolve()
    const write = previous.then(async () => {
      if (!ending && this.ended.has(key)) return
      const full = { ...record, updatedAt: new Date(this.opts.now()).toISOString() }
      await this.opts.put(bidRkey(workloadUri, round, record.workload.cid), full)
    })
    const settled = write.catch(() => undefined)
    this.writes.set(key, settled)
    void settled.then(() => {
      if (this.writes.get(key) === settled) this.writes.delete(key)
    })
    return write
  }

  /** Writes still under way (for tests and shutdown). */
  get inFlight(): number {
    return this.writes.size
  }
}

/** The fields every status of a local replica carries; with resources and usage, peers can
 *  account for it in the fair-share ledger even after the workload is gone (`resources`: its
 *  workload's request, when the workload is still known). */
export function replicaStatus(
  r: { workloadUri: string; cid: string; round: number; startedAt?: string },
  state: string,
  usage: { cpuMilliSeconds: number; memoryPeakMiB: number; wallMs: number } | undefined,
  resources: Resources | undefined,
): StatusDraft {
  return {
    workload: { uri: r.workloadUri, cid: r.cid },
    round: r.round,
    state,
    ...(resources ? { resources } : {}),
    ...(usage
      ? {
          usage: {
            cpuMilliSeconds: usage.cpuMilliSeconds,
            memoryPeakMiB: usage.memoryPeakMiB,
            wallMs: usage.wallMs,
          },
        }
      : {}),
    ...(r.startedAt ? { startedAt: r.startedAt } : {}),
  }
}
