// The sealed result of an ended guest, made so that a moment of trouble at the end does not lose
// it. The owner's sealing key is read when the replica starts and kept (a PDS that answers 429
// or is away at the end then costs no key), and what fails at the end (the key read when none is
// kept, the output tail, the upload) is tried again a few times with back-off. The ending status
// waits for the result, so all of it is bounded: RESULT_RETRY.deadlineMs after the output is first
// asked for, the status goes out without one, and the log says why.
import { clampDelay } from '../clock/index.js'
import type { Logger } from '../log.js'
import type { RepoReader } from '../repo/reader.js'
import type { UploadedBlob } from '../repo/writer.js'
import type { ManagedReplica, Runtime } from '../runtime/index.js'
import { authorityOf } from '../scheduling/index.js'
import {
  ownerKeyOf,
  RESULT_MIME,
  RESULT_TAIL_BYTES,
  sealResult,
  tailOf,
  type ResultSummary,
} from '../sealing/index.js'

export interface RetryPlan {
  /** The wait before each retry: its length is the number of retries. */
  delaysMs: readonly number[]
  /** How long the whole result (key, output tail, upload, with their retries) may take. */
  deadlineMs: number
}

/** 3 tries of each step, 2 s then 6 s apart; all of it within 20 s, so an ending status waits
 *  at most that long for its result. */
export const RESULT_RETRY: RetryPlan = Object.freeze({
  delaysMs: Object.freeze([2_000, 6_000]),
  deadlineMs: 20_000,
})

/** A kept owner key younger than this is used at the end without reading it again; an older
 *  one is read again (the owner may have replaced it), and used if that read fails. */
export const OWNER_KEY_FRESH_MS = 60 * 60_000

/** A step that got no answer before the result's deadline. */
export class ResultTimeoutError extends Error {
  constructor(message: string) {
    super(message)
    this.name = 'ResultTimeoutError'
  }
}

export interface RetryOptions {
  plan: RetryPlan
  /** When the whole result gives up (ms since the epoch, on `now`'s clock). */
  deadline: number
  now: () => number
  sleep: (ms: number) => Promise<void>
  /** Told before each retry, with why the attempt failed and how long it waits. */
  onRetry?: (err: Error, attempt: number, delayMs: number) => void
}

/**
 * Runs `attempt` until it succeeds, it fails in a way another try cannot fix, the plan's retries
 * are spent, or the next try could not start before the deadline. Each try is given up (not
 * awaited further) at the deadline. Throws the last failure.
 */
export async function retrying<T>(
  attempt: (n: number) => Promise<T>,
  opts: RetryOptions,
): Promise<T> {
  for (let n = 1; ; n++) {
    try {
      return await within(attempt(n), opts.deadline - opts.now(), opts.sleep)
    } catch (err) {
      const delay = opts.plan.delaysMs[n - 1]
      if (delay === undefined || !retryable(err) || opts.now() + delay >= opts.deadline) throw err
      opts.onRetry?.(err as Error, n, delay)
      await opts.sleep(delay)
    }
  }
}

/** Whether another try may help: not when the PDS refused the request for what it is (a 4xx
 *  other than 408 and 429), nor when the time was up. */
export function retryable(err: unknown): boolean {
  if (err instanceof ResultTimeoutError) return false
  const status = statusOf(err)
  return !(
    status !== undefined &&
    status >= 400 &&
    status < 500 &&
    status !== 408 &&
    status !== 429
  )
}

function statusOf(err: unknown): number | undefined {
  for (let e: unknown = err; e instanceof Error; e = e.cause) {
    const status = (e as { status?: unknown }).status
    if (typeof status === 'number' && status > 0) return status
  }
  return undefined
}

async function within<T>(
  work: Promise<T>,
  ms: number,
  sleep: (ms: number) => Promise<void>,
): Promise<T> {
  let done = false
  const late = sleep(ms).then(() => {
    if (!done) throw new ResultTimeoutError(`no answer within ${Math.round(ms / 1000)} s`)
    return undefined as never
  })
  try {
    return await Promise.race([work, late])
  } finally {
    done = true
    // A try given up at the deadline may still settle; nobody is waiting for it then.
    work.catch(() => undefined)
  }
}

/** A timer the core may hold (core/clock): one that has done its job does not keep Node up. */
export function sleepFor(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, clampDelay(ms)).unref())
}

export interface ResultSealerOptions {
  /** Our own DID: the host named in sealed results. */
  meshlet: string
  runtime?: Runtime
  reader: RepoReader
  upload?: (bytes: Uint8Array, mimeType: string) => Promise<UploadedBlob>
  onError: (stage: string, err: Error) => void
  log: Logger
  now: () => number
  plan?: RetryPlan
  sleep?: (ms: number) => Promise<void>
}

/** An ended replica's output, read, and when its result gives up. */
export interface PendingResult {
  output?: string
  deadline: number
}

