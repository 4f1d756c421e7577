// One budgeted writer: every write of a meshlet passes here. A PDS limits writes per account in
// points (bsky.social: 5,000 an hour and 35,000 a day; create 3, update 2, delete 1). The writer
// keeps its own count, reads the PDS's `ratelimit-*` headers, waits out a 429 instead of failing,
// and orders what is queued: endings first (they must never be lost), heartbeats last (a newer one
// replaces a queued one), so a tight budget delays presence before it delays a replica's ending.
import { clampDelay } from '../clock/index.js'
import { ENDING_STATES } from '../scheduling/types.js'
import { RepoWriteError } from './errors.js'
import type { RepoWriter, WriteOptions, WrittenRecord } from './writer.js'

export interface WriteCosts {
  create: number
  update: number
  delete: number
}

export interface WriteBudget {
  hourPoints: number
  dayPoints: number
  costs: WriteCosts
}

/** bsky.social's published limits per account. */
export const DEFAULT_BUDGET: WriteBudget = Object.freeze({
  hourPoints: 5_000,
  dayPoints: 35_000,
  costs: Object.freeze({ create: 3, update: 2, delete: 1 }),
})

/** What a write is for, most urgent first. */
export const WRITE_CLASSES = ['ending', 'bid', 'control', 'heartbeat', 'hygiene'] as const
export type WriteClass = (typeof WRITE_CLASSES)[number]

/** How far a class may bring the spending of the hour and the day: the rest is kept for more
 *  urgent writes (an ending may spend the last point; clean-up stops at half). */
export const CEILING: Record<WriteClass, number> = {
  ending: 1,
  bid: 0.95,
  control: 0.95,
  heartbeat: 0.9,
  hygiene: 0.5,
}

const HOUR = 3_600_000
const DAY = 24 * HOUR
const MAX_BACKOFF_MS = 5 * 60_000

/** How long one write may wait for the PDS's answer. A write answers within a second or two even
 *  on a loaded machine; a PDS that accepts the connection and never answers would otherwise hold
 *  every write slot for minutes (the HTTP client's own limit is 5). A bid is useless after its
 *  window (5 s) anyway, and an ending is retried. */
export const WRITE_TIMEOUT_MS = 10_000

/** What the PDS said about its limit, from the `ratelimit-*` headers. */
export interface RateLimitHeaders {
  limit?: number
  remaining?: number
  /** ms since the epoch. */
  reset?: number
}

/** Reads `ratelimit-limit`, `ratelimit-remaining` and `ratelimit-reset` (seconds since the
 *  epoch, or seconds from now when small). Unparsable values are left out. */
export function parseRateLimit(
  headers: Record<string, string | undefined> | undefined,
  now: number,
): RateLimitHeaders {
  const out: RateLimitHeaders = {}
  if (!headers) return out
  const num = (name: string) => {
    const raw = headers[name] ?? headers[name.toLowerCase()]
    const n = raw === undefined ? Number.NaN : Number(raw)
    return Number.isFinite(n) && n >= 0 ? n : undefined
  }
  const limit = num('ratelimit-limit')
  const remaining = num('ratelimit-remaining')
  const reset = num('ratelimit-reset')
  if (limit !== undefined) out.limit = limit
  if (remaining !== undefined) out.remaining = remaining
  // The IETF draft says delta-seconds; the atproto PDS sends an epoch. Anything below a year of
  // seconds is a delta.
  if (reset !== undefined) out.reset = reset < 31_536_000 ? now + reset * 1000 : reset * 1000
  return out
}

/** What a write is for, from what it writes (callers may say instead). */
export function classify(
  op: 'create' | 'update' | 'delete',
  collection: string,
  record?: Record<string, unknown>,
): WriteClass {
  if (op === 'delete') return 'hygiene'
  const name = collection.slice(collection.lastIndexOf('.') + 1)
  if (name === 'presence') return 'heartbeat'
  if (name === 'bid') return 'bid'
  if (name === 'workloadStatus') {
    const state = record?.state
    // `draining` too: peers re-place a drained replica at once only if they hear of it.
    return typeof state === 'string' && (ENDING_STATES.has(state) || state === 'draining')
      ? 'ending'
      : 'control'
  }
  return 'control'
}

