// The presence loop: one record per meshlet, rewritten at a steady interval while it vouches for
// replicas. Errors go to onError and the loop keeps going; stop() ends it.
//
// Under 'challenge' liveness (core/liveness: peers probe this meshlet off the repo) the loop still
// looks every `intervalMs`, but writes only when a replica joined the list (peers must see it
// listed before its status goes stale), when the list emptied, when `challengeIntervalMs` has
// passed, or to answer a challenge (`answer`).
import { clampDelay } from '../clock/index.js'
import type { Liveness } from '../scheduling/index.js'
import type { VouchedReplica } from './vouch.js'

export type PresenceState = 'lending' | 'paused' | 'draining'

export interface PresenceRecordDraft {
  state: PresenceState
  replicas: VouchedReplica[]
  seq: number
  intervalMs: number
  /** Present only under 'challenge': records of interval meshlets stay as they were. */
  liveness?: 'challenge'
  updatedAt: string
}

export interface PresencePublisherOptions {
  intervalMs: number
  /** The interval under 'challenge' liveness. */
  challengeIntervalMs?: number
  /** What to vouch for now (computed just before each write). */
  replicas: () => Promise<VouchedReplica[]>
  state: () => PresenceState
  publish: (record: PresenceRecordDraft) => Promise<void>
  onError: (err: Error) => void
  now?: () => number
}

const keyOf = (r: VouchedReplica) => `${r.workload.uri} ${r.workload.cid} ${r.round}`

export class PresencePublisher {
  private timer?: NodeJS.Timeout
  private running = false
  private beating?: Promise<void>
  private seq = 0
  /** The last write listed replicas: the next one must go out even if the list is empty. */
  private listed = false
  private liveness: Liveness = 'interval'
  /** What the last write listed. */
  private lastListed = new Set<string>()
  /** The next write must be dated after this (a challenge's createdAt). */
  private answering?: number
  /** Writes and when the last went out, for the bench and the tests. */
  writes = 0
  lastAt?: number

  constructor(private readonly opts: PresencePublisherOptions) {}

  get mode(): Liveness {
    return this.liveness
  }

  start(): void {
    if (this.running) return
    this.running = true
    this.schedule()
  }

  /** Changes the liveness the record declares; a change is written at once (peers must apply
   *  the new rule from now on). */
  setLiveness(liveness: Liveness): Promise<void> {
    if (liveness === this.liveness) return Promise.resolve()
    this.liveness = liveness
    return this.beat(true)
  }

  /** Writes now if there is something to say (a replica started, or the loop's turn). */
  beat(force = false): Promise<void> {
    this.beating ??= this.write(force)
      .catch((err: unknown) => this.opts.onError(err as Error))
      .finally(() => (this.beating = undefined))
    return this.beating
  }

  /** Answers a challenge made at `challengedAt`: a write dated after it, at once (after a write
   *  under way, which may be dated before it). */
  async answer(challengedAt: number): Promise<void> {
    await this.beating
    this.answering = Math.max(this.answering ?? 0, challengedAt)
    await this.beat(true)
  }

  async stop(): Promise<void> {
    this.running = false
    clearTimeout(this.timer)
    await this.beating
  }

  private get intervalMs(): number {
    return this.liveness === 'challenge'
      ? (this.opts.challengeIntervalMs ?? this.opts.intervalMs)
      : this.opts.intervalMs
  }

  private schedule(): void {
    if (!this.running) return
    this.timer = setTimeout(() => {
      void this.beat().finally(() => this.schedule())
    }, clampDelay(this.opts.intervalMs))
  }

  private async write(force: boolean): Promise<void> {
    const replicas = await this.opts.replicas()
    if (!this.running) return
    // Nothing to vouch for and nothing to take back: no write (an idle meshlet spends nothing).
    if (replicas.length === 0 && !this.listed) return
    let now = (this.opts.now ?? Date.now)()
    const keys = new Set(replicas.map(keyOf))
    if (this.liveness === 'challenge' && !force && this.answering === undefined) {
      const joined = [...keys].some((k) => !this.lastListed.has(k))
      const emptied = keys.size === 0 && this.lastListed.size > 0
      const due = this.lastAt === undefined || now - this.lastAt >= this.intervalMs
      if (!joined && !emptied && !due) return
    }
    const answering = this.answering
    // Dated after the challenge it answers even when our clock is a little behind its author's.
    if (answering !== undefined) now = Math.max(now, answering + 1)
    await this.opts.publish({
      state: this.opts.state(),
      replicas,
      seq: this.seq++,
      intervalMs: this.intervalMs,
      ...(this.liveness === 'challenge' ? { liveness: 'challenge' as const } : {}),
      updatedAt: new Date(now).toISOString(),
    })
    if (this.answering === answering) this.answering = undefined
    this.listed = replicas.length > 0
    this.lastListed = keys
    this.writes++
    this.lastAt = now
  }
}
