// The meshlet's guests on this machine: starting one the plan won (its secrets opened first),
// stopping one, calling off a start a later plan stopped, reporting how a container ended, and
// setting right on start what ended or went stale while the meshlet was away. Every status goes
// through the StatusWriter; the sealed output tail of an ended guest goes to its owner as a blob.
// The plan applier (core/applier) decides when; this says what each of those does.
import type { WorkloadView } from '../state.js'
import type { Logger } from '../log.js'
import type { RepoReader } from '../repo/reader.js'
import type { UploadedBlob } from '../repo/writer.js'
import {
  authorityOf,
  overrunStatus,
  type StopAction,
  type StopReason,
} from '../scheduling/index.js'
import type { PlanApplier } from '../applier/index.js'
import { StartCancelledError } from '../applier/index.js'
// The error classes only: runtime/index.js would load dockerode for a meshlet without Docker.
import { ImageDigestMismatchError, PolicyError } from '../runtime/errors.js'
import type { ManagedReplica, Runtime } from '../runtime/index.js'
import {
  envWithSecrets,
  openWorkloadSecrets,
  redact,
  WAITING_FOR_SECRETS,
  type SealingKeyring,
} from '../sealing/index.js'
import type { Resources } from '../lexicon/index.js'
import { ResultSealer, type RetryPlan } from './result-sealer.js'
import { replicaStatus, type StatusWriter } from './status-writer.js'

/** What a guest's state became, for the meshlet's `replica` event. */
export interface ReplicaChange {
  workloadUri: string
  state: string
  round: number
}

export interface ReplicaRunnerOptions {
  /** Our own DID: the host named in sealed results. */
  meshlet: string
  /** The Docker engine; without one nothing starts (and nothing else is asked of it). */
  runtime?: Runtime
  statuses: StatusWriter
  /** Which starts and stops are under way, and what to hold or give up. */
  applier: Pick<PlanApplier<ManagedReplica>, 'busy' | 'startFailed' | 'waitForSecrets'>
  /** Reads the owner's shared secrets and sealing key. */
  reader: RepoReader
  sealingKeys: SealingKeyring
  /** Uploads a sealed result; absent (a writer that cannot): statuses go out without one. */
  upload?: (bytes: Uint8Array, mimeType: string) => Promise<UploadedBlob>
  /** The workload as last seen (undefined once deleted). */
  workload: (uri: string) => WorkloadView | undefined
  /** Whether this owner's repo has been read: until then a workload unknown here may exist. */
  isBackfilled: (did: string) => boolean
  /** A guest ended on its own: plan again. */
  onEnded: () => void
  onReplica: (change: ReplicaChange) => void
  onError: (stage: string, err: Error) => void
  log: Logger
  now: () => number
  /** How sealed results are retried (core/meshlet/result-sealer.ts; tests shorten it). */
  resultRetry?: RetryPlan
}

export class ReplicaRunner {
  private readonly results: ResultSealer
  /** Endings of guests that ended on their own, by container: published once their result is
   *  made. */
  private readonly endings = new Map<string, Promise<void>>()

  constructor(private readonly opts: ReplicaRunnerOptions) {
    this.results = new ResultSealer({
      meshlet: opts.meshlet,
      ...(opts.runtime ? { runtime: opts.runtime } : {}),
      reader: opts.reader,
      ...(opts.upload ? { upload: opts.upload } : {}),
      onError: opts.onError,
      log: opts.log,
      now: opts.now,
      ...(opts.resultRetry ? { plan: opts.resultRetry } : {}),
    })
  }

  /** Resolves once the endings under way are published (or failed). */
  async settled(): Promise<void> {
    while (this.endings.size > 0) await Promise.all(this.endings.values())
  }

