// The plan applier: turns a computed plan into bids, declines, starts and stops, one action at a
// time, and remembers what is under way. Starts and stops run beside the caller's queue (a slow
// container start must never delay a bid past its window); bids and declines are awaited, so the
// next plan sees them. The effects themselves (Docker, the repo) are the caller's hooks.
import type {
  Action,
  BidAction,
  DeclineAction,
  StartAction,
  StopAction,
} from '../scheduling/index.js'
import { silentLogger, type Logger } from '../log.js'

/** One replica: a workload version and a round. */
export interface ReplicaId {
  workloadUri: string
  cid: string
  round: number
}

export function replicaKey(r: ReplicaId): string {
  return `${r.workloadUri}|${r.cid}|${r.round}`
}

/** A start under way was overtaken: a later plan stopped the replica before its start finished
 *  (a better bid arrived late, the workload was deleted, the meshlet pauses). `stop` is that
 *  plan's action, whose status the start publishes instead of running the replica. */
export class StartCancelledError extends Error {
  constructor(readonly stop: StopAction) {
    super(`start called off: ${stop.reason}`)
    this.name = 'StartCancelledError'
  }
}

export function replicaOf(a: Action): ReplicaId {
  return a.type === 'stop'
    ? { workloadUri: a.workloadUri, cid: a.cid, round: a.round }
    : { workloadUri: a.workload.uri, cid: a.workload.cid, round: a.round }
}

export interface PlanApplierHooks<R extends ReplicaId> {
  /** Publishes a bid; written before the next action runs. */
  bid(action: BidAction): Promise<void>
  /** Publishes `declined` for a win the offer cannot hold beside the others. */
  decline(action: DeclineAction): Promise<void>
  /** Starts a replica and publishes how that went. `signal` aborts, with a StartCancelledError
   *  as its reason, when a later plan stops the replica before the start is done. */
  start(action: StartAction, signal: AbortSignal): Promise<void>
  /** Stops one local container for `action` (publishing its `status` unless that is absent). */
  stop(replica: R, action: StopAction): Promise<void>
  /** This meshlet's own status for the replica is final: it ran to its end here already. */
  ended(replica: ReplicaId): boolean
  /** The lender refused this workload version here: no bids, no starts (stops go on). */
  refused(workloadUri: string, cid: string): boolean
  /** Still running: false once the meshlet stops, which ends an application part-way. */
  running(): boolean
  /** Every action about to run (the meshlet's `action` event). */
  onAction?(action: Action): void
  /** A start or stop finished (or failed): the caller plans again. */
  onSettled?(): void
  onError(stage: string, err: Error): void
  log?: Logger
}

interface Job {
  kind: 'start' | 'stop'
  replica: ReplicaId
  done: Promise<void>
  /** A start's: aborted when a plan stops the replica meanwhile. */
  cancel?: AbortController
}

export class PlanApplier<R extends ReplicaId> {
  /** Starts and stops under way, by replica key. */
  private readonly jobs = new Map<string, Job>()
  /** Replicas whose start failed here: never retried in the same round. */
  private readonly failedStarts = new Set<string>()
  /** Won replicas whose secrets cannot be opened yet: not retried until released. */
  private readonly waiting = new Set<string>()
  private readonly log: Logger

  constructor(private readonly hooks: PlanApplierHooks<R>) {
    this.log = hooks.log ?? silentLogger
  }

  /**
   * Applies `actions` in order against the local containers `replicas` (as listed for the
   * plan). With `bidsOnly`, everything but bids is left for a later plan on fresh listings.
   */
  async apply(
    actions: readonly Action[],
    replicas: readonly R[],
    opts: { bidsOnly?: boolean } = {},
  ): Promise<void> {
    for (const action of actions) {
      if (!this.hooks.running()) return
      if (opts.bidsOnly === true && action.type !== 'bid') continue
      if (this.skipped(action)) continue
      this.hooks.onAction?.(action)
      await this.execute(action, replicas)
    }
  }

