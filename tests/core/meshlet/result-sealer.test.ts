// The retries of a sealed result as pure logic, on a fake clock: how many tries, how far apart,
// which failures are worth another try, and that nothing goes past the deadline. The sealer
// against a real PDS and Docker is in result-sealer-pds.test.ts.
import { describe, expect, it } from 'vitest'
import {
  RESULT_RETRY,
  ResultTimeoutError,
  retryable,
  retrying,
  type RetryPlan,
} from '../../../core/meshlet/result-sealer.js'

/** A clock that moves only when slept on: every sleep returns at once, having moved it. */
function fakeClock() {
  const clock = { t: 1_000_000, slept: [] as number[] }
  return {
    clock,
    now: () => clock.t,
    sleep: (ms: number) => {
      clock.slept.push(ms)
      clock.t += ms
      return Promise.resolve()
    },
  }
}

function httpError(status: number): Error {
  return new Error('write failed', {
    cause: Object.assign(new Error(`HTTP ${status}`), { status }),
  })
}

const PLAN: RetryPlan = { delaysMs: [2_000, 6_000], deadlineMs: 20_000 }

describe('retrying', () => {
  it('returns the first success without waiting', async () => {
    const { clock, now, sleep } = fakeClock()
    const tries: number[] = []
    const got = await retrying(
      (n) => {
        tries.push(n)
        return Promise.resolve('ok')
      },
      { plan: PLAN, deadline: now() + PLAN.deadlineMs, now, sleep },
    )
    expect(got).toBe('ok')
    expect(tries).toEqual([1])
    // Only the (abandoned) deadline timer of the one try was asked for.
    expect(clock.slept.filter((ms) => ms === 2_000 || ms === 6_000)).toEqual([])
  })

  it('tries again after each delay of the plan, telling why, until one succeeds', async () => {
    const { now, sleep } = fakeClock()
    const retries: [string, number, number][] = []
    let calls = 0
    const got = await retrying(
      () => (++calls < 3 ? Promise.reject(httpError(429)) : Promise.resolve(calls)),
      {
        plan: PLAN,
        deadline: now() + PLAN.deadlineMs,
        now,
        // The deadline timers of the tries race with the work; the work here answers first.
        sleep: (ms) => (ms >= 10_000 ? new Promise(() => undefined) : sleep(ms)),
        onRetry: (err, n, ms) => retries.push([err.message, n, ms]),
      },
    )
    expect(got).toBe(3)
    expect(retries).toEqual([
      ['write failed', 1, 2_000],
      ['write failed', 2, 6_000],
    ])
  })

  it('gives up after the plan’s tries with the last failure', async () => {
    const { now, sleep } = fakeClock()
    let calls = 0
    const attempt = () => Promise.reject(new Error(`unreachable ${++calls}`))
    await expect(
      retrying(attempt, {
        plan: PLAN,
        deadline: now() + PLAN.deadlineMs,
        now,
        sleep: (ms) => (ms >= 10_000 ? new Promise(() => undefined) : sleep(ms)),
      }),
    ).rejects.toThrow('unreachable 3')
    expect(calls).toBe(3)
  })

  it('does not try again when the next try could not start before the deadline', async () => {
    const { now, sleep } = fakeClock()
    let calls = 0
    await expect(
      retrying(() => Promise.reject(new Error(`down ${++calls}`)), {
        plan: PLAN,
        // 2 s, then 6 s: the second wait would end past 5 s.
        deadline: now() + 5_000,
        now,
        sleep: (ms) => (ms >= 3_000 ? new Promise(() => undefined) : sleep(ms)),
      }),
    ).rejects.toThrow('down 2')
    expect(calls).toBe(2)
  })

  it('does not try again what the PDS refused for what it is', async () => {
    const { now } = fakeClock()
    let calls = 0
    await expect(
      retrying(
        () => {
          calls++
          return Promise.reject(httpError(400))
        },
        { plan: PLAN, deadline: now() + PLAN.deadlineMs, now, sleep: () => new Promise(() => {}) },
      ),
    ).rejects.toThrow('write failed')
    expect(calls).toBe(1)
  })

  it('gives a try that never answers up at the deadline, and does not try again', async () => {
    const { now, sleep } = fakeClock()
    let calls = 0
    await expect(
      retrying(
        () => {
          calls++
          return new Promise<never>(() => undefined)
        },
        { plan: PLAN, deadline: now() + PLAN.deadlineMs, now, sleep },
      ),
    ).rejects.toBeInstanceOf(ResultTimeoutError)
    expect(calls).toBe(1)
  })
})

describe('retryable', () => {
  it.each<[string, unknown, boolean]>([
    ['no answer (network)', new Error('fetch failed'), true],
    ['429', httpError(429), true],
    ['408', httpError(408), true],
    ['500', httpError(500), true],
    ['503', httpError(503), true],
    ['400', httpError(400), false],
    ['401', httpError(401), false],
    ['413 (too large)', httpError(413), false],
    ['the deadline', new ResultTimeoutError('no answer within 20 s'), false],
    ['not an Error', 'boom', true],
  ])('%s: %s', (_name, err, expected) => {
    expect(retryable(err)).toBe(expected)
  })
})

describe('RESULT_RETRY', () => {
  it('fits its retries inside its deadline', () => {
    const waits = RESULT_RETRY.delaysMs.reduce((a, b) => a + b, 0)
    expect(RESULT_RETRY.delaysMs.length).toBe(2)
    expect(waits).toBeLessThan(RESULT_RETRY.deadlineMs)
  })
})
