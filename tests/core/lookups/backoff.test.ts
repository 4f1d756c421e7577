import { describe, expect, it } from 'vitest'
import { DEFAULT_LOOKUP_BACKOFF, LookupBackoff } from '../../../core/lookups/index.js'

const T0 = 1_000_000

describe('LookupBackoff', () => {
  it('waits 5 s after the first failure, doubling to at most 5 min (not every 5 s)', () => {
    const b = new LookupBackoff()
    expect(DEFAULT_LOOKUP_BACKOFF).toEqual({ firstMs: 5_000, maxMs: 300_000 })
    const delays: number[] = []
    let now = T0
    for (let i = 0; i < 9; i += 1) {
      expect(b.due('did:plc:bogus', now)).toBe(true)
      const d = b.failed('did:plc:bogus', now)
      delays.push(d)
      expect(b.due('did:plc:bogus', now + d - 1)).toBe(false)
      now += d
    }
    expect(delays).toEqual([5e3, 10e3, 20e3, 40e3, 80e3, 160e3, 300e3, 300e3, 300e3])
    expect(b.failures('did:plc:bogus')).toBe(9)
    // An hour of a DID that never resolves: 17 attempts instead of 720 at a fixed 5 s.
    let attempts = 0
    const c = new LookupBackoff()
    for (let t = T0; t < T0 + 3_600_000; t += 1000) {
      if (c.due('x', t)) {
        attempts += 1
        c.failed('x', t)
      }
    }
    expect(attempts).toBe(17)
  })

  it('a success clears the back-off', () => {
    const b = new LookupBackoff({ firstMs: 100 })
    b.failed('a', T0)
    b.failed('a', T0 + 100)
    b.succeeded('a')
    expect(b.failures('a')).toBe(0)
    expect(b.due('a', T0 + 101)).toBe(true)
    expect(b.failed('a', T0 + 101)).toBe(100)
  })

  it('forgets what nothing names any more, and says what it forgot', () => {
    const b = new LookupBackoff()
    b.failed('gone', T0)
    b.failed('kept', T0 + 1)
    expect(b.nextRetryAt()).toBe(T0 + 5_000)
    expect(b.retain(new Set(['kept', 'other']))).toEqual(['gone'])
    expect(b.nextRetryAt()).toBe(T0 + 5_001)
    expect(b.retain(new Set())).toEqual(['kept'])
    expect(b.nextRetryAt()).toBeUndefined()
  })

  it('keeps its bounds sane whatever it is given', () => {
    const b = new LookupBackoff({ firstMs: 0, maxMs: -5 })
    expect(b.failed('a', T0)).toBe(1)
    expect(b.failed('a', T0)).toBe(1)
    const big = new LookupBackoff({ firstMs: 1000, maxMs: 60_000 })
    for (let i = 0; i < 100; i += 1) big.failed('a', T0)
    expect(big.failed('a', T0)).toBe(60_000)
  })
})
