import { describe, expect, it } from 'vitest'
import {
  decide,
  DEFAULT_HYSTERESIS,
  DEFAULT_RULES,
  INITIAL_MEMORY,
  type Decision,
  type PolicyMemory,
  type PolicyRules,
  type Readings,
  type Transition,
} from '../../../core/policy/index.js'

const RULES: PolicyRules = { ...DEFAULT_RULES, pauseOnBattery: false }
const MIN = 60_000
const T0 = Date.UTC(2026, 11, 2, 20, 0)

/** Readings at a time: the local clock follows `at` (UTC here), the rest as given. */
function at(ms: number, r: Partial<Readings> = {}): Readings {
  return { at: ms, minuteOfDay: Math.floor(ms / MIN) % 1440, ...r }
}

interface Run {
  decisions: Decision[]
  transitions: (Transition & { at: number })[]
  last: Decision
  memory: PolicyMemory
}

function run(rules: PolicyRules, readings: Readings[], memory = INITIAL_MEMORY): Run {
  const decisions: Decision[] = []
  const transitions: Run['transitions'] = []
  let m = memory
  for (const r of readings) {
    const out = decide(rules, m, r)
    m = out.memory
    decisions.push(out.decision)
    if (out.transition) transitions.push({ ...out.transition, at: r.at })
  }
  return { decisions, transitions, last: decisions.at(-1)!, memory: m }
}

/** Readings every `step` ms from `from` for `count` steps, each made by `f(t)`. */
function every(from: number, step: number, count: number, f: (t: number) => Partial<Readings>) {
  return Array.from({ length: count }, (_, i) => at(from + i * step, f(from + i * step)))
}

describe('the lender’s example: idle 10 minutes, never on battery below 40 %, quiet 09:00–18:00', () => {
  const rules: PolicyRules = {
    ...RULES,
    idleMinutes: 10,
    pauseOnBattery: true,
    minBatteryPercent: 40,
    quietHours: { from: '09:00', to: '18:00', mode: 'quiet' },
  }
  const idleAc = { idleSeconds: 900, onBattery: false }

  it.each<[string, Partial<Readings>, number, Decision['action'], string | undefined]>([
    ['evening, idle, plugged in', idleAc, 20 * 60, 'lend', undefined],
    ['in quiet hours', idleAc, 10 * 60, 'pause', 'quiet hours until 18:00'],
    ['at 18:00 quiet hours are over', idleAc, 18 * 60, 'lend', undefined],
    ['at 09:00 they begin', idleAc, 9 * 60, 'pause', 'quiet hours until 18:00'],
    ['in use', { ...idleAc, idleSeconds: 3 }, 20 * 60, 'pause', 'you are using this computer'],
    [
      'on battery below 40 %',
      { ...idleAc, onBattery: true, batteryPercent: 30 },
      20 * 60,
      'pause',
      'on battery at 30 %, below 40 %',
    ],
    [
      'on battery at 40 %',
      { ...idleAc, onBattery: true, batteryPercent: 40 },
      20 * 60,
      'lend',
      undefined,
    ],
    ['on battery, level unknown', { ...idleAc, onBattery: true }, 20 * 60, 'pause', 'on battery'],
  ])('%s → %s', (_name, readings, minute, action, because) => {
    // A rule's first reading decides at once: nothing to flap from.
    const { last } = run(rules, [{ at: T0, minuteOfDay: minute, ...readings }])
    expect(last.action).toBe(action)
    expect(last.because).toBe(because)
  })

  it('shows every rule’s state, holding ones saying why', () => {
    const { last } = run(rules, [
      { at: T0, minuteOfDay: 10 * 60, idleSeconds: 5, onBattery: true, batteryPercent: 80 },
    ])
    expect(last.reason).toBe('idle')
    expect(last.rules).toEqual([
      { rule: 'idle', status: 'holding', text: 'You are using this computer' },
      { rule: 'quiet-hours', status: 'holding', text: 'Quiet hours until 18:00' },
      { rule: 'battery', status: 'clear', text: 'On battery at 80 %, at least 40 %' },
      { rule: 'host-load', status: 'off', text: 'Lends however busy this computer is' },
    ])
  })
})