/** Points spent in the last hour and day, from a log of (time, points). Pure but for its log. */
export class PointsLog {
  private readonly entries: { at: number; points: number }[] = []

  add(at: number, points: number): void {
    this.entries.push({ at, points })
  }

  spent(now: number, windowMs: number): number {
    this.prune(now)
    let sum = 0
    for (const e of this.entries) if (e.at > now - windowMs) sum += e.points
    return sum
  }

  /** The earliest time at which spending in the window falls to `target` or below. */
  fallsTo(target: number, now: number, windowMs: number): number {
    let spent = this.spent(now, windowMs)
    if (spent <= target) return now
    for (const e of this.entries) {
      if (e.at <= now - windowMs) continue
      spent -= e.points
      if (spent <= target) return e.at + windowMs
    }
    return now + windowMs
  }

  private prune(now: number): void {
    let drop = 0
    while (drop < this.entries.length && this.entries[drop]!.at <= now - DAY) drop++
    if (drop > 0) this.entries.splice(0, drop)
  }
}

export interface BudgetState {
  /** Set while the PDS refuses writes (429) or our count says the budget is spent. */
  rateLimitedUntil?: number
  /** Since when writes find no PDS answering (timed out, connection refused or reset); cleared
   *  by the next write it answers. */
  unreachableSince?: number
  spentHour: number
  spentDay: number
  queued: number
  /** Writes and points since the writer started, by class. */
  writes: Record<WriteClass, number>
  points: Record<WriteClass, number>
}

export interface BudgetedWriterOptions {
  budget?: Partial<Omit<WriteBudget, 'costs'>> & { costs?: Partial<WriteCosts> }
  now?: () => number
  /** Writes in flight at once (never two for one record). */
  concurrency?: number
  /** How long one write may wait for the PDS's answer (default WRITE_TIMEOUT_MS). */
  timeoutMs?: number
  onState?: (state: BudgetState) => void
  onError?: (err: Error) => void
}

/** A write the PDS did not answer: it timed out, or the PDS could not be reached at all. */
export class PdsUnreachableError extends RepoWriteError {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options)
    this.name = 'PdsUnreachableError'
  }
}

export class RateLimitedError extends RepoWriteError {
  constructor(
    message: string,
    readonly until: number,
    options?: { cause?: unknown },
  ) {
    super(message, options)
    this.name = 'RateLimitedError'
  }
}

/** A writer whose inner writer reports response headers and takes an abort signal per write
 *  (AgentWriter does both). */
export interface ObservableWriter extends RepoWriter {
  observer?: (headers: Record<string, string | undefined>) => void
  put(
    collection: string,
    rkey: string,
    record: Record<string, unknown>,
    opts?: WriteOptions,
  ): Promise<WrittenRecord>
  create(
    collection: string,
    record: Record<string, unknown>,
    opts?: WriteOptions,
  ): Promise<WrittenRecord>
  delete(collection: string, rkey: string, opts?: WriteOptions): Promise<void>
}

type Op =
  | { op: 'create'; collection: string; record: Record<string, unknown> }
  | { op: 'update'; collection: string; rkey: string; record: Record<string, unknown> }
  | { op: 'delete'; collection: string; rkey: string }

interface Job {
  seq: number
  /** When it was first queued (ms). */
  queuedAt: number
  key?: string
  cls: WriteClass
  op: Op
  waiters: { resolve: (v: unknown) => void; reject: (e: unknown) => void }[]
  attempt: number
}

export class BudgetedWriter implements RepoWriter {
  readonly budget: WriteBudget
  private readonly now: () => number
  private readonly concurrency: number
  private readonly timeoutMs: number
  private unreachableSince?: number
  private readonly log = new PointsLog()
  private readonly queue: Job[] = []
  private readonly inflightKeys = new Set<string>()
  private inflight = 0
  private seq = 0
  private timer?: NodeJS.Timeout
  private timerAt = Infinity
  private blockedUntil = 0
  private backoffs = 0
  private server: RateLimitHeaders = {}
  private closed = false
  private readonly writes = zeroes()
  private readonly points = zeroes()
  private lastState = ''

