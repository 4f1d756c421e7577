// A fixed-window limit per caller address, for the one method anyone may call (farm.meshlet.ping).
// Bounded: at most `maxKeys` addresses are counted per window; past that, unknown addresses are
// refused until the window turns, rather than the map growing with a flood of sources.

export interface RateLimitOptions {
  /** Requests each address may make per window. */
  limit: number
  windowMs: number
  maxKeys: number
  now?: () => number
}

export class FixedWindowLimit {
  private counts = new Map<string, number>()
  private windowStart = Number.NEGATIVE_INFINITY
  private readonly now: () => number

  constructor(private readonly opts: RateLimitOptions) {
    this.now = opts.now ?? Date.now
  }

  /** Counts a request from `key`; false when it is over the limit. */
  allow(key: string): boolean {
    const now = this.now()
    if (now - this.windowStart >= this.opts.windowMs) {
      this.windowStart = now
      this.counts = new Map()
    }
    const seen = this.counts.get(key)
    if (seen === undefined && this.counts.size >= this.opts.maxKeys) return false
    const count = (seen ?? 0) + 1
    this.counts.set(key, count)
    return count <= this.opts.limit
  }
}
