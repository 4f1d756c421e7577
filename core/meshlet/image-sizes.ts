// The lender's maximum image size, judged before bidding (issue 11: a workload outside the
// lender's policy gets no bid, with the reason). The planner is synchronous and a registry is
// not, so sizes are asked for in the background the first time a workload's image is judged and
// kept: until the registry has answered, the verdict is 'unknown' (no bid, `image-size-unknown`),
// and when it answers, `onLearned` asks for a new plan, still inside the bid window for a
// registry that answers within it. The runtime checks again before it pulls: a tag may have
// moved since.
import type { ImageSizeVerdict } from '../scheduling/index.js'

const MiB = 1024 * 1024

export interface ImageSizesOptions {
  /** The lender's maximum, read at each judgement (a setting the app may change). */
  maxMiB: () => number | undefined
  /** What pulling the image downloads, in bytes, from its registry's manifest. */
  bytesOf: (image: string) => Promise<number>
  /** A size was learned (or its look-up failed): plan again. */
  onLearned: () => void
  now?: () => number
  /** How long a learned size is used; a tag can be moved to another image (default an hour).
   *  An image pinned by digest keeps its size for good. */
  ttlMs?: number
  /** The first wait after a failed look-up, doubling up to `maxRetryMs` (defaults 30 s, 10 min). */
  retryMs?: number
  maxRetryMs?: number
  /** Images remembered at most; the oldest go first (default 256). */
  maxEntries?: number
}

interface Entry {
  bytes?: number
  learnedAt?: number
  failures: number
  retryAt?: number
  pending: boolean
}

export class ImageSizes {
  private readonly entries = new Map<string, Entry>()

  constructor(private readonly opts: ImageSizesOptions) {}

  /** The image against the lender's maximum; undefined when there is none. Starts a look-up
   *  when the size is not known, or no longer fresh. */
  judge(image: string): ImageSizeVerdict | undefined {
    const max = this.opts.maxMiB()
    if (max === undefined) return undefined
    const now = this.now()
    const entry = this.entries.get(image)
    if (entry?.bytes !== undefined && this.fresh(image, entry, now)) {
      return entry.bytes > max * MiB ? 'too-large' : 'fits'
    }
    if (entry === undefined || (!entry.pending && !(now < (entry.retryAt ?? 0)))) {
      this.lookUp(image, entry)
    }
    // A size learned before but gone stale still says what the image most likely is, while
    // the registry is asked again.
    if (entry?.bytes !== undefined) return entry.bytes > max * MiB ? 'too-large' : 'fits'
    return 'unknown'
  }

  private lookUp(image: string, known: Entry | undefined): void {
    const entry: Entry = known ?? { failures: 0, pending: false }
    entry.pending = true
    this.entries.delete(image)
    this.entries.set(image, entry)
    while (this.entries.size > (this.opts.maxEntries ?? 256)) {
      const oldest = this.entries.keys().next().value as string
      this.entries.delete(oldest)
    }
    this.opts.bytesOf(image).then(
      (bytes) => {
        entry.pending = false
        entry.bytes = bytes
        entry.learnedAt = this.now()
        entry.failures = 0
        delete entry.retryAt
        this.opts.onLearned()
      },
      () => {
        entry.pending = false
        entry.failures += 1
        const first = this.opts.retryMs ?? 30_000
        const wait = Math.min(first * 2 ** (entry.failures - 1), this.opts.maxRetryMs ?? 600_000)
        entry.retryAt = this.now() + wait
        this.opts.onLearned()
      },
    )
  }

  private fresh(image: string, entry: Entry, now: number): boolean {
    if (image.includes('@sha256:')) return true
    return now - (entry.learnedAt ?? -Infinity) < (this.opts.ttlMs ?? 3_600_000)
  }

  private now(): number {
    return this.opts.now?.() ?? Date.now()
  }
}
