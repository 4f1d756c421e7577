// Which replicas `meshlet status` and the dashboard count as running: by the host's liveness rule.
import { describe, expect, it } from 'vitest'
import { DEFAULT_CONFIG } from '../../core/scheduling/index.js'
import { freshRunning } from '../../core/status.js'

const T0 = Date.parse('2026-12-01T12:00:00.000Z')
const running = { state: 'running', updatedAt: new Date(T0).toISOString() }
const { lostAfterMs, challengeLostAfterMs } = DEFAULT_CONFIG

describe('freshRunning', () => {
  it('counts a replica while its status or listing presence is within lostAfter', () => {
    expect(freshRunning([running], T0 + lostAfterMs, DEFAULT_CONFIG)).toBe(1)
    expect(freshRunning([running], T0 + lostAfterMs + 1, DEFAULT_CONFIG)).toBe(0)
    const listed = { ...running, seenAt: T0 + 10_000 }
    expect(freshRunning([listed], T0 + 10_000 + lostAfterMs, DEFAULT_CONFIG)).toBe(1)
  })

  it('applies a challenge host’s long lostAfter, and a challenge’s deadline', () => {
    const listed = { ...running, seenAt: T0, lostAfterMs: challengeLostAfterMs }
    expect(freshRunning([listed], T0 + challengeLostAfterMs, DEFAULT_CONFIG)).toBe(1)
    expect(freshRunning([listed], T0 + challengeLostAfterMs + 1, DEFAULT_CONFIG)).toBe(0)
    const challenged = { ...listed, answerBy: T0 + 60_000 }
    expect(freshRunning([challenged], T0 + 60_000, DEFAULT_CONFIG)).toBe(1)
    expect(freshRunning([challenged], T0 + 60_001, DEFAULT_CONFIG)).toBe(0)
  })

  it('ignores the host’s rule for a replica its presence does not list', () => {
    const unlisted = { ...running, seenAt: Number.NaN, lostAfterMs: challengeLostAfterMs }
    expect(freshRunning([unlisted], T0 + lostAfterMs + 1, DEFAULT_CONFIG)).toBe(0)
  })
})