  constructor(
    private readonly inner: ObservableWriter,
    private readonly opts: BudgetedWriterOptions = {},
  ) {
    this.budget = {
      hourPoints: opts.budget?.hourPoints ?? DEFAULT_BUDGET.hourPoints,
      dayPoints: opts.budget?.dayPoints ?? DEFAULT_BUDGET.dayPoints,
      costs: { ...DEFAULT_BUDGET.costs, ...opts.budget?.costs },
    }
    this.now = opts.now ?? Date.now
    this.concurrency = opts.concurrency ?? 4
    this.timeoutMs = opts.timeoutMs ?? WRITE_TIMEOUT_MS
    inner.observer = (headers) => this.observe(headers)
  }

  get did(): string {
    return this.inner.did
  }

  put(
    collection: string,
    rkey: string,
    record: Record<string, unknown>,
    cls: WriteClass = classify('update', collection, record),
  ): Promise<WrittenRecord> {
    return this.submit({ op: 'update', collection, rkey, record }, cls) as Promise<WrittenRecord>
  }

  create(
    collection: string,
    record: Record<string, unknown>,
    cls: WriteClass = classify('create', collection, record),
  ): Promise<WrittenRecord> {
    return this.submit({ op: 'create', collection, record }, cls) as Promise<WrittenRecord>
  }

  delete(
    collection: string,
    rkey: string,
    cls: WriteClass = classify('delete', collection),
  ): Promise<void> {
    return this.submit({ op: 'delete', collection, rkey }, cls) as Promise<void>
  }

  get state(): BudgetState {
    const now = this.now()
    const until = this.limitedUntil(now)
    return {
      ...(until !== undefined ? { rateLimitedUntil: until } : {}),
      ...(this.unreachableSince !== undefined ? { unreachableSince: this.unreachableSince } : {}),
      spentHour: this.log.spent(now, HOUR),
      spentDay: this.log.spent(now, DAY),
      queued: this.queue.length,
      writes: { ...this.writes },
      points: { ...this.points },
    }
  }

  /** Stops taking writes; queued ones fail. Writes in flight finish. */
  close(): void {
    this.closed = true
    clearTimeout(this.timer)
    for (const job of this.queue.splice(0)) {
      for (const w of job.waiters) w.reject(new RepoWriteError('the writer was closed'))
    }
  }

  private submit(op: Op, cls: WriteClass): Promise<unknown> {
    if (this.closed) return Promise.reject(new RepoWriteError('the writer was closed'))
    const key = op.op === 'create' ? undefined : `${op.collection}/${op.rkey}`
    return new Promise((resolve, reject) => {
      // A newer put of a record still waiting replaces it: one write instead of two, and both
      // callers learn the result of the one that went out.
      if (op.op === 'update') {
        const queued = this.queue.find((j) => j.key === key && j.op.op === 'update')
        const later = this.queue.some((j) => j.key === key && j !== queued)
        if (queued && !later) {
          queued.op = op
          if (rank(cls) < rank(queued.cls)) queued.cls = cls
          queued.waiters.push({ resolve, reject })
          this.pump()
          return
        }
      }
      this.queue.push({
        seq: this.seq++,
        queuedAt: this.now(),
        ...(key !== undefined ? { key } : {}),
        cls,
        op,
        waiters: [{ resolve, reject }],
        attempt: 0,
      })
      this.pump()
    })
  }

  private cost(op: Op): number {
    return this.budget.costs[op.op]
  }

  /** When a write of this class and cost may go, by our count and the PDS's headers. */
  private allowedAt(cls: WriteClass, cost: number, now: number): number {
    let at = Math.max(now, this.blockedUntil)
    const ceiling = CEILING[cls]
    const hourCap = Math.floor(this.budget.hourPoints * ceiling) - cost
    const dayCap = Math.floor(this.budget.dayPoints * ceiling) - cost
    at = Math.max(at, this.log.fallsTo(Math.max(0, hourCap), now, HOUR))
    at = Math.max(at, this.log.fallsTo(Math.max(0, dayCap), now, DAY))
    const { limit, remaining, reset } = this.server
    if (limit !== undefined && remaining !== undefined && reset !== undefined && reset > now) {
      const keep = Math.ceil(limit * (1 - ceiling))
      if (remaining - cost < keep) at = Math.max(at, reset)
    }
    return at
  }