describe('the idle rule', () => {
  const rules: PolicyRules = { ...RULES, idleMinutes: 5 }
  const lending = at(T0, { idleSeconds: 600 })

  it('is not tripped by a one-second mouse touch', () => {
    // Idle for 10 minutes, then one touch at T0 + 10 s and nothing after it.
    const touch = T0 + 10_000
    const r = run(rules, [
      lending,
      ...every(T0 + 2000, 2000, 60, (t) => ({
        idleSeconds: t < touch ? 600 + (t - T0) / 1000 : (t - touch) / 1000,
      })),
    ])
    expect(r.transitions).toEqual([])
    expect(r.decisions.every((d) => d.action === 'lend')).toBe(true)
  })

  it('pauses once input keeps coming for 10 s, and says so', () => {
    const r = run(rules, [lending, ...every(T0 + 2000, 2000, 10, () => ({ idleSeconds: 0 }))])
    expect(r.transitions).toEqual([
      {
        from: 'lend',
        to: 'pause',
        reason: 'idle',
        text: 'Paused: you are using this computer',
        at: T0 + 12_000,
      },
    ])
    // Before it tripped, the rule said what it was waiting for.
    expect(r.decisions[1]!.rules[0]).toMatchObject({ rule: 'idle', status: 'pending' })
  })

  it('lends again after N idle minutes, in words', () => {
    const use = every(T0, 2000, 10, () => ({ idleSeconds: 0 }))
    const stop = T0 + 18_000
    const idle = every(stop + 30_000, 30_000, 12, (t) => ({ idleSeconds: (t - stop) / 1000 }))
    const r = run(rules, [...use, ...idle])
    expect(r.transitions.map((t) => t.text)).toEqual([
      'Paused: you are using this computer',
      'Lending again: idle for 5 minutes',
    ])
    // Exactly when five idle minutes had passed.
    expect(r.transitions[1]!.at).toBe(stop + 5 * MIN)
  })

  it('throttles instead when the lender chose that', () => {
    const r = run({ ...rules, whenInUse: 'throttle', throttlePercent: 30 }, [
      at(T0, { idleSeconds: 1 }),
    ])
    expect(r.last).toMatchObject({ action: 'throttle', reason: 'idle', cpuShare: 0.3 })
    expect(r.transitions[0]!.text).toBe('Throttled guests to 30 % CPU: you are using this computer')
  })

  it('keeps its state while idle time cannot be read, and says it cannot when never read', () => {
    const r = run(rules, [at(T0, { idleSeconds: 1 }), at(T0 + 5 * MIN + 1000, {})])
    expect(r.last.action).toBe('pause')
    const never = run(rules, [at(T0)])
    expect(never.last.action).toBe('lend')
    expect(never.last.rules[0]).toMatchObject({ status: 'unknown' })
  })
})

describe('quiet hours', () => {
  it.each<[string, string, string, string, boolean]>([
    // window, mode, clock, lends?
    ['22:00', '07:00', 'quiet', '23:30', false],
    ['22:00', '07:00', 'quiet', '06:59', false],
    ['22:00', '07:00', 'quiet', '07:00', true],
    ['22:00', '07:00', 'quiet', '21:59', true],
    ['22:00', '07:00', 'only', '23:30', true],
    ['22:00', '07:00', 'only', '00:00', true],
    ['22:00', '07:00', 'only', '12:00', false],
    ['09:00', '18:00', 'only', '09:00', true],
    ['09:00', '18:00', 'only', '18:00', false],
  ])('%s–%s %s at %s: lends=%s', (from, to, mode, clock, lends) => {
    const [h, m] = clock.split(':').map(Number) as [number, number]
    const rules: PolicyRules = {
      ...RULES,
      quietHours: { from, to, mode: mode as 'quiet' | 'only' },
    }
    const { last } = run(rules, [{ at: T0, minuteOfDay: h * 60 + m }])
    expect(last.action).toBe(lends ? 'lend' : 'pause')
  })

  it('begins after the trip time and ends after the release time, in words', () => {
    const rules: PolicyRules = {
      ...RULES,
      quietHours: { from: '22:00', to: '22:05', mode: 'quiet' },
    }
    const start = Date.UTC(2026, 11, 2, 21, 59)
    const r = run(
      rules,
      every(start, 5000, 12 * 20, () => ({})),
    )
    expect(r.transitions.map((t) => [t.text, new Date(t.at).toISOString()])).toEqual([
      ['Paused: quiet hours until 22:05', '2026-12-02T22:00:10.000Z'],
      ['Lending again: quiet hours are over', '2026-12-02T22:05:30.000Z'],
    ])
  })
})

