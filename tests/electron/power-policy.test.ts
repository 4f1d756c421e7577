import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import {
  applyPowerEvent,
  desktopReadings,
  NO_PAUSES,
  pauseChanges,
  POWER_EVENTS,
  PowerController,
  wantedPauses,
  type PauseChange,
  type PowerEvent,
  type PowerFacts,
} from '../../electron/power-policy.js'

const AC: PowerFacts = { onBattery: false, suspended: false }

describe('applyPowerEvent', () => {
  it.each<[PowerFacts, PowerEvent, PowerFacts]>([
    [AC, 'suspend', { onBattery: false, suspended: true }],
    [{ onBattery: false, suspended: true }, 'resume', AC],
    [AC, 'on-battery', { onBattery: true, suspended: false }],
    [{ onBattery: true, suspended: false }, 'on-ac', AC],
    [{ onBattery: true, suspended: false }, 'suspend', { onBattery: true, suspended: true }],
    [{ onBattery: true, suspended: true }, 'resume', { onBattery: true, suspended: false }],
    // Repeats are harmless.
    [{ onBattery: true, suspended: false }, 'on-battery', { onBattery: true, suspended: false }],
  ])('%j + %s → %j', (facts, event, next) => {
    expect(applyPowerEvent(facts, event)).toEqual(next)
  })
})

describe('wantedPauses', () => {
  it.each([
    [false, false, { suspend: false }],
    // Battery is the lending policy's (core/policy), with the lender's level and hysteresis.
    [true, false, { suspend: false }],
    [false, true, { suspend: true }],
    [true, true, { suspend: true }],
  ])('onBattery=%s suspended=%s → %j', (onBattery, suspended, wanted) => {
    expect(wantedPauses({ onBattery, suspended })).toEqual(wanted)
  })
})

describe('pauseChanges', () => {
  it('asks for nothing when nothing changes', () => {
    expect(pauseChanges(NO_PAUSES, NO_PAUSES)).toEqual([])
  })

  it('lists each change', () => {
    expect(pauseChanges(NO_PAUSES, { suspend: true })).toEqual([
      { reason: 'suspend', paused: true },
    ])
    expect(pauseChanges({ suspend: true }, { suspend: false })).toEqual([
      { reason: 'suspend', paused: false },
    ])
  })
})

describe('desktopReadings', () => {
  it('reads idle time and battery from powerMonitor, the level only on battery', async () => {
    let idle = 42
    let onBattery = false
    let levelReads = 0
    const source = desktopReadings(
      { getSystemIdleTime: () => idle, isOnBatteryPower: () => onBattery },
      async () => {
        levelReads++
        return { onBattery: true, percent: 37 }
      },
    )
    expect(await source.idleSeconds!()).toBe(42)
    idle = 3
    expect(await source.idleSeconds!()).toBe(3)
    expect(await source.battery!()).toEqual({ onBattery: false })
    expect(levelReads).toBe(0)
    onBattery = true
    expect(await source.battery!()).toEqual({ onBattery: true, percent: 37 })
  })

  it('still says on battery when the level cannot be read', async () => {
    const source = desktopReadings(
      { getSystemIdleTime: () => 0, isOnBatteryPower: () => true },
      () => Promise.reject(new Error('no power_supply')),
    )
    expect(await source.battery!()).toEqual({ onBattery: true })
  })
})

function controller(initial: PowerFacts = AC, failing = new Set<string>()) {
  const calls: PauseChange[] = []
  const errors: PauseChange[] = []
  const power = new PowerController({
    initial,
    async setSystemPause(reason, paused) {
      if (failing.has(`${reason}:${paused}`)) throw new Error('core busy')
      calls.push({ reason, paused })
    },
    onError: (_err, change) => errors.push(change),
  })
  return { power, calls, errors, failing }
}

describe('PowerController', () => {
  it('pauses for sleep, not for battery (the lending policy decides that)', async () => {
    const { power, calls } = controller()
    await power.event('on-battery')
    await power.event('suspend')
    await power.event('resume')
    expect(calls).toEqual([
      { reason: 'suspend', paused: true },
      { reason: 'suspend', paused: false },
    ])
  })

  it('tells the core once however often the state is pushed', async () => {
    const { power, calls } = controller()
    await power.event('suspend')
    for (let i = 0; i < 5; i++) await power.retry()
    await power.event('suspend')
    expect(calls).toEqual([{ reason: 'suspend', paused: true }])
  })

  it('makes one call at a time, and catches up with events that arrived meanwhile', async () => {
    const calls: PauseChange[] = []
    let inFlight = 0
    let maxInFlight = 0
    const gates: (() => void)[] = []
    const power = new PowerController({
      initial: AC,
      async setSystemPause(reason, paused) {
        inFlight++
        maxInFlight = Math.max(maxInFlight, inFlight)
        await new Promise<void>((resolve) => gates.push(resolve))
        calls.push({ reason, paused })
        inFlight--
      },
      onError: (err) => {
        throw err
      },
    })
    const suspended = power.event('suspend')
    // The suspend call is under way; the machine wakes before the core answers.
    while (gates.length === 0) await new Promise((resolve) => setImmediate(resolve))
    const resumed = power.event('resume')
    while (gates.length > 0 || inFlight > 0) {
      gates.shift()?.()
      await new Promise((resolve) => setImmediate(resolve))
    }
    await Promise.all([suspended, resumed])
    expect(maxInFlight).toBe(1)
    expect(calls).toEqual([
      { reason: 'suspend', paused: true },
      { reason: 'suspend', paused: false },
    ])
  })

  it('skips changes that undo each other before the core is asked', async () => {
    const { power, calls } = controller()
    const a = power.event('suspend')
    const b = power.event('resume')
    await Promise.all([a, b])
    expect(calls).toEqual([])
  })

  it('reports a failed call and retries it on the next push', async () => {
    const { power, calls, errors, failing } = controller()
    failing.add('suspend:true')
    await power.event('suspend')
    expect(errors).toEqual([{ reason: 'suspend', paused: true }])
    expect(calls).toEqual([])
    failing.clear()
    await power.retry()
    expect(calls).toEqual([{ reason: 'suspend', paused: true }])
  })

  it('always ends where the facts say, whatever the sequence', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.boolean(),
        fc.array(fc.constantFrom(...POWER_EVENTS), { maxLength: 30 }),
        async (battery, events) => {
          const { power, calls } = controller({ onBattery: battery, suspended: false })
          let facts: PowerFacts = { onBattery: battery, suspended: false }
          for (const e of events) {
            facts = applyPowerEvent(facts, e)
            await power.event(e)
          }
          // Replaying the calls from no pauses gives the wanted pauses, and no call repeats the
          // value before it.
          const applied = { ...NO_PAUSES }
          for (const call of calls) {
            expect(applied[call.reason]).not.toBe(call.paused)
            applied[call.reason] = call.paused
          }
          expect(applied).toEqual(wantedPauses(facts))
        },
      ),
    )
  })
})
