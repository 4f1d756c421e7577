// Throttling guests: while the lender uses the machine (and chose throttle over pause), every
// guest's CPU limit is lowered to a share of what its workload asked for, and restored after.
// It reconciles rather than remembers: each call compares every guest's limit now with the one
// wanted, so a guest started while throttled is throttled too, and one left throttled by a
// daemon that stopped is restored by the next one.
import { MIN_CPU_MILLIS } from '../runtime/index.js'

export interface ThrottledGuest {
  containerId: string
  /** What its workload asked for, in millicores. */
  askedMillis: number
  /** Its limit now, as the engine reported it (undefined: not known). */
  currentMillis?: number
}

/** The one method of the runtime this needs. */
export interface CpuUpdater {
  updateCpu(containerId: string, cpuMillis: number): Promise<void>
}

export class ThrottleError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options)
    this.name = 'ThrottleError'
  }
}

/** A guest's CPU limit at a share (0..1] of what it asked for; never below Docker's floor. */
export function throttledMillis(askedMillis: number, share: number): number {
  if (share >= 1) return askedMillis
  return Math.min(askedMillis, Math.max(MIN_CPU_MILLIS, Math.round(askedMillis * share)))
}

export interface GuestThrottleOptions {
  runtime: CpuUpdater
  /** A guest that could not be updated; the next call tries it again. */
  onError: (err: ThrottleError) => void
}

export class GuestThrottle {
  private readonly applied = new Map<string, number>()
  private queue: Promise<void> = Promise.resolve()

  constructor(private readonly opts: GuestThrottleOptions) {}

  /** Brings every guest to `share` of its CPU; calls run one at a time, in order. */
  apply(share: number, guests: readonly ThrottledGuest[]): Promise<void> {
    this.queue = this.queue.then(() => this.reconcile(share, guests))
    return this.queue
  }

  private async reconcile(share: number, guests: readonly ThrottledGuest[]): Promise<void> {
    const present = new Set(guests.map((g) => g.containerId))
    for (const id of [...this.applied.keys()]) if (!present.has(id)) this.applied.delete(id)
    for (const g of guests) {
      const want = throttledMillis(g.askedMillis, share)
      const now = this.applied.get(g.containerId) ?? g.currentMillis
      if (now === want) continue
      try {
        await this.opts.runtime.updateCpu(g.containerId, want)
        this.applied.set(g.containerId, want)
      } catch (err) {
        this.applied.delete(g.containerId)
        this.opts.onError(
          new ThrottleError(`cannot set the CPU of guest ${g.containerId.slice(0, 12)}`, {
            cause: err,
          }),
        )
      }
    }
  }
}