describe('host load and hysteresis', () => {
  const rules: PolicyRules = { ...RULES, maxHostLoadPercent: 70 }

  it('ignores a short burst, pauses on a lasting one', () => {
    const burst = run(rules, [
      at(T0, { hostLoadPercent: 10 }),
      at(T0 + 2000, { hostLoadPercent: 95 }),
      at(T0 + 8000, { hostLoadPercent: 95 }),
      at(T0 + 11_000, { hostLoadPercent: 20 }),
      at(T0 + 13_000, { hostLoadPercent: 95 }),
    ])
    expect(burst.transitions).toEqual([])
    const lasting = run(
      rules,
      every(T0, 2000, 7, (t) => ({ hostLoadPercent: t === T0 ? 10 : 95 })),
    )
    expect(lasting.transitions).toEqual([
      {
        from: 'lend',
        to: 'pause',
        reason: 'host-load',
        text: 'Paused: this computer is busy (CPU 95 %, limit 70 %)',
        at: T0 + 12_000,
      },
    ])
  })

  it('holds a tripped rule for the minimum time, even when its condition clears at once', () => {
    const { minHoldMs } = DEFAULT_HYSTERESIS
    const tripped = run(rules, [at(T0, { hostLoadPercent: 95 })])
    expect(tripped.last.action).toBe('pause')
    const calm = every(T0 + 1000, 1000, 80, () => ({ hostLoadPercent: 5 }))
    const r = run(rules, calm, tripped.memory)
    expect(r.transitions).toEqual([
      {
        from: 'pause',
        to: 'lend',
        text: 'Lending again: this computer is no longer busy',
        at: T0 + minHoldMs,
      },
    ])
    expect(r.decisions[10]!.rules[3]).toMatchObject({ status: 'releasing' })
  })

  it('does not release while another rule is building up', () => {
    const both: PolicyRules = { ...rules, idleMinutes: 5 }
    const tripped = run(both, [at(T0, { hostLoadPercent: 95, idleSeconds: 900 })])
    // Load falls, but someone starts touching the machine as the hold would end.
    const r = run(
      both,
      every(T0 + 2000, 2000, 40, (t) => ({
        hostLoadPercent: 5,
        idleSeconds: t >= T0 + 55_000 ? 0 : 900 + (t - T0) / 1000,
      })),
      tripped.memory,
    )
    // The idle rule trips (in use) before the load rule could let go: no resume in between.
    expect(r.transitions).toEqual([])
    expect(r.last).toMatchObject({ action: 'pause', reason: 'idle' })
  })

  it('lends at once when the holding rule is turned off', () => {
    const tripped = run(rules, [at(T0, { hostLoadPercent: 95 })])
    const r = run(
      { ...rules, maxHostLoadPercent: 0 },
      [at(T0 + 1000, { hostLoadPercent: 95 })],
      tripped.memory,
    )
    expect(r.transitions[0]).toMatchObject({
      to: 'lend',
      text: 'Lending again: the rule was turned off',
    })
  })

  it('decides afresh when a rule’s setting changes', () => {
    const tripped = run(rules, [at(T0, { hostLoadPercent: 80 })])
    const r = run(
      { ...rules, maxHostLoadPercent: 90 },
      [at(T0 + 1000, { hostLoadPercent: 80 })],
      tripped.memory,
    )
    expect(r.last.action).toBe('lend')
  })
})

describe('battery', () => {
  it('pauses on battery when asked, and lends when plugged in again after the hold', () => {
    const rules: PolicyRules = { ...RULES, pauseOnBattery: true }
    const r = run(rules, [
      at(T0, { onBattery: false }),
      ...every(T0 + 1000, 1000, 15, () => ({ onBattery: true, batteryPercent: 90 })),
      ...every(T0 + 16_000, 1000, 90, () => ({ onBattery: false })),
    ])
    expect(r.transitions.map((t) => [t.text, t.at - T0])).toEqual([
      ['Paused: on battery', 11_000],
      ['Lending again: plugged in', 11_000 + 60_000],
    ])
  })

  it('is off without pauseOnBattery', () => {
    const { last } = run(RULES, [at(T0, { onBattery: true, batteryPercent: 5 })])
    expect(last.action).toBe('lend')
    expect(last.rules[2]).toEqual({ rule: 'battery', status: 'off', text: 'Lends on battery too' })
  })
})