  private limitedUntil(now: number): number | undefined {
    const at = this.allowedAt('ending', this.budget.costs.update, now)
    return at > now ? at : undefined
  }

  private pump(): void {
    if (this.closed) return
    const now = this.now()
    let wake = Infinity
    // While no PDS answers, endings are retried and keep the write slots; anything else that has
    // waited as long as a write may take goes back to its caller with the reason, instead of
    // waiting behind them for as long as the PDS is away.
    if (this.unreachableSince !== undefined) {
      for (const job of [...this.queue]) {
        if (job.cls === 'ending') continue
        const due = job.queuedAt + this.timeoutMs
        if (due > now) {
          wake = Math.min(wake, due)
          continue
        }
        this.queue.splice(this.queue.indexOf(job), 1)
        const err = new PdsUnreachableError(
          `${describe(job.op)} as ${this.did} not sent: the PDS has not answered since ${new Date(this.unreachableSince).toISOString()}`,
        )
        for (const w of job.waiters) w.reject(err)
      }
    }
    // Most urgent first, then oldest; a record with a write in flight waits for it.
    const order = [...this.queue].sort((a, b) => rank(a.cls) - rank(b.cls) || a.seq - b.seq)
    const blockedKeys = new Set(this.inflightKeys)
    for (const job of order) {
      if (this.inflight >= this.concurrency) break
      if (job.key !== undefined && blockedKeys.has(job.key)) continue
      if (job.key !== undefined) blockedKeys.add(job.key)
      const at = this.allowedAt(job.cls, this.cost(job.op), now)
      if (at > now) {
        wake = Math.min(wake, at)
        continue
      }
      this.queue.splice(this.queue.indexOf(job), 1)
      this.run(job)
    }
    this.schedule(wake)
    this.emitState()
  }

  private schedule(at: number): void {
    if (at === Infinity || at >= this.timerAt) return
    clearTimeout(this.timer)
    this.timerAt = at
    this.timer = setTimeout(
      () => {
        this.timerAt = Infinity
        this.pump()
      },
      clampDelay(at - this.now()),
    )
  }

  private run(job: Job): void {
    this.inflight++
    if (job.key !== undefined) this.inflightKeys.add(job.key)
    const cost = this.cost(job.op)
    this.log.add(this.now(), cost)
    job.attempt++
    const op = job.op
    const signal = AbortSignal.timeout(this.timeoutMs)
    const write =
      op.op === 'update'
        ? this.inner.put(op.collection, op.rkey, op.record, { signal })
        : op.op === 'create'
          ? this.inner.create(op.collection, op.record, { signal })
          : this.inner.delete(op.collection, op.rkey, { signal })
    write
      .then(
        (result) => {
          this.backoffs = 0
          this.unreachableSince = undefined
          this.writes[job.cls]++
          this.points[job.cls] += cost
          for (const w of job.waiters) w.resolve(result)
        },
        (err: unknown) => this.failed(job, this.unanswered(err, signal)),
      )
      .finally(() => {
        this.inflight--
        if (job.key !== undefined) this.inflightKeys.delete(job.key)
        this.pump()
      })
  }

  /** A write that got no HTTP answer becomes a PdsUnreachableError that says why, and marks
   *  the PDS unreachable until a write gets an answer again. */
  private unanswered(err: unknown, signal: AbortSignal): unknown {
    const status = statusOf(err)
    if (status !== undefined && status >= 100) return err
    const what = err instanceof Error ? err.message : String(err)
    const code = codeOf(err)
    const why = signal.aborted
      ? `the PDS did not answer within ${this.timeoutMs / 1000} s`
      : `the PDS could not be reached${code !== undefined ? ` (${code})` : ''}`
    this.unreachableSince ??= this.now()
    return new PdsUnreachableError(`${what}: ${why}`, { cause: err })
  }

