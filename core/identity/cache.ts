// Identity caching: DID documents (and so signing keys and PDS hosts), handles, and failures.
// Without it every relevant record costs a PLC request; with it a burst of records from one DID
// costs at most one, and a DID that does not resolve is retried with back-off.
import { readFile } from 'node:fs/promises'
import { MemoryCache, type DidDocument } from '@atproto/identity'
import { writeFileAtomic } from '../files.js'

const HOUR = 60 * 60 * 1000
const DAY = 24 * HOUR

export interface CacheTiming {
  /** After this a cached document is refreshed in the background of the next look-up. */
  staleMs?: number
  /** After this a cached document is not used at all. */
  maxMs?: number
  now?: () => number
}

/** @atproto/identity's MemoryCache, kept on disk too (one small JSON file, written atomically
 *  and at most once a second), so a restarted daemon does not look every member up again. */
export class DiskDidCache extends MemoryCache {
  private timer?: NodeJS.Timeout
  private writing: Promise<void> = Promise.resolve()

  constructor(
    readonly path: string | undefined,
    timing: CacheTiming = {},
    private readonly onError: (err: Error) => void = () => undefined,
  ) {
    super(timing.staleMs ?? HOUR, timing.maxMs ?? DAY)
  }

  /** Reads what an earlier run kept; entries past their TTL are left out. */
  async load(): Promise<void> {
    if (!this.path) return
    let data: unknown
    try {
      data = JSON.parse(await readFile(this.path, 'utf8'))
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') this.onError(err as Error)
      return
    }
    if (typeof data !== 'object' || data === null) return
    const now = Date.now()
    for (const [did, v] of Object.entries(data as Record<string, unknown>)) {
      const entry = v as { doc?: DidDocument; updatedAt?: number }
      if (!entry?.doc || typeof entry.updatedAt !== 'number') continue
      if (entry.updatedAt + this.maxTTL < now || entry.doc.id !== did) continue
      this.cache.set(did, { doc: entry.doc, updatedAt: entry.updatedAt })
    }
  }

  override async cacheDid(did: string, doc: DidDocument): Promise<void> {
    await super.cacheDid(did, doc)
    this.persistSoon()
  }

  override async clearEntry(did: string): Promise<void> {
    await super.clearEntry(did)
    this.persistSoon()
  }

  private persistSoon(): void {
    if (!this.path || this.timer) return
    this.timer = setTimeout(() => {
      this.timer = undefined
      void this.flush().catch((err: unknown) => this.onError(err as Error))
    }, 1000)
    this.timer.unref()
  }

  flush(): Promise<void> {
    clearTimeout(this.timer)
    this.timer = undefined
    const path = this.path
    if (!path) return Promise.resolve()
    const next = this.writing.then(() =>
      writeFileAtomic(path, JSON.stringify(Object.fromEntries(this.cache))),
    )
    this.writing = next.catch(() => undefined)
    return next
  }
}

/** One look-up per key at a time, answers kept for a TTL, failures kept with growing back-off.
 *  Used for handle → DID, and in front of the DID resolver's network fetch. */
export class Coalescer<T> {
  private readonly inflight = new Map<string, Promise<T>>()
  private readonly failures = new Map<string, { until: number; delayMs: number; err: unknown }>()
  private readonly answers = new Map<string, { value: T; until: number }>()
  private readonly now: () => number

  constructor(
    private readonly opts: {
      /** How long an answer is kept; 0 keeps none (the DID cache keeps documents itself). */
      ttlMs: number
      /** First wait after a failure; doubles up to maxBackoffMs. */
      backoffMs?: number
      maxBackoffMs?: number
      now?: () => number
    },
  ) {
    this.now = opts.now ?? Date.now
  }

  async get(key: string, load: () => Promise<T>, fresh = false): Promise<T> {
    const now = this.now()
    const kept = this.answers.get(key)
    if (!fresh && kept && kept.until > now) return kept.value
    const failed = this.failures.get(key)
    if (failed && failed.until > now) throw failed.err
    let p = this.inflight.get(key)
    if (!p) {
      p = load().then(
        (value) => {
          this.failures.delete(key)
          if (this.opts.ttlMs > 0)
            this.answers.set(key, { value, until: this.now() + this.opts.ttlMs })
          return value
        },
        (err: unknown) => {
          const delayMs = Math.min(
            failed ? failed.delayMs * 2 : (this.opts.backoffMs ?? 5_000),
            this.opts.maxBackoffMs ?? 10 * 60_000,
          )
          this.failures.set(key, { until: this.now() + delayMs, delayMs, err })
          throw err
        },
      )
      const settled = p.finally(() => this.inflight.delete(key))
      settled.catch(() => undefined)
      this.inflight.set(key, p)
    }
    return p
  }

  forget(key: string): void {
    this.answers.delete(key)
    this.failures.delete(key)
  }
}
