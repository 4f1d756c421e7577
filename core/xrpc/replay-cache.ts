// Service-auth tokens are bearer tokens: whoever sees one (a log, a proxy) could send it again
// until it expires. Each token carries a unique `jti`; a meshlet accepts each jti once. Pure:
// time is an input.

export interface ReplayCacheOptions {
  /** Most tokens remembered at once (default 10,000). */
  maxEntries?: number
}

export type ReplayCheck = 'fresh' | 'replayed' | 'full'

/**
 * Remembers each jti until its token expires. Bounded: expired entries go first, and when the
 * cache is full of unexpired ones a new token is refused ('full') rather than an old one
 * forgotten, since forgetting would let that old token be replayed. Tokens' lifetimes are
 * capped by the verifier, so a full cache empties within that cap.
 */
export class ReplayCache {
  readonly maxEntries: number
  /** jti → expiry (ms). Insertion order is roughly expiry order, since lifetimes are short. */
  private readonly seen = new Map<string, number>()

  constructor(opts: ReplayCacheOptions = {}) {
    this.maxEntries = opts.maxEntries ?? 10_000
    if (!Number.isSafeInteger(this.maxEntries) || this.maxEntries < 1) {
      throw new RangeError(`maxEntries must be a positive integer; got ${this.maxEntries}`)
    }
  }

  get size(): number {
    return this.seen.size
  }

  /** Records `jti` (valid until `expiresAt`) if it was not seen; says whether it was. */
  check(jti: string, expiresAt: number, now: number): ReplayCheck {
    const known = this.seen.get(jti)
    if (known !== undefined && known >= now) return 'replayed'
    if (known !== undefined) this.seen.delete(jti)
    if (this.seen.size >= this.maxEntries) this.prune(now)
    if (this.seen.size >= this.maxEntries) return 'full'
    this.seen.set(jti, expiresAt)
    return 'fresh'
  }

  /** Forgets every expired entry. */
  prune(now: number): void {
    for (const [jti, exp] of this.seen) if (exp < now) this.seen.delete(jti)
  }
}