  private failed(job: Job, err: unknown): void {
    const now = this.now()
    const status = statusOf(err)
    if (status === 429) {
      // The PDS says no: wait until it says, else back off. Nothing is lost: the job goes back.
      const reset = parseRateLimit(headersOf(err), now).reset
      this.backoffs++
      this.blockedUntil =
        reset !== undefined && reset > now
          ? reset
          : now + Math.min(MAX_BACKOFF_MS, 1000 * 2 ** Math.min(this.backoffs, 20))
      this.opts.onError?.(
        new RateLimitedError(
          `the PDS limits writes until ${new Date(this.blockedUntil).toISOString()}`,
          this.blockedUntil,
          { cause: err },
        ),
      )
      this.requeue(job)
      return
    }
    if (job.cls === 'ending' && !isPermanent(status)) {
      // An ending must reach peers, or they would wait for a timeout and count it lost; retried
      // with back-off (network gone, PDS restarting) until it goes or the writer closes.
      this.blockedUntil = Math.max(
        this.blockedUntil,
        now + Math.min(60_000, 500 * 2 ** Math.min(job.attempt, 20)),
      )
      this.opts.onError?.(err as Error)
      this.requeue(job)
      return
    }
    for (const w of job.waiters) w.reject(err)
  }

  private requeue(job: Job): void {
    if (this.closed) {
      for (const w of job.waiters) w.reject(new RepoWriteError('the writer was closed'))
      return
    }
    // A newer put of the same record queued meanwhile supersedes this one.
    const newer = this.queue.find((j) => j.key !== undefined && j.key === job.key)
    if (newer && job.op.op === 'update' && newer.op.op === 'update') {
      newer.waiters.push(...job.waiters)
      if (rank(job.cls) < rank(newer.cls)) newer.cls = job.cls
      return
    }
    this.queue.push(job)
  }

  private observe(headers: Record<string, string | undefined>): void {
    const now = this.now()
    const parsed = parseRateLimit(headers, now)
    if (parsed.remaining !== undefined) this.server = parsed
  }

  private emitState(): void {
    if (!this.opts.onState) return
    const state = this.state
    const key = `${state.rateLimitedUntil ?? ''}|${state.unreachableSince ?? ''}|${state.queued}`
    if (key === this.lastState) return
    this.lastState = key
    this.opts.onState(state)
  }
}

/** A write as the errors of AgentWriter name it. */
function describe(op: Op): string {
  return op.op === 'update'
    ? `putRecord ${op.collection}/${op.rkey}`
    : op.op === 'create'
      ? `createRecord ${op.collection}`
      : `deleteRecord ${op.collection}/${op.rkey}`
}

function rank(cls: WriteClass): number {
  return WRITE_CLASSES.indexOf(cls)
}

function zeroes(): Record<WriteClass, number> {
  return { ending: 0, bid: 0, control: 0, heartbeat: 0, hygiene: 0 }
}

/** The HTTP status of a failed write, from anywhere in its cause chain. */
function statusOf(err: unknown): number | undefined {
  for (let e: unknown = err; e instanceof Error; e = e.cause) {
    const status = (e as { status?: unknown }).status
    if (typeof status === 'number' && status > 0) return status
  }
  return undefined
}

/** A system error code (ECONNREFUSED, ECONNRESET, …) from anywhere in the cause chain. */
function codeOf(err: unknown): string | undefined {
  for (let e: unknown = err; e instanceof Error; e = e.cause) {
    const code = (e as { code?: unknown }).code
    if (typeof code === 'string' && /^[A-Z_]+$/.test(code)) return code
  }
  return undefined
}

/** The answer's headers of a failed write (a fetch `Headers`, as @atproto/lex's errors carry
 *  them, or a plain object), from anywhere in its cause chain. */
function headersOf(err: unknown): Record<string, string | undefined> | undefined {
  for (let e: unknown = err; e instanceof Error; e = e.cause) {
    const headers = (e as { headers?: unknown }).headers
    if (headers instanceof Headers) return Object.fromEntries(headers)
    if (headers && typeof headers === 'object') return headers as Record<string, string>
  }
  return undefined
}

/** A refusal that retrying cannot fix (bad request, signed out, forbidden). */
function isPermanent(status: number | undefined): boolean {
  return status !== undefined && status >= 400 && status < 500 && status !== 408
}
