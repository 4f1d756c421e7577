import { describe, expect, it } from 'vitest'
import { throttledMillis } from '../../../core/policy/throttle.js'

describe('throttledMillis', () => {
  it.each([
    [1000, 1, 1000],
    [1000, 0.25, 250],
    [800, 0.3, 240],
    // Docker's floor: 0.01 CPU.
    [20, 0.25, 10],
    [10, 0.05, 10],
    // Never above what was asked, even for a tiny guest.
    [8, 0.5, 8],
  ])('%i millicores at %f → %i', (asked, share, want) => {
    expect(throttledMillis(asked, share)).toBe(want)
  })
})
