// What a meshlet does about its peers' liveness and its own: probes the hosts that ask for it,
// challenges one that falls silent, answers challenges of itself, and takes back its challenges
// once they decide nothing. The decisions are pure (targets.ts, core/scheduling/liveness.ts);
// this file only times them and calls out. Errors go to onError; stop() ends it.
import {
  challengeDue,
  timeOf,
  withChallenges,
  type PresenceIndex,
  type SchedulingConfig,
} from '../scheduling/index.js'
import { Prober, type Ping } from './prober.js'
import {
  challengeToAnswer,
  FALLBACK_MS,
  FALLBACK_WINDOW_MS,
  probeTargets,
  shouldFallBack,
  spentChallenges,
  type LivenessRecords,
} from './targets.js'

export interface LivenessWatchOptions {
  self: { meshlet: string; owner: string }
  config: SchedulingConfig
  /** The records as they stand (presence without challenges applied). */
  records: () => LivenessRecords
  /** Writes our challenge of `subject`, dated `createdAt`. */
  challenge: (subject: string, createdAt: number) => Promise<void>
  /** Deletes our challenge of `subject`. */
  withdraw: (subject: string) => Promise<void>
  /** Writes our presence dated after `challengedAt`. */
  answer: (challengedAt: number) => Promise<void>
  /** Only a meshlet that could take a replica over probes (one with a container engine). */
  probe: boolean
  /** How often each target is pinged (default 2 s), how long a ping may take (2 s), and how long
   *  a host may stay silent before it is challenged (10 s). */
  probeMs?: number
  timeoutMs?: number
  silenceMs?: number
  ping?: Ping
  now?: () => number
  onError: (stage: string, err: Error) => void
  onChallenge?: (subject: string, silentMs: number) => void
  /** `host` answered a challenge of ours while our pings kept failing, `strikes` times running. */
  onUnreachable?: (host: string, strikes: number) => void
  /** We should ask for the interval rule (`preferInterval`) from now, or again for challenges:
   *  declare it. */
  onFallback?: (preferInterval: boolean) => void
}

export const DEFAULT_PROBE_MS = 2_000
export const DEFAULT_SILENCE_MS = 10_000

/**
 * How long after our last challenge of a host we may challenge it again: `heartbeatMs` (an
 * earlier one would be void), doubled for each challenge it answered while our pings failed, up
 * to `challengeHeartbeatMs`. A host we cannot reach then costs us at most one challenge (3
 * points) and it one answer per 5 min, instead of one each per 20 s; its peers that can reach
 * it still challenge it within seconds.
 */
export function challengeWaitMs(strikes: number, config: SchedulingConfig): number {
  return Math.min(
    config.heartbeatMs * 2 ** Math.min(strikes, 20),
    Math.max(config.heartbeatMs, config.challengeHeartbeatMs),
  )
}

export class LivenessWatch {
  private readonly prober: Prober
  private readonly now: () => number
  /** When we last challenged each host: once per heartbeatMs at most (a void one waits). */
  private readonly challenged = new Map<string, number>()
  /** Our last challenge of each host, until we see whether it was answered. */
  private readonly pending = new Map<string, number>()
  /** Challenges each host answered while our pings kept failing: it is alive, but its endpoint
   *  is not reachable from here (a LAN address, a firewall). Each doubles the wait before the
   *  next challenge (`challengeWaitMs`); an answered ping clears them. */
  private readonly strikes = new Map<string, number>()
  /** Challenges being written or deleted, by subject. */
  private readonly busy = new Set<string>()
  private answered?: number
  /** Started: our presence loop runs, so an answer can be written. */
  private started = false
  /** When we answered challenges lately (`shouldFallBack`). */
  private answeredAt: number[] = []
  private fallbackUntil?: number
  private fallbackTimer?: NodeJS.Timeout

  constructor(private readonly opts: LivenessWatchOptions) {
    this.now = opts.now ?? Date.now
    this.prober = new Prober({
      targets: () => probeTargets(this.judged(), opts.self),
      onRound: () => this.afterProbes(),
      everyMs: opts.probeMs ?? DEFAULT_PROBE_MS,
      timeoutMs: opts.timeoutMs ?? 2_000,
      ...(opts.ping ? { ping: opts.ping } : {}),
      now: this.now,
    })
  }

