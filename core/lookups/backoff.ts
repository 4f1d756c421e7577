// Failed look-ups back off and stop. A DID that does not resolve, or a repo whose PDS does not
// answer, is tried again after a delay that doubles with each failure (up to a cap), and is
// forgotten as soon as nothing names it any more. Pure: time is an input.

export interface LookupBackoffOptions {
  /** Delay after the first failure (default 5 s). */
  firstMs?: number
  /** The delay never grows beyond this (default 5 min). */
  maxMs?: number
}

export const DEFAULT_LOOKUP_BACKOFF = Object.freeze({ firstMs: 5_000, maxMs: 5 * 60_000 })

interface Failing {
  failures: number
  /** Not tried again before this time (ms epoch). */
  retryAt: number
}

export class LookupBackoff {
  private readonly failing = new Map<string, Failing>()
  private readonly firstMs: number
  private readonly maxMs: number

  constructor(opts: LookupBackoffOptions = {}) {
    this.firstMs = Math.max(1, opts.firstMs ?? DEFAULT_LOOKUP_BACKOFF.firstMs)
    this.maxMs = Math.max(this.firstMs, opts.maxMs ?? DEFAULT_LOOKUP_BACKOFF.maxMs)
  }

  /** Whether `key` may be looked up at `now`: never failed, or its back-off has passed. */
  due(key: string, now: number): boolean {
    const f = this.failing.get(key)
    return f === undefined || now >= f.retryAt
  }

  /** A look-up of `key` failed at `now`; returns how long until it may be tried again. */
  failed(key: string, now: number): number {
    const failures = (this.failing.get(key)?.failures ?? 0) + 1
    // 2^20 already passes any cap; stopping there keeps the arithmetic exact.
    const delay = Math.min(this.maxMs, this.firstMs * 2 ** Math.min(failures - 1, 20))
    this.failing.set(key, { failures, retryAt: now + delay })
    return delay
  }

  /** How many times in a row `key` has failed (0: never, or since its last success). */
  failures(key: string): number {
    return this.failing.get(key)?.failures ?? 0
  }

  succeeded(key: string): void {
    this.failing.delete(key)
  }

  /** Forgets every failing key not in `wanted` (the record that named it is gone); returns the
   *  keys forgotten. */
  retain(wanted: ReadonlySet<string>): string[] {
    const gone = [...this.failing.keys()].filter((k) => !wanted.has(k))
    for (const k of gone) this.failing.delete(k)
    return gone
  }

  /** The earliest time a failing key may be tried again; undefined when none is failing. */
  nextRetryAt(): number | undefined {
    let next: number | undefined
    for (const f of this.failing.values())
      if (next === undefined || f.retryAt < next) next = f.retryAt
    return next
  }
}
