// The agreement simulation (bench/agreement/sim.ts) is only worth its numbers if it runs the core
// faithfully: at (almost) zero delay every meshlet must decide every round as a view holding every
// record would, a run must repeat exactly from its seed, and the plans it skips as provably
// changing nothing must indeed change nothing.
import { describe, expect, it } from 'vitest'
import { DELAYS, simulate, type DelayModel, type SimOptions } from '../../bench/agreement/sim.js'

const instant: DelayModel = { name: 'instant', medianMs: 1, sigma: 0, lost: 0, backfillMs: [0, 0] }

const small: SimOptions = {
  meshlets: 8,
  delay: instant,
  seed: 3,
  durationMs: 90_000,
  arrivalsPerMinute: 2,
  burst: { at: 10_000, count: 4 },
  crashes: 1,
}

describe('the agreement simulation', () => {
  it('agrees at once when records arrive at once, and places every replica', () => {
    const r = simulate(small)
    expect(r.rounds.length).toBeGreaterThan(3)
    expect(r.rounds.filter((x) => x.disagreeing > 0 || x.phantom)).toEqual([])
    expect(r.doubled).toEqual([])
    expect(r.yielded).toBe(0)
    expect(r.maxOfferUse).toBeLessThanOrEqual(1)
    expect(r.placedAfterMs.every((t) => Number.isFinite(t))).toBe(true)
    // The killed host's replicas ran elsewhere.
    expect(r.replacedAfterMs.length).toBeGreaterThan(0)
  })

  it('repeats exactly from its seed', () => {
    const opts = { ...small, delay: DELAYS[2]!, trace: true }
    const a = simulate(opts)
    const b = simulate(opts)
    expect(b.trace).toEqual(a.trace)
    expect(b.rounds).toEqual(a.rounds)
  })

  it('acts alike whether or not it skips the plans a record cannot change', () => {
    for (const delay of [DELAYS[1]!, DELAYS[3]!]) {
      const opts = { ...small, delay, trace: true }
      const skipping = simulate({ ...opts, skipNoops: true })
      const every = simulate({ ...opts, skipNoops: false })
      expect(skipping.trace.length).toBeGreaterThan(0)
      expect(skipping.trace).toEqual(every.trace)
      expect(skipping.plans).toBeLessThan(every.plans)
    }
  })
})