interface KeptKey {
  key: Uint8Array
  readAt: number
}

export class ResultSealer {
  /** The owner's sealing key as last read, by owner DID (a few per commune, 32 bytes each). */
  private readonly keys = new Map<string, KeptKey>()
  private readonly plan: RetryPlan
  private readonly sleep: (ms: number) => Promise<void>

  constructor(private readonly opts: ResultSealerOptions) {
    this.plan = opts.plan ?? RESULT_RETRY
    this.sleep = opts.sleep ?? sleepFor
  }

  /** At a replica's start: reads its owner's key and keeps it for the end. Never throws; a
   *  failure leaves the end to read it (as it would without this). */
  async keepOwnerKey(owner: string): Promise<void> {
    if (!this.opts.upload) return
    try {
      const key = await ownerKeyOf(this.opts.reader, owner)
      if (key) this.keys.set(owner, { key, readAt: this.opts.now() })
      else this.keys.delete(owner)
    } catch (err) {
      this.opts.log.log('info', 'result.key-unread', { owner, error: err as Error })
    }
  }

  /** The end of an ended replica's output, read before its container is removed (none when
   *  no result can be uploaded anyway, or Docker did not give it in time). Starts the result's
   *  clock: `seal` gives up at the same deadline. */
  async outputOf(r: ManagedReplica): Promise<PendingResult> {
    const deadline = this.opts.now() + this.plan.deadlineMs
    if (!this.opts.upload || !this.opts.runtime) return { deadline }
    const runtime = this.opts.runtime
    try {
      const output = await retrying(
        () => runtime.outputTail(r.containerId, RESULT_TAIL_BYTES + 4),
        this.retryOptions(r, 'output', deadline),
      )
      return { output, deadline }
    } catch (err) {
      this.lost(r, 'the output tail could not be read', err as Error)
      return { deadline }
    }
  }

  /** `output` sealed with the exit summary to the workload owner's key and uploaded, for the
   *  final status to reference; undefined (logged) when that could not be done in time. */
  async seal(
    r: ManagedReplica,
    end: Pick<ResultSummary, 'state' | 'exitCode' | 'oomKilled' | 'finishedAt'>,
    { output, deadline }: PendingResult,
  ): Promise<UploadedBlob | undefined> {
    const upload = this.opts.upload
    if (!upload || output === undefined) return undefined
    const owner = authorityOf(r.workloadUri)
    let ownerKey: Uint8Array | undefined
    try {
      ownerKey = await this.ownerKey(r, owner, deadline)
    } catch (err) {
      this.lost(r, 'its owner’s sealing key could not be read', err as Error)
      return undefined
    }
    if (!ownerKey) {
      this.opts.log.log('info', 'result.skipped', {
        workload: r.workloadUri,
        reason: 'its owner has published no sealing key',
      })
      return undefined
    }
    try {
      const box = sealResult(
        {
          workload: r.workloadUri,
          round: r.round,
          meshlet: this.opts.meshlet,
          ...end,
          ...(r.startedAt ? { startedAt: r.startedAt } : {}),
          ...tailOf(output),
        },
        ownerKey,
      )
      return await retrying(
        () => upload(box, RESULT_MIME),
        this.retryOptions(r, 'upload', deadline),
      )
    } catch (err) {
      this.lost(r, 'the sealed result could not be uploaded', err as Error)
      return undefined
    }
  }

  /** The kept key while fresh; else read again, falling back to a kept one when that fails. */
  private async ownerKey(
    r: ManagedReplica,
    owner: string,
    deadline: number,
  ): Promise<Uint8Array | undefined> {
    const kept = this.keys.get(owner)
    if (kept && this.opts.now() - kept.readAt < OWNER_KEY_FRESH_MS) return kept.key
    try {
      const key = await retrying(
        () => ownerKeyOf(this.opts.reader, owner),
        this.retryOptions(r, 'key', deadline),
      )
      if (key) this.keys.set(owner, { key, readAt: this.opts.now() })
      else this.keys.delete(owner)
      return key
    } catch (err) {
      if (!kept) throw err
      this.opts.log.log('info', 'result.key-kept', { workload: r.workloadUri, error: err as Error })
      return kept.key
    }
  }

  private retryOptions(r: ManagedReplica, step: string, deadline: number): RetryOptions {
    return {
      plan: this.plan,
      deadline,
      now: this.opts.now,
      sleep: this.sleep,
      onRetry: (err, attempt, delayMs) =>
        this.opts.log.log('info', 'result.retry', {
          workload: r.workloadUri,
          round: r.round,
          step,
          attempt,
          delayMs,
          error: err,
        }),
    }
  }

  private lost(r: ManagedReplica, why: string, err: Error): void {
    this.opts.log.log('warn', 'result.lost', {
      workload: r.workloadUri,
      round: r.round,
      why,
      error: err,
    })
    this.opts.onError('result', err)
  }
}