  /** Some peer cannot reach our endpoint (we answered its challenges): ask for the interval
   *  rule until the fall-back ends. */
  get preferInterval(): boolean {
    return this.fallbackUntil !== undefined
  }

  /** Probes sent so far. */
  get probes(): number {
    return this.prober.probes
  }

  /** The presence index every decision uses: challenges applied. */
  index(): PresenceIndex {
    return this.judged().presence
  }

  start(): void {
    this.started = true
    if (this.opts.probe) this.prober.start()
    // A challenge that came while we were away (a restart) is answered now.
    this.recordsChanged()
  }

  async stop(): Promise<void> {
    this.started = false
    clearTimeout(this.fallbackTimer)
    await this.prober.stop()
  }

  /** A challenge, presence or linkage changed: answer one of ourselves at once, take back spent
   *  ones, and probe if a host to probe appeared. */
  recordsChanged(): void {
    this.prober.wake()
    const records = this.judged()
    const at = challengeToAnswer(records, this.opts.self.meshlet, this.opts.config)
    if (this.started && at !== undefined && at !== this.answered) {
      this.answered = at
      this.opts.answer(at).then(
        () => this.noteAnswer(),
        (err: unknown) => {
          this.answered = undefined
          this.opts.onError('liveness.answer', err as Error)
        },
      )
    }
    for (const c of spentChallenges(records, this.opts.self.meshlet, this.opts.config)) {
      const subject = c.record.subject
      if (this.busy.has(subject)) continue
      this.busy.add(subject)
      this.opts
        .withdraw(subject)
        .catch((err: unknown) => this.opts.onError('liveness.withdraw', err as Error))
        .finally(() => this.busy.delete(subject))
    }
  }

  private noteAnswer(): void {
    const now = this.now()
    this.answeredAt = [...this.answeredAt.filter((t) => now - t < FALLBACK_WINDOW_MS), now]
    if (!this.started || this.fallbackUntil !== undefined) return
    if (!shouldFallBack(this.answeredAt, now)) return
    this.fallbackUntil = now + FALLBACK_MS
    this.answeredAt = []
    this.fallbackTimer = setTimeout(() => {
      this.fallbackUntil = undefined
      this.opts.onFallback?.(false)
    }, FALLBACK_MS)
    this.opts.onFallback?.(true)
  }

  private judged(): LivenessRecords {
    const r = this.opts.records()
    return {
      ...r,
      presence: withChallenges(r.presence, r.challenges, r.cluster, this.opts.config),
    }
  }

  private afterProbes(): void {
    const records = this.judged()
    const now = this.now()
    const silenceMs = this.opts.silenceMs ?? DEFAULT_SILENCE_MS
    for (const host of probeTargets(records, this.opts.self).keys()) {
      const since = this.prober.silentSince(host)
      if (since === undefined || this.busy.has(host)) continue
      if (now - since < silenceMs) this.strikes.delete(host)
      const pending = this.pending.get(host)
      const seen = timeOf(records.presence.get(host)?.record.updatedAt ?? '')
      if (pending !== undefined && seen > pending) {
        this.pending.delete(host)
        if (since <= pending) {
          const strikes = (this.strikes.get(host) ?? 0) + 1
          this.strikes.set(host, strikes)
          this.opts.onUnreachable?.(host, strikes)
        }
      }
      const last = this.challenged.get(host)
      const wait = challengeWaitMs(this.strikes.get(host) ?? 0, this.opts.config)
      if (last !== undefined && now - last < wait) continue
      if (!challengeDue(records.presence.get(host), since, now, silenceMs, this.opts.config)) {
        continue
      }
      this.challenged.set(host, now)
      this.pending.set(host, now)
      this.busy.add(host)
      this.opts.onChallenge?.(host, now - since)
      this.opts
        .challenge(host, now)
        .catch((err: unknown) => this.opts.onError('liveness.challenge', err as Error))
        .finally(() => this.busy.delete(host))
    }
    this.recordsChanged()
  }
}
