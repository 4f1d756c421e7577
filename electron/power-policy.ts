// When the system (not the user) pauses lending: asleep, or on battery when the user asked for
// that. The policy keeps the facts (on battery? suspended?) apart from the decision, and the
// decision apart from what was already told to the core, so that a setting changed while on
// battery takes effect at once, repeated events cause no repeated calls, and the core hears each
// change exactly once. Quitting is handled by the lifecycle (lifecycle.ts), not here.
import type { Settings, SystemPause } from '../core/api.js'

export type PowerEvent = 'suspend' | 'resume' | 'on-battery' | 'on-ac'
export const POWER_EVENTS: readonly PowerEvent[] = ['suspend', 'resume', 'on-battery', 'on-ac']

export interface PowerFacts {
  onBattery: boolean
  suspended: boolean
}

/** The pauses this policy owns ('quit' is the lifecycle's). */
export type PowerPause = Exclude<SystemPause, 'quit'>
export type PowerPauses = Record<PowerPause, boolean>

export const NO_PAUSES: PowerPauses = { battery: false, suspend: false }

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

export function wantedPauses(
  facts: PowerFacts,
  settings: Pick<Settings, 'pauseOnBattery'>,
): PowerPauses {
  return { battery: facts.onBattery && settings.pauseOnBattery, suspend: facts.suspended }
}

export interface PauseChange {
  reason: PowerPause
  paused: boolean
}

/** The calls that take the core from `applied` to `wanted`. A suspend comes first: the machine is
 *  about to sleep and the draining status should leave before it does. */
export function pauseChanges(applied: PowerPauses, wanted: PowerPauses): PauseChange[] {
  const order: PowerPause[] = ['suspend', 'battery']
  return order
    .filter((reason) => applied[reason] !== wanted[reason])
    .map((reason) => ({ reason, paused: wanted[reason] }))
}

export interface PowerControllerOptions {
  initial: PowerFacts
  setSystemPause(reason: PowerPause, paused: boolean): Promise<void>
  onError(err: unknown, change: PauseChange): void
}

/**
 * Feeds power events and settings into the policy and tells the core about each change, one call
 * at a time and in order (a resume must not overtake the suspend before it). A failed call is
 * reported and not marked applied, so the next event or state push retries it.
 */
export class PowerController {
  private facts: PowerFacts
  private settings: Pick<Settings, 'pauseOnBattery'> | undefined
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

  /** The settings as of the latest state push; nothing is decided before the first. */
  setSettings(settings: Pick<Settings, 'pauseOnBattery'>): Promise<void> {
    this.settings = { pauseOnBattery: settings.pauseOnBattery }
    return this.sync()
  }

  private sync(): Promise<void> {
    this.queue = this.queue.then(async () => {
      if (!this.settings) return
      for (const change of pauseChanges(this.applied, wantedPauses(this.facts, this.settings))) {
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
