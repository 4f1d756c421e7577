import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import {
  applyPowerEvent,
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
    [false, false, false, { battery: false, suspend: false }],
    [true, false, false, { battery: false, suspend: false }],
    [true, false, true, { battery: true, suspend: false }],
    [false, false, true, { battery: false, suspend: false }],
    [false, true, false, { battery: false, suspend: true }],
    [true, true, true, { battery: true, suspend: true }],
  ])(
    'onBattery=%s suspended=%s pauseOnBattery=%s → %j',
    (onBattery, suspended, pauseOnBattery, wanted) => {
      expect(wantedPauses({ onBattery, suspended }, { pauseOnBattery })).toEqual(wanted)
    },
  )
})

describe('pauseChanges', () => {
  it('asks for nothing when nothing changes', () => {
    expect(pauseChanges(NO_PAUSES, NO_PAUSES)).toEqual([])
  })

  it('lists each change, suspend first', () => {
    expect(pauseChanges(NO_PAUSES, { battery: true, suspend: true })).toEqual([
      { reason: 'suspend', paused: true },
      { reason: 'battery', paused: true },
    ])
    expect(
      pauseChanges({ battery: true, suspend: true }, { battery: true, suspend: false }),
    ).toEqual([{ reason: 'suspend', paused: false }])
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
  it('decides nothing before it knows the settings', async () => {
    const { power, calls } = controller({ onBattery: true, suspended: false })
    await power.event('suspend')
    expect(calls).toEqual([])
    await power.setSettings({ pauseOnBattery: true })
    expect(calls).toEqual([
      { reason: 'suspend', paused: true },
      { reason: 'battery', paused: true },
    ])
  })

  it('pauses on battery only when the user asked for it', async () => {
    const { power, calls } = controller()
    await power.setSettings({ pauseOnBattery: false })
    await power.event('on-battery')
    expect(calls).toEqual([])
    await power.event('on-ac')
    await power.setSettings({ pauseOnBattery: true })
    await power.event('on-battery')
    await power.event('on-ac')
    expect(calls).toEqual([
      { reason: 'battery', paused: true },
      { reason: 'battery', paused: false },
    ])
  })

  it('applies a setting changed while on battery at once, both ways', async () => {
    const { power, calls } = controller({ onBattery: true, suspended: false })
    await power.setSettings({ pauseOnBattery: false })
    await power.setSettings({ pauseOnBattery: true })
    await power.setSettings({ pauseOnBattery: false })
    expect(calls).toEqual([
      { reason: 'battery', paused: true },
      { reason: 'battery', paused: false },
    ])
  })

  it('tells the core once however often the state is pushed', async () => {
    const { power, calls } = controller()
    await power.setSettings({ pauseOnBattery: true })
    await power.event('suspend')
    for (let i = 0; i < 5; i++) await power.setSettings({ pauseOnBattery: true })
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
    const settled = power.setSettings({ pauseOnBattery: true })
    const suspended = power.event('suspend')
    // The suspend call is under way; the machine wakes and unplugs before the core answers.
    while (gates.length === 0) await new Promise((resolve) => setImmediate(resolve))
    const resumed = power.event('resume')
    const unplugged = power.event('on-battery')
    while (gates.length > 0 || inFlight > 0) {
      gates.shift()?.()
      await new Promise((resolve) => setImmediate(resolve))
    }
    await Promise.all([settled, suspended, resumed, unplugged])
    expect(maxInFlight).toBe(1)
    expect(calls).toEqual([
      { reason: 'suspend', paused: true },
      { reason: 'suspend', paused: false },
      { reason: 'battery', paused: true },
    ])
  })

  it('skips changes that undo each other before the core is asked', async () => {
    const { power, calls } = controller()
    await power.setSettings({ pauseOnBattery: true })
    const a = power.event('on-battery')
    const b = power.event('on-ac')
    await Promise.all([a, b])
    expect(calls).toEqual([])
  })

  it('reports a failed call and retries it on the next push', async () => {
    const { power, calls, errors, failing } = controller()
    await power.setSettings({ pauseOnBattery: true })
    failing.add('suspend:true')
    await power.event('suspend')
    expect(errors).toEqual([{ reason: 'suspend', paused: true }])
    expect(calls).toEqual([])
    failing.clear()
    await power.setSettings({ pauseOnBattery: true })
    expect(calls).toEqual([{ reason: 'suspend', paused: true }])
  })

  it('always ends where the facts and settings say, whatever the sequence', async () => {
    const step = fc.oneof(
      fc.constantFrom(...POWER_EVENTS).map((event) => ({ event })),
      fc.boolean().map((pauseOnBattery) => ({ pauseOnBattery })),
    )
    await fc.assert(
      fc.asyncProperty(fc.boolean(), fc.array(step, { maxLength: 30 }), async (battery, steps) => {
        const { power, calls } = controller({ onBattery: battery, suspended: false })
        let facts: PowerFacts = { onBattery: battery, suspended: false }
        let settings = { pauseOnBattery: false }
        await power.setSettings(settings)
        for (const s of steps) {
          if ('event' in s) {
            facts = applyPowerEvent(facts, s.event)
            await power.event(s.event)
          } else {
            settings = s
            await power.setSettings(s)
          }
        }
        // Replaying the calls from no pauses gives the wanted pauses, and no call repeats the
        // value before it.
        const applied = { ...NO_PAUSES }
        for (const call of calls) {
          expect(applied[call.reason]).not.toBe(call.paused)
          applied[call.reason] = call.paused
        }
        expect(applied).toEqual(wantedPauses(facts, settings))
      }),
    )
  })
})
