// The power facts the shell gives the core. Sleep is a system pause (the machine is about to
// stop; guests drain at once, no hysteresis). Being on battery and for how long nobody touched
// the keyboard or mouse are readings for the lending policy in core/policy, which decides with
// the lender's rules (pause on battery below a level, lend only when idle) and with hysteresis;
// this file only reads them from Electron's powerMonitor. The facts stay apart from what was
// already told to the core, so repeated events cause no repeated calls and the core hears each
// change exactly once. Quitting is handled by the lifecycle (lifecycle.ts), not here.
import type { SystemPause } from '../core/api.js'
import { systemBattery, type BatteryReading, type ReadingsSource } from '../core/policy/index.js'

export type PowerEvent = 'suspend' | 'resume' | 'on-battery' | 'on-ac'
export const POWER_EVENTS: readonly PowerEvent[] = ['suspend', 'resume', 'on-battery', 'on-ac']

export interface PowerFacts {
  onBattery: boolean
  suspended: boolean
}

/** The pauses this file owns ('quit' is the lifecycle's; battery is the lending policy's). */
export type PowerPause = Extract<SystemPause, 'suspend'>
export type PowerPauses = Record<PowerPause, boolean>

export const NO_PAUSES: PowerPauses = { suspend: false }

export function applyPowerEvent(facts: PowerFacts, event: PowerEvent): PowerFacts {
  switch (event) {
    case 'suspend':
      return { ...facts, suspended: true }
    case 'resume':
      return { ...facts, suspended: false }
    case 'on-battery':
      return { ...facts, onBattery: true }
    case 'on-ac':
      return { ...facts, onBattery: false }
  }
}

export function wantedPauses(facts: PowerFacts): PowerPauses {
  return { suspend: facts.suspended }
}

export interface PauseChange {
  reason: PowerPause
  paused: boolean
}

/** The calls that take the core from `applied` to `wanted`. */
export function pauseChanges(applied: PowerPauses, wanted: PowerPauses): PauseChange[] {
  const order: PowerPause[] = ['suspend']
  return order
    .filter((reason) => applied[reason] !== wanted[reason])
    .map((reason) => ({ reason, paused: wanted[reason] }))
}

/** The part of Electron's powerMonitor the policy reads. */
export interface PowerMonitorLike {
  /** Seconds since the last keyboard or mouse input, system-wide. */
  getSystemIdleTime(): number
  isOnBatteryPower(): boolean
}

/**
 * The lending policy's readings in the desktop app: idle time and on-battery from powerMonitor
 * (event-backed and cheap, read only when a rule asks), the battery's level from the core's
 * reading (Electron has no API for it).
 */
export function desktopReadings(
  monitor: PowerMonitorLike,
  level: () => Promise<BatteryReading> = systemBattery,
): ReadingsSource {
  return {
    idleSeconds: () => monitor.getSystemIdleTime(),
    battery: async () => {
      const onBattery = monitor.isOnBatteryPower()
      if (!onBattery) return { onBattery }
      const reading = await level().catch(() => undefined)
      return { onBattery, ...(reading?.percent !== undefined ? { percent: reading.percent } : {}) }
    },
  }
}

export interface PowerControllerOptions {
  initial: PowerFacts
  setSystemPause(reason: PowerPause, paused: boolean): Promise<void>
  onError(err: unknown, change: PauseChange): void
}

/**
 * Feeds power events into the policy and tells the core about each change, one call at a time
 * and in order (a resume must not overtake the suspend before it). A failed call is reported
 * and not marked applied, so the next event or `retry` tries it again.
 */
export class PowerController {
  private facts: PowerFacts
  private applied: PowerPauses = { ...NO_PAUSES }
  private queue: Promise<void> = Promise.resolve()

  constructor(private readonly opts: PowerControllerOptions) {
    this.facts = { ...opts.initial }
  }

  /** A power event from the system. */
  event(event: PowerEvent): Promise<void> {
    this.facts = applyPowerEvent(this.facts, event)
    return this.sync()
  }

  /** Tries again what failed (called on every state push). */
  retry(): Promise<void> {
    return this.sync()
  }

  private sync(): Promise<void> {
    this.queue = this.queue.then(async () => {
      for (const change of pauseChanges(this.applied, wantedPauses(this.facts))) {
        try {
          await this.opts.setSystemPause(change.reason, change.paused)
          this.applied = { ...this.applied, [change.reason]: change.paused }
        } catch (err) {
          this.opts.onError(err, change)
        }
      }
    })
    return this.queue
  }
}