  async start(w: WorkloadView, round: number, signal: AbortSignal): Promise<void> {
    const { runtime, statuses, applier, log } = this.opts
    if (!runtime) return
    const base = { workload: { uri: w.uri, cid: w.cid }, round, resources: w.record.resources }
    // The owner's key is kept for the end, so the result does not hang on a PDS read then. Not
    // waited for: the start does not need it.
    void this.results.keepOwnerKey(authorityOf(w.uri))
    let secrets: Map<string, string> | undefined
    if ((w.record.secrets ?? []).length > 0) {
      const opened = await openWorkloadSecrets(this.opts.reader, this.opts.sealingKeys, w)
      if (!opened.ok) {
        // Holds the win while the owner's side shares (it looks for this message); if nobody
        // does within lostAfter, peers declare the replica lost and a new round places it.
        applier.waitForSecrets({ workloadUri: w.uri, cid: w.cid, round })
        await statuses.publish(w.uri, round, {
          ...base,
          state: 'starting',
          message: WAITING_FOR_SECRETS,
        })
        log.log('warn', 'replica.waiting', { workload: w.uri, round, why: opened.why })
        return
      }
      secrets = opened.secrets
    }
    await statuses.publish(w.uri, round, { ...base, state: 'starting' })
    log.log('info', 'replica.starting', { workload: w.uri, round, image: w.record.image })
    try {
      const replica = await runtime.start(
        {
          workloadUri: w.uri,
          cid: w.cid,
          round,
          image: w.record.image,
          command: w.record.command,
          // Secrets reach the guest's environment and nowhere else (docs/security.md).
          env: envWithSecrets(w.record.env, secrets),
          resources: w.record.resources,
          network: w.record.network === 'egress' ? 'egress' : 'none',
        },
        signal,
      )
      if (signal.aborted) throw signal.reason
      const startedAt = replica.startedAt ?? new Date(this.opts.now()).toISOString()
      await statuses.publish(w.uri, round, { ...base, state: 'running', startedAt })
      log.log('info', 'replica.running', { workload: w.uri, round, container: replica.containerId })
      this.opts.onReplica({ workloadUri: w.uri, state: 'running', round })
    } catch (err) {
      if (err instanceof StartCancelledError) return this.calledOff(w, round, err.stop)
      applier.startFailed({ workloadUri: w.uri, cid: w.cid, round })
      const message = redact((err as Error).message, secrets).slice(0, 1000)
      const reason = imageRefusal(err)
      await statuses.publish(w.uri, round, {
        ...base,
        state: 'failed',
        message,
        ...(reason ? { reason } : {}),
      })
      log.log('warn', 'replica.failed', { workload: w.uri, round, error: err as Error })
      this.opts.onReplica({ workloadUri: w.uri, state: 'failed', round })
    }
  }

  /** A start that a later plan stopped (core/applier): the container, if it got that far, goes,
   *  and the stop's status (`yielded` for a better bid that came late) ends what `starting`
   *  began. */
  private async calledOff(w: WorkloadView, round: number, stop: StopAction): Promise<void> {
    const made = (await this.opts.runtime!.find(w.uri)).find(
      (r) => r.cid === w.cid && r.round === round,
    )
    if (made) return this.stop(made, stop.status, stop.reason)
    if (stop.status === undefined) return
    await this.opts.statuses.publish(w.uri, round, {
      workload: { uri: w.uri, cid: w.cid },
      round,
      resources: w.record.resources,
      state: stop.status,
      message: `called off before it ran (${stop.reason})`,
      finishedAt: new Date(this.opts.now()).toISOString(),
    })
  }

  /** Stops and removes a replica; publishes `state` unless it is absent (a replica already
   *  declared lost keeps the status history every peer computes rounds from). */
  async stop(r: ManagedReplica, state: StopAction['status'], why?: StopReason): Promise<void> {
    const runtime = this.opts.runtime!
    // How it ended on its own goes out first, as it always did (the status order is protocol).
    await this.endings.get(r.containerId)
    const usage = await runtime.usage(r.containerId).catch(() => undefined)
    const finishedAt = new Date(this.opts.now()).toISOString()
    // Read before the container is removed; a yielded replica's output is not worth a blob.
    const result = keepsResult(state)
      ? await this.results.seal(r, { state, finishedAt }, await this.results.outputOf(r))
      : undefined
    await runtime.stop(r.containerId)
    if (state === undefined) {
      this.opts.onReplica({ workloadUri: r.workloadUri, state: 'removed', round: r.round })
      return
    }
    const w = this.opts.workload(r.workloadUri)
    await this.opts.statuses.publish(r.workloadUri, r.round, {
      ...replicaStatus(r, state, usage, w?.record.resources),
      ...(why === 'max-runtime' ? overrunStatus(w) : {}),
      finishedAt,
      ...(result ? { result } : {}),
    })
    this.opts.onReplica({ workloadUri: r.workloadUri, state, round: r.round })
  }

  /** Docker says a container changed: one of ours that died or was killed reports how it ended
   *  (unless our own stop is behind it, which reports that). */
  async containerEvent(containerId: string, action: string, exitCode?: number): Promise<void> {
    await this.ending(containerId, action, exitCode)
  }

  /** Reports how a container ended: what must be read from it is read before this resolves;
   *  the returned promise is the status going out, once its sealed result is made (or not). */
  private async ending(
    containerId: string,
    action: string,
    exitCode?: number,
  ): Promise<Promise<void> | undefined> {
    if (action !== 'die' && action !== 'oom') return
    const runtime = this.opts.runtime!
    const r = (await runtime.list()).find((x) => x.containerId === containerId)
    if (!r || r.state === 'running') return
    // Our own stop makes the container die too; that stop publishes the replica's status.
    if (this.opts.applier.busy(r) === 'stop') return
    const end = endingOf(r, exitCode)
    const usage = await runtime.usage(containerId).catch(() => undefined)
    const finishedAt = r.finishedAt ?? new Date(this.opts.now()).toISOString()
    // Read now: the container may be removed once this returns (reconcile does).
    const output = await this.results.outputOf(r)
    // The result may take retries (bounded, result-sealer.ts): they do not hold up the events
    // and plans queued behind this one.
    const ending = this.ended(r, end, usage, finishedAt, output).catch((err: unknown) =>
      this.opts.onError('ending', err as Error),
    )
    this.endings.set(containerId, ending)
    void ending.finally(() => {
      if (this.endings.get(containerId) === ending) this.endings.delete(containerId)
    })
    return ending
  }

