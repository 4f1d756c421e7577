import { describe, expect, it } from 'vitest'
import { EngineAvailability } from '../../../core/runtime/availability.js'

describe('EngineAvailability', () => {
  it('is unknown first, and a first "available" is not news', () => {
    const e = new EngineAvailability()
    expect(e.available).toBeUndefined()
    expect(e.detail).toBeUndefined()
    expect(e.set(true)).toBeUndefined()
    expect(e.available).toBe(true)
  })

  it('reports going away once, with the innermost cause, and coming back once', () => {
    const e = new EngineAvailability()
    e.set(true)
    const cause = new Error('Docker engine unavailable during watch', {
      cause: new Error('connect ENOENT /var/run/docker.sock'),
    })
    expect(e.set(false, cause)).toEqual({
      available: false,
      because: 'connect ENOENT /var/run/docker.sock',
    })
    expect(e.detail).toBe(
      'Docker is not reachable (connect ENOENT /var/run/docker.sock). Not lending until it is back; retrying.',
    )
    // Another failure while away is no news, but the sentence follows the latest cause.
    expect(e.set(false, new Error('connect ECONNREFUSED'))).toBeUndefined()
    expect(e.detail).toContain('ECONNREFUSED')
    expect(e.set(true)).toEqual({ available: true })
    expect(e.detail).toBeUndefined()
    expect(e.set(true)).toBeUndefined()
  })

  it('says so when away from the start, even without a cause', () => {
    const e = new EngineAvailability()
    expect(e.set(false)).toEqual({ available: false })
    expect(e.detail).toBe('Docker is not reachable. Not lending until it is back; retrying.')
  })
})
