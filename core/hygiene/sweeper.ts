// The meshlet's side of hygiene: now and then, list our own records afresh, ask `garbage()` which
// nobody needs any more, and delete them through the budgeted writer (the store forgets bids of
// deleted workloads, but the repo still holds them). Moved out of `Meshlet`, which only starts and
// stops it.
import { checkRecord, NSID } from '../lexicon/index.js'
import { clampDelay } from '../clock/index.js'
import type { Logger } from '../log.js'
import type {
  BidAudit,
  BidView,
  ClusterView,
  SchedulingConfig,
  StatusView,
  WorkloadView,
} from '../scheduling/index.js'
import type { SettlementView } from '../settlement/index.js'
import { garbage, type Garbage } from './index.js'

export interface SweeperOptions {
  meshlet: string
  retentionMs: number
  /** Our own records of a collection, as the repo holds them now. */
  listOwn: (collection: string) => Promise<{ uri: string; cid: string; value: unknown }[]>
  /** Deletes one of our records (clean-up, the lowest write class) and tells the store. */
  remove: (doomed: Garbage) => Promise<void>
  /** The workloads known now (current and tombstones), by URI. */
  workloads: () => ReadonlyMap<string, WorkloadView>
  /** Whether a workload missing from `workloads` is known to be gone (its owner's repo was read
   *  completely). */
  isGone: (workloadUri: string) => boolean
  audit: () => BidAudit
  bidsFor: (workloadUri: string) => readonly BidView[]
  statusesFor: (workloadUri: string) => readonly StatusView[]
  cluster: () => ClusterView
  config: SchedulingConfig
  now: () => number
  /** Still wanted: a sweep stops between deletions once the meshlet stops. */
  running: () => boolean
  log: Logger
  onError: (err: Error) => void
}

export class HygieneSweeper {
  private timer?: NodeJS.Timeout
  private sweeping?: Promise<void>
  private stopped = true

  constructor(private readonly opts: SweeperOptions) {}

  /** Sweeps every min(retention, 10 min), at least a second apart. */
  start(): void {
    this.stopped = false
    this.schedule()
  }

  /** No more sweeps; waits for one under way. */
  async stop(): Promise<void> {
    this.stopped = true
    clearTimeout(this.timer)
    await this.sweeping
  }

  private schedule(): void {
    if (this.stopped) return
    const every = Math.max(1000, Math.min(this.opts.retentionMs, 10 * 60_000))
    this.timer = setTimeout(() => {
      this.sweeping = this.sweep()
        .catch((err: unknown) => this.opts.onError(err as Error))
        .finally(() => {
          this.sweeping = undefined
          this.schedule()
        })
    }, clampDelay(every))
  }

  /** One sweep: what `garbage()` names, deleted one after another. */
  async sweep(): Promise<void> {
    const did = this.opts.meshlet
    const [bidRecords, statusRecords, settlementRecords] = await Promise.all([
      this.opts.listOwn(NSID.bid),
      this.opts.listOwn(NSID.workloadStatus),
      this.opts.listOwn(NSID.settlement),
    ])
    const own = <C extends typeof NSID.bid | typeof NSID.workloadStatus | typeof NSID.settlement>(
      collection: C,
      records: { uri: string; cid: string; value: unknown }[],
    ) =>
      records.flatMap((r) => {
        const c = checkRecord(collection, r.value)
        return c.ok ? [{ uri: r.uri, cid: r.cid, meshlet: did, record: c.value }] : []
      })
    const doomed = garbage({
      meshlet: did,
      bids: own(NSID.bid, bidRecords) as BidView[],
      statuses: own(NSID.workloadStatus, statusRecords) as StatusView[],
      settlements: own(NSID.settlement, settlementRecords) as SettlementView[],
      workloads: this.opts.workloads(),
      isGone: this.opts.isGone,
      audit: this.opts.audit(),
      bidsFor: this.opts.bidsFor,
      statusesFor: this.opts.statusesFor,
      cluster: this.opts.cluster(),
      now: this.opts.now(),
      config: this.opts.config,
      retentionMs: this.opts.retentionMs,
    })
    for (const g of doomed) {
      if (!this.opts.running()) return
      await this.opts.remove(g)
    }
    if (doomed.length > 0) this.opts.log.log('info', 'hygiene', { deleted: doomed.length })
  }
}