  private async ended(
    r: ManagedReplica,
    end: ReturnType<typeof endingOf>,
    usage: Awaited<ReturnType<Runtime['usage']>> | undefined,
    finishedAt: string,
    output: Awaited<ReturnType<ResultSealer['outputOf']>>,
  ): Promise<void> {
    const result = await this.results.seal(
      r,
      {
        state: end.state,
        exitCode: end.exitCode,
        finishedAt,
        ...(end.oomKilled ? { oomKilled: true } : {}),
      },
      output,
    )
    const resources: Resources | undefined = this.opts.workload(r.workloadUri)?.record.resources
    await this.opts.statuses.publish(r.workloadUri, r.round, {
      ...replicaStatus(r, end.state, usage, resources),
      exitCode: end.exitCode,
      ...(end.oomKilled
        ? { reason: 'oom-killed', message: 'killed: exceeded its memory limit' }
        : {}),
      finishedAt,
      ...(result ? { result } : {}),
    })
    this.opts.log.log('info', 'replica.ended', {
      workload: r.workloadUri,
      round: r.round,
      state: end.state,
      exitCode: end.code,
    })
    this.opts.onReplica({ workloadUri: r.workloadUri, state: end.state, round: r.round })
    this.opts.onEnded()
  }

  /** On start: keep containers whose workload still exists in the same version, remove the rest
   *  (orphans of deleted or updated workloads). Whether a kept one is still selected is the
   *  next plan's decision, which stops it if not. */
  async reconcile(): Promise<void> {
    const runtime = this.opts.runtime!
    const log = this.opts.log
    for (const r of await runtime.list()) {
      const verdict = reconcileVerdict(
        r,
        this.opts.workload(r.workloadUri),
        this.opts.isBackfilled(authorityOf(r.workloadUri)),
      )
      if (verdict === 'keep') {
        log.log('info', 'reconcile.keep', { workload: r.workloadUri, round: r.round })
        continue
      }
      if (verdict === 'unknown') {
        log.log('warn', 'reconcile.unknown', { workload: r.workloadUri, round: r.round })
        continue
      }
      // Ended while we were away: report how, then clear it away. The status goes out before
      // the container does: a placement with neither would be started again.
      if (verdict === 'ended') await await this.ending(r.containerId, 'die', r.exitCode)
      log.log('info', 'reconcile.remove', {
        workload: r.workloadUri,
        round: r.round,
        state: r.state,
      })
      await runtime.stop(r.containerId)
    }
  }
}

/** The status reason of a start the lender's image policy (or a moved pinned tag) refused. */
export function imageRefusal(err: unknown): string | undefined {
  if (err instanceof PolicyError) return err.reason
  if (err instanceof ImageDigestMismatchError) return 'digest-mismatch'
  return undefined
}

/** Whether a stop with this status seals the guest's output for its owner: an ending worth
 *  reading (stopped, drained, failed), not a yield to a better bid or a silent removal. */
export function keepsResult(
  state: StopAction['status'],
): state is 'stopped' | 'draining' | 'failed' {
  return state === 'stopped' || state === 'draining' || state === 'failed'
}

/** How a container that ended on its own ended: `exited` only on code 0 without the OOM killer.
 *  `code` is Docker's (the container's own, else the event's, else -1); `exitCode` is that
 *  clamped to what a status record holds (-1..255). */
export function endingOf(
  r: Pick<ManagedReplica, 'exitCode' | 'oomKilled'>,
  eventExitCode?: number,
): { state: 'exited' | 'failed'; code: number; exitCode: number; oomKilled: boolean } {
  const code = r.exitCode ?? eventExitCode ?? -1
  const oomKilled = r.oomKilled === true
  return {
    state: code === 0 && !oomKilled ? 'exited' : 'failed',
    code,
    exitCode: Math.max(-1, Math.min(255, code)),
    oomKilled,
  }
}

/**
 * What start-up does with a container found here. `keep`: running, its workload's version still
 * exists. `unknown`: its workload is not known only because its owner's repo has not been read
 * yet (their PDS away), no proof it is gone: kept, looked at again once the repo is read.
 * `ended`: its version exists but it stopped while we were away: report how, then remove.
 * `remove`: an orphan of a deleted or updated workload.
 */
export function reconcileVerdict(
  r: Pick<ManagedReplica, 'cid' | 'state'>,
  workload: Pick<WorkloadView, 'cid'> | undefined,
  ownerBackfilled: boolean,
): 'keep' | 'unknown' | 'ended' | 'remove' {
  if (workload && workload.cid === r.cid && r.state === 'running') return 'keep'
  if (!workload && !ownerBackfilled) return 'unknown'
  if (workload && workload.cid === r.cid) return 'ended'
  return 'remove'
}
