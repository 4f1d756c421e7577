// The presence loop: one record per meshlet, rewritten at a steady interval while it vouches for
// replicas. Errors go to onError and the loop keeps going; stop() ends it.
import { clampDelay } from '../clock/index.js'
import type { VouchedReplica } from './vouch.js'

export type PresenceState = 'lending' | 'paused' | 'draining'

export interface PresenceRecordDraft {
  state: PresenceState
  replicas: VouchedReplica[]
  seq: number
  intervalMs: number
  updatedAt: string
}

export interface PresencePublisherOptions {
  intervalMs: number
  /** What to vouch for now (computed just before each write). */
  replicas: () => Promise<VouchedReplica[]>
  state: () => PresenceState
  publish: (record: PresenceRecordDraft) => Promise<void>
  onError: (err: Error) => void
  now?: () => number
}

export class PresencePublisher {
  private timer?: NodeJS.Timeout
  private running = false
  private beating?: Promise<void>
  private seq = 0
  /** The last write listed replicas: the next one must go out even if the list is empty. */
  private listed = false
  /** Writes and when the last went out, for the bench and the tests. */
  writes = 0
  lastAt?: number

  constructor(private readonly opts: PresencePublisherOptions) {}

  start(): void {
    if (this.running) return
    this.running = true
    this.schedule()
  }

  /** Writes now if there is something to say (a replica started, or the loop's turn). */
  beat(): Promise<void> {
    this.beating ??= this.write()
      .catch((err: unknown) => this.opts.onError(err as Error))
      .finally(() => (this.beating = undefined))
    return this.beating
  }

  async stop(): Promise<void> {
    this.running = false
    clearTimeout(this.timer)
    await this.beating
  }

  private schedule(): void {
    if (!this.running) return
    this.timer = setTimeout(() => {
      void this.beat().finally(() => this.schedule())
    }, clampDelay(this.opts.intervalMs))
  }

  private async write(): Promise<void> {
    const replicas = await this.opts.replicas()
    if (!this.running) return
    // Nothing to vouch for and nothing to take back: no write (an idle meshlet spends nothing).
    if (replicas.length === 0 && !this.listed) return
    const now = (this.opts.now ?? Date.now)()
    await this.opts.publish({
      state: this.opts.state(),
      replicas,
      seq: this.seq++,
      intervalMs: this.opts.intervalMs,
      updatedAt: new Date(now).toISOString(),
    })
    this.listed = replicas.length > 0
    this.writes++
    this.lastAt = now
  }
}
