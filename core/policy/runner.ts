// The stateful half of the policy: samples the readings the enabled rules need, asks `decide`,
// and applies what changed (pause or lend, the guests' CPU share), reporting each transition.
// It samples only while a rule is enabled: with no rule set it has no timer at all.
import {
  decide,
  DEFAULT_HYSTERESIS,
  INITIAL_MEMORY,
  type Decision,
  type Hysteresis,
  type PolicyMemory,
  type Readings,
  type Transition,
} from './decide.js'
import type { ReadingsSource } from './readings.js'
import { minuteOfDay, type PolicyRules } from './rules.js'

export interface PolicyEnforcer {
  /** Stop or resume bidding; guests drain while paused. */
  setPaused(paused: boolean): Promise<void>
  /** Guests' CPU at this share (0..1] of what their workloads asked for; 1 restores it. */
  setCpuShare(share: number): Promise<void>
}

export interface PolicyRunnerOptions {
  rules: () => PolicyRules
  source: ReadingsSource
  enforce: PolicyEnforcer
  /** An action changed ("Paused: you are using this computer"). */
  onTransition: (t: Transition) => void
  /** The decision or a rule's state changed (for the UI). */
  onChange?: (d: Decision) => void
  /** A reading or an enforcement failed; the runner keeps going. */
  onError: (err: Error) => void
  now?: () => number
  /** Quiet hours are on this time zone's clock (default: the system's). */
  timeZone?: string
  /** How often to sample while the idle rule is on (it must see use within seconds); 2 s. */
  fastMs?: number
  /** How often otherwise while a rule is on; 5 s. */
  slowMs?: number
  hysteresis?: Partial<Hysteresis>
}

/** What the app takes from its host for the policy: the desktop's readings, a clock for tests. */
export interface PolicyHooks {
  source?: ReadingsSource
  now?: () => number
  timeZone?: string
  hysteresis?: Partial<Hysteresis>
  fastMs?: number
  slowMs?: number
}

export class PolicyError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options)
    this.name = 'PolicyError'
  }
}

export class PolicyRunner {
  private memory: PolicyMemory = INITIAL_MEMORY
  private current: Decision
  private applied = { paused: false, share: 1 }
  private timer?: NodeJS.Timeout
  private timerMs?: number
  private running?: Promise<void>
  private again = false
  private closed = false
  private readonly h: Hysteresis

  constructor(private readonly opts: PolicyRunnerOptions) {
    this.h = { ...DEFAULT_HYSTERESIS, ...opts.hysteresis }
    this.current = decide(opts.rules(), INITIAL_MEMORY, this.baseReadings(), this.h).decision
  }

  get decision(): Decision {
    return this.current
  }

  /** Whether the policy holds lending back now (the app's own pause is kept apart). */
  get paused(): boolean {
    return this.applied.paused
  }

  get cpuShare(): number {
    return this.applied.share
  }

  /** Evaluate now; call at start and whenever the rules change. Resolves once applied. */
  evaluate(): Promise<void> {
    if (this.closed) return Promise.resolve()
    if (this.running) {
      // One evaluation at a time; a request during one runs once more right after it.
      this.again = true
      return this.running
    }
    this.running = this.step().finally(() => {
      this.running = undefined
      if (this.again && !this.closed) {
        this.again = false
        void this.evaluate()
      }
    })
    return this.running
  }

  close(): void {
    this.closed = true
    clearInterval(this.timer)
    this.timer = undefined
  }

  private baseReadings(): Readings {
    const at = (this.opts.now ?? Date.now)()
    return { at, minuteOfDay: minuteOfDay(at, this.opts.timeZone) }
  }

  private async read(rules: PolicyRules): Promise<Readings> {
    const r = this.baseReadings()
    const { source } = this.opts
    const tasks: Promise<void>[] = []
    const take = <T>(
      what: string,
      f: (() => Promise<T | undefined> | T | undefined) | undefined,
      set: (v: T) => void,
    ) => {
      if (!f) return
      tasks.push(
        Promise.resolve()
          .then(f)
          .then(
            (v) => {
              if (v !== undefined) set(v)
            },
            (err: unknown) =>
              this.opts.onError(new PolicyError(`cannot read ${what}`, { cause: err })),
          ),
      )
    }
    if (rules.idleMinutes > 0) {
      take('the idle time', source.idleSeconds?.bind(source), (v) => (r.idleSeconds = v))
    }
    if (rules.pauseOnBattery) {
      take('the battery', source.battery?.bind(source), (b) => {
        r.onBattery = b.onBattery
        if (b.percent !== undefined) r.batteryPercent = b.percent
      })
    }
    if (rules.maxHostLoadPercent > 0) {
      take('the host load', source.hostLoadPercent?.bind(source), (v) => (r.hostLoadPercent = v))
    }
    await Promise.all(tasks)
    return r
  }

  private async step(): Promise<void> {
    const rules = this.opts.rules()
    this.schedule(rules)
    const readings = await this.read(rules)
    if (this.closed) return
    const out = decide(rules, this.memory, readings, this.h)
    this.memory = out.memory
    const changed = JSON.stringify(out.decision) !== JSON.stringify(this.current)
    this.current = out.decision
    if (out.transition) this.opts.onTransition(out.transition)
    await this.enforce(out.decision)
    if (changed) this.opts.onChange?.(out.decision)
  }

  private async enforce(d: Decision): Promise<void> {
    const paused = d.action === 'pause'
    // Throttle first when pausing ends in a throttle, so guests never run at full CPU between.
    if (d.cpuShare !== this.applied.share) {
      try {
        await this.opts.enforce.setCpuShare(d.cpuShare)
        this.applied.share = d.cpuShare
      } catch (err) {
        this.opts.onError(new PolicyError('cannot throttle guests', { cause: err }))
      }
    }
    if (paused !== this.applied.paused) {
      // Marked first: the enforcer reads `paused` to decide what the meshlet should be.
      this.applied.paused = paused
      try {
        await this.opts.enforce.setPaused(paused)
      } catch (err) {
        this.applied.paused = !paused
        this.opts.onError(new PolicyError('cannot pause or resume lending', { cause: err }))
      }
    }
  }

  /** A timer only while a rule is on: fast while the idle rule must catch use, slow otherwise. */
  private schedule(rules: PolicyRules): void {
    const anyRule =
      rules.idleMinutes > 0 ||
      rules.pauseOnBattery ||
      rules.quietHours !== null ||
      rules.maxHostLoadPercent > 0
    const ms = !anyRule
      ? undefined
      : rules.idleMinutes > 0
        ? (this.opts.fastMs ?? 2000)
        : (this.opts.slowMs ?? 5000)
    if (ms === this.timerMs || this.closed) return
    clearInterval(this.timer)
    this.timer = undefined
    this.timerMs = ms
    if (ms !== undefined) this.timer = setInterval(() => void this.evaluate(), ms)
  }
}
