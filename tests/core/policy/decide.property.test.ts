// No flapping, for any rules and any sequence of readings: lending never turns back within less
// than the hysteresis allows, and a condition that lasts always takes effect.
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import {
  decide,
  DEFAULT_HYSTERESIS,
  INITIAL_MEMORY,
  type PolicyAction,
  type PolicyRules,
  type Readings,
} from '../../../core/policy/index.js'

const MIN = 60_000
const RANK: Record<PolicyAction, number> = { lend: 0, throttle: 1, pause: 2 }
const H = DEFAULT_HYSTERESIS
/** The shortest a decision may stand before it is reversed: a hold lasts the minimum hold time;
 *  lending, once resumed, lasts at least the trip time. */
const MIN_HOLD = H.minHoldMs
const MIN_LEND = Math.min(H.tripAfterMs, H.inUseAfterMs)

const clock = fc
  .tuple(fc.integer({ min: 0, max: 23 }), fc.integer({ min: 0, max: 59 }))
  .map(([h, m]) => `${String(h).padStart(2, '0')}:${String(m).padStart(2, '0')}`)

const rulesArb: fc.Arbitrary<PolicyRules> = fc.record({
  idleMinutes: fc.oneof(fc.constant(0), fc.integer({ min: 1, max: 15 })),
  whenInUse: fc.constantFrom('pause' as const, 'throttle' as const),
  throttlePercent: fc.integer({ min: 5, max: 90 }),
  pauseOnBattery: fc.boolean(),
  minBatteryPercent: fc.integer({ min: 0, max: 100 }),
  quietHours: fc.option(
    fc
      .record({ from: clock, to: clock, mode: fc.constantFrom('quiet' as const, 'only' as const) })
      .filter((q) => q.from !== q.to),
    { nil: null },
  ),
  maxHostLoadPercent: fc.oneof(fc.constant(0), fc.integer({ min: 1, max: 100 })),
})

interface Step {
  dt: number
  input: boolean
  onBattery: boolean | undefined
  battery: number | undefined
  load: number | undefined
  idleKnown: boolean
  /** Most steps keep the previous battery and load, so conditions last a while. */
  keep: boolean
}

/** Steps of a few hundred ms to a few minutes; readings sometimes missing. Keyboard input
 *  happens at the step's time when `input`. */
const stepArb: fc.Arbitrary<Step> = fc.record({
  dt: fc.oneof(
    fc.integer({ min: 100, max: 3000 }),
    fc.integer({ min: 3000, max: 40_000 }),
    fc.integer({ min: 40_000, max: 10 * MIN }),
  ),
  input: fc.boolean(),
  onBattery: fc.option(fc.boolean(), { nil: undefined, freq: 10 }),
  battery: fc.option(fc.integer({ min: 0, max: 100 }), { nil: undefined, freq: 10 }),
  load: fc.option(fc.integer({ min: 0, max: 100 }), { nil: undefined, freq: 10 }),
  idleKnown: fc.integer({ min: 0, max: 9 }).map((n) => n > 0),
  keep: fc.integer({ min: 0, max: 9 }).map((n) => n > 1),
})

/** Turns steps into readings consistent with one timeline of input; the first reading has
 *  every field, so every enabled rule has been read once (its first reading decides at once). */
function readingsOf(start: number, steps: Step[]): Readings[] {
  let t = start
  let lastInput = start - 3600_000
  let prev: Step | undefined
  return steps.map((step, i) => {
    const s = prev && step.keep ? { ...prev, dt: step.dt, input: step.input } : step
    prev = s
    t += s.dt
    if (s.input) lastInput = t
    const first = i === 0
    const r: Readings = { at: t, minuteOfDay: Math.floor(t / MIN) % 1440 }
    if (first || s.idleKnown) r.idleSeconds = (t - lastInput) / 1000
    const onBattery = first ? (s.onBattery ?? false) : s.onBattery
    if (onBattery !== undefined) r.onBattery = onBattery
    const battery = first ? (s.battery ?? 50) : s.battery
    if (battery !== undefined) r.batteryPercent = battery
    const load = first ? (s.load ?? 0) : s.load
    if (load !== undefined) r.hostLoadPercent = load
    return r
  })
}

const startArb = fc.integer({ min: Date.UTC(2026, 0, 1), max: Date.UTC(2027, 0, 1) })

