// The local clock quiet hours are read on: the system's zone through Date (no Intl formatter, whose
// locale data an idle daemon would keep), a named zone through Intl; both must agree.
import { afterEach, describe, expect, it } from 'vitest'
import { minuteOfDay } from '../../../core/policy/rules.js'

const TZ = process.env.TZ

afterEach(() => {
  if (TZ === undefined) delete process.env.TZ
  else process.env.TZ = TZ
})

describe('minuteOfDay', () => {
  it('reads the system zone as the same zone named, in zones off the whole hour and with DST', () => {
    const times = [
      0,
      1_700_000_000_000,
      1_719_000_000_000 + 37 * 60_000,
      Date.UTC(2026, 2, 29, 1, 30),
    ]
    for (const zone of ['Asia/Kolkata', 'Europe/Berlin', 'America/St_Johns', 'UTC']) {
      process.env.TZ = zone // Node resets its zone when TZ is set
      for (const at of times) expect(minuteOfDay(at), `${zone} ${at}`).toBe(minuteOfDay(at, zone))
    }
    process.env.TZ = 'Asia/Kolkata'
    expect(minuteOfDay(0)).toBe(5 * 60 + 30)
  })
})