  /** Why an action of a plan is not applied: it is under way, ruled out here, or refused. */
  private skipped(action: Action): boolean {
    if (action.type !== 'stop' && this.hooks.refused(action.workload.uri, action.workload.cid)) {
      return true
    }
    if (action.type === 'bid') return false
    const key = replicaKey(replicaOf(action))
    const job = this.jobs.get(key)
    if (job !== undefined) {
      // A stop for a replica still starting calls the start off: left to finish, a start that
      // a late bid overtook would run the guest (a short job to its end) on a meshlet that
      // knows it lost, and publish `running` for it.
      if (action.type === 'stop' && job.cancel !== undefined && !job.cancel.signal.aborted) {
        this.log.log('info', 'replica.stop', {
          workload: job.replica.workloadUri,
          round: job.replica.round,
          reason: action.reason,
          starting: true,
        })
        job.cancel.abort(new StartCancelledError(action))
      }
      return true
    }
    if (action.type !== 'start') return false
    // A replica that failed to start, or ran to its end, is not run again in the same round.
    return (
      this.failedStarts.has(key) || this.waiting.has(key) || this.hooks.ended(replicaOf(action))
    )
  }

  private async execute(action: Action, replicas: readonly R[]): Promise<void> {
    switch (action.type) {
      case 'bid':
        return this.hooks.bid(action)
      case 'decline':
        this.log.log('info', 'replica.declined', {
          workload: action.workload.uri,
          round: action.round,
        })
        return this.hooks.decline(action)
      case 'start': {
        const cancel = new AbortController()
        this.track(
          replicaOf(action),
          'start',
          () => this.hooks.start(action, cancel.signal),
          cancel,
        )
        return
      }
      case 'stop':
        for (const r of replicas) {
          if (r.workloadUri !== action.workloadUri || r.cid !== action.cid) continue
          if (r.round !== action.round) continue
          this.log.log('info', 'replica.stop', {
            workload: r.workloadUri,
            round: r.round,
            reason: action.reason,
          })
          this.track(r, 'stop', () => this.hooks.stop(r, action))
        }
        return
    }
  }

  /** Runs a start or stop beside the caller's queue; resolves when it is done (never rejects:
   *  failures go to onError). */
  track(
    replica: ReplicaId,
    kind: 'start' | 'stop',
    job: () => Promise<void>,
    cancel?: AbortController,
  ): Promise<void> {
    const key = replicaKey(replica)
    const done = job()
      .catch((err: unknown) => this.hooks.onError(kind, err as Error))
      .finally(() => {
        this.jobs.delete(key)
        this.hooks.onSettled?.()
      })
    this.jobs.set(key, {
      kind,
      replica: { workloadUri: replica.workloadUri, cid: replica.cid, round: replica.round },
      done,
      ...(cancel ? { cancel } : {}),
    })
    return done
  }

  /** What is under way for this replica, if anything; a start called off is a stop (the
   *  container it may have made is on its way out, and that start publishes the ending). */
  busy(replica: ReplicaId): 'start' | 'stop' | undefined {
    const job = this.jobs.get(replicaKey(replica))
    return job?.cancel?.signal.aborted === true ? 'stop' : job?.kind
  }

  /** Anything under way for this workload (any version, any round). */
  busyWith(workloadUri: string): boolean {
    return [...this.jobs.values()].some((j) => j.replica.workloadUri === workloadUri)
  }

  /** Replicas being started: a plan counts them as local containers already, so it never asks
   *  for them twice and their capacity is held. */
  starting(): ReplicaId[] {
    return [...this.jobs.values()].filter((j) => j.kind === 'start').map((j) => j.replica)
  }

  /** Resolves when every start and stop under way now has finished. */
  async settled(): Promise<void> {
    await Promise.all([...this.jobs.values()].map((j) => j.done))
  }

  /** The start of `replica` failed here: it is not tried again in that round. */
  startFailed(replica: ReplicaId): void {
    this.failedStarts.add(replicaKey(replica))
  }

  /** `replica` waits for its owner to share secrets: not started again until released. */
  waitForSecrets(replica: ReplicaId): void {
    this.waiting.add(replicaKey(replica))
  }

  /** The owner shared secrets (again): every waiting replica of `workloadUri` may try again, or
   *  every waiting replica when no workload is named (a new sealing key). */
  releaseWaiting(workloadUri?: string): void {
    if (workloadUri === undefined) {
      this.waiting.clear()
      return
    }
    for (const k of this.waiting) if (k.startsWith(`${workloadUri}|`)) this.waiting.delete(k)
  }
}