describe('the policy never flaps', () => {
  it('a change of direction waits for the hysteresis', () => {
    fc.assert(
      fc.property(
        rulesArb,
        startArb,
        fc.array(stepArb, { minLength: 2, maxLength: 300 }),
        (rules, start, steps) => {
          let memory = INITIAL_MEMORY
          let last: { at: number; up: boolean } | undefined
          for (const r of readingsOf(start, steps)) {
            const out = decide(rules, memory, r)
            memory = out.memory
            const t = out.transition
            if (!t) continue
            const up = RANK[t.to] > RANK[t.from]
            if (last && last.up !== up) {
              expect(r.at - last.at).toBeGreaterThanOrEqual(last.up ? MIN_HOLD : MIN_LEND)
            }
            last = { at: r.at, up }
          }
        },
      ),
      { numRuns: 300 },
    )
  })

  it('the decision is always the strongest rule holding, and named', () => {
    fc.assert(
      fc.property(
        rulesArb,
        startArb,
        fc.array(stepArb, { minLength: 1, maxLength: 100 }),
        (rules, start, steps) => {
          let memory = INITIAL_MEMORY
          for (const r of readingsOf(start, steps)) {
            const { decision, memory: next } = decide(rules, memory, r)
            memory = next
            const holding = decision.rules.filter(
              (v) => v.status === 'holding' || v.status === 'releasing',
            )
            if (decision.action === 'lend') {
              expect(holding).toEqual([])
              expect(decision.cpuShare).toBe(1)
            } else {
              expect(holding.map((v) => v.rule)).toContain(decision.reason)
              expect(decision.because).toBeTruthy()
            }
            if (decision.action === 'throttle') {
              expect(decision.cpuShare).toBe(rules.throttlePercent / 100)
            }
          }
        },
      ),
      { numRuns: 200 },
    )
  })

  it('a condition that lasts takes effect: on battery or busy for the trip time', () => {
    fc.assert(
      fc.property(
        rulesArb,
        startArb,
        fc.array(stepArb, { minLength: 1, maxLength: 200 }),
        (rules, start, steps) => {
          let memory = INITIAL_MEMORY
          // Since when each condition has held, by the readings; and the last change of action,
          // after which nothing trips sooner than the trip time.
          const since: Record<string, number | undefined> = {}
          let changed = -Infinity
          for (const r of readingsOf(start, steps)) {
            const { decision, memory: next, transition } = decide(rules, memory, r)
            memory = next
            if (transition) changed = r.at
            const conds: Record<string, boolean | undefined> = {
              battery:
                !rules.pauseOnBattery || r.onBattery === undefined
                  ? undefined
                  : r.onBattery &&
                    (rules.minBatteryPercent === 0 ||
                      r.batteryPercent === undefined ||
                      r.batteryPercent < rules.minBatteryPercent),
              'host-load':
                rules.maxHostLoadPercent === 0 || r.hostLoadPercent === undefined
                  ? undefined
                  : r.hostLoadPercent > rules.maxHostLoadPercent,
            }
            for (const [rule, c] of Object.entries(conds)) {
              if (c === undefined) continue
              if (!c) since[rule] = undefined
              else since[rule] ??= r.at
              if (c && r.at - Math.max(since[rule]!, changed) >= H.tripAfterMs) {
                expect(decision.action).toBe('pause')
              }
            }
          }
        },
      ),
      { numRuns: 200 },
    )
  })

  it('isolated touches never stop lending on an idle machine', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 15 }),
        fc.array(fc.integer({ min: H.inUseGapMs + 1, max: 3 * MIN }), { maxLength: 20 }),
        (idleMinutes, gaps) => {
          const rules: PolicyRules = {
            idleMinutes,
            whenInUse: 'pause',
            throttlePercent: 25,
            pauseOnBattery: false,
            minBatteryPercent: 0,
            quietHours: null,
            maxHostLoadPercent: 0,
          }
          const t0 = Date.UTC(2026, 5, 1)
          // One touch after each gap, sampled every 2 s.
          const touches = gaps.reduce<number[]>((acc, g) => [...acc, (acc.at(-1) ?? t0) + g], [])
          let memory = decide(rules, INITIAL_MEMORY, {
            at: t0,
            minuteOfDay: 0,
            idleSeconds: idleMinutes * 60,
          }).memory
          let lastInput = t0 - idleMinutes * MIN
          let i = 0
          for (let t = t0 + 2000; t <= (touches.at(-1) ?? t0) + 4000; t += 2000) {
            while (i < touches.length && touches[i]! <= t) lastInput = touches[i++]!
            const out = decide(rules, memory, {
              at: t,
              minuteOfDay: 0,
              idleSeconds: (t - lastInput) / 1000,
            })
            memory = out.memory
            expect(out.decision.action).toBe('lend')
          }
        },
      ),
      { numRuns: 100 },
    )
  })
})
