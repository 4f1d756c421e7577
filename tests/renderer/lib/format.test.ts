// Units and times for people: records count millicores, MiB and milli-units (DESIGN §1), and every
// screen shows them through these functions, so they must agree on rounding, plurals and signs.
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import {
  coresNumber,
  displayName,
  formatAxisUnits,
  formatCores,
  formatDateTime,
  formatDuration,
  formatGiB,
  formatHalfLife,
  formatMemory,
  formatRelative,
  formatShortDateTime,
  formatSignedUnits,
  formatTime,
  formatUnits,
  formatWhen,
  gibNumber,
  shortDid,
} from '../../../renderer/src/lib/format.js'

const MINUS = '\u2212'
const SECOND = 1000
const MINUTE = 60 * SECOND
const HOUR = 60 * MINUTE
const DAY = 24 * HOUR

describe('cores', () => {
  it.each([
    [0, '0 cores'],
    [500, '0.5 cores'],
    [1000, '1 core'],
    [2250, '2.25 cores'],
    [999, '1 core'],
    [1004, '1 core'],
    [1005, '1.01 cores'],
    [8000, '8 cores'],
    [1_024_000, '1,024 cores'],
  ])('formatCores(%i) is %s', (millis, text) => {
    expect(formatCores(millis)).toBe(text)
  })

  it('rounds to two decimals and keeps no padding zeros', () => {
    expect(coresNumber(2500)).toBe('2.5')
    expect(coresNumber(1234)).toBe('1.23')
    expect(coresNumber(1)).toBe('0')
  })

  it('says "core" exactly when the number it shows is 1', () => {
    const check = (millis: number) => {
      const [number, unit] = formatCores(millis).split(' ')
      expect(number).toBe(coresNumber(millis))
      expect(unit).toBe(number === '1' ? 'core' : 'cores')
    }
    // Every value up to 1.1 cores, where rounding meets the plural, then samples of the rest.
    for (let millis = 0; millis <= 1100; millis++) check(millis)
    fc.assert(fc.property(fc.integer({ min: 0, max: 1_024_000 }), check))
  })
})

describe('memory', () => {
  it.each([
    [0, '0'],
    [256, '0.25'],
    [512, '0.5'],
    [1024, '1'],
    [1536, '1.5'],
    [16_384, '16'],
    [4_194_304, '4,096'],
  ])('gibNumber(%i) is %s', (mib, text) => {
    expect(gibNumber(mib)).toBe(text)
  })

  it('keeps two decimals below 1 GiB, where one would lose a small guest', () => {
    expect(gibNumber(256)).toBe('0.25')
    expect(gibNumber(1100)).toBe('1.1')
    expect(formatGiB(6144)).toBe('6 GiB')
  })

  it('shows MiB below 1 GiB and GiB from there on', () => {
    expect(formatMemory(6)).toBe('6 MiB')
    expect(formatMemory(256)).toBe('256 MiB')
    expect(formatMemory(1023)).toBe('1,023 MiB')
    expect(formatMemory(1024)).toBe('1 GiB')
    expect(formatMemory(2560)).toBe('2.5 GiB')
  })

  it('never shows a zero for memory that is not zero', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 4_194_304 }), (mib) => {
        expect(formatMemory(mib)).not.toMatch(/^0(\.0+)? /)
      }),
    )
  })
})

describe('units', () => {
  it.each([
    [12_345, '12.35'],
    [1000, '1.0'],
    [0, '0.0'],
    [-1500, '-1.5'],
    [1_234_567, '1,234.57'],
    // Below one unit, to the ledger's resolution: a short run shows.
    [4, '0.004'],
    [10, '0.01'],
    [999, '0.999'],
    [-7, '-0.007'],
  ])('formatUnits(%i) is %s', (milli, text) => {
    expect(formatUnits(milli)).toBe(text)
  })

  it.each([
    [6310, '+6.31'],
    [-3150, `${MINUS}3.15`],
    [0, '0.0'],
    [4, '+0.004'],
    [-4, `${MINUS}0.004`],
    [1, '+0.001'],
    [10, '+0.01'],
    [-10, `${MINUS}0.01`],
    [1005, '+1.01'],
  ])('formatSignedUnits(%i) is %s', (milli, text) => {
    expect(formatSignedUnits(milli)).toBe(text)
  })

  it('signs a balance exactly when the amount it shows is not zero, with the balance’s sign', () => {
    const check = (milli: number) => {
      const text = formatSignedUnits(milli)
      const magnitude = formatUnits(Math.abs(milli))
      if (magnitude === '0.0') expect(text).toBe('0.0')
      else expect(text).toBe(`${milli > 0 ? '+' : MINUS}${magnitude}`)
    }
    // Every value near zero, where rounding meets the sign, then samples of the rest.
    for (let milli = -1000; milli <= 1000; milli++) check(milli)
    fc.assert(fc.property(fc.integer({ min: -10_000_000, max: 10_000_000 }), check))
  })

  it('labels an axis without padding zeros, with a real minus sign', () => {
    expect(formatAxisUnits(2000)).toBe('2')
    expect(formatAxisUnits(2500)).toBe('2.5')
    expect(formatAxisUnits(-2500)).toBe(`${MINUS}2.5`)
    expect(formatAxisUnits(0)).toBe('0')
    expect(formatAxisUnits(2)).toBe('0.002')
    expect(formatAxisUnits(-5)).toBe(`${MINUS}0.005`)
  })
})

describe('durations', () => {
  it.each([
    [0, '0s'],
    [999, '0s'],
    [59_999, '59s'],
    [MINUTE, '1m 0s'],
    [3_725_000, '1h 2m 5s'],
    [DAY - 1, '23h 59m 59s'],
    [DAY, '1d 0h 0m'],
    [DAY + HOUR + MINUTE + SECOND, '1d 1h 1m'],
    [-5000, '0s'],
  ])('formatDuration(%i) is %s', (ms, text) => {
    expect(formatDuration(ms)).toBe(text)
  })

  it('reads back as the whole seconds it was given (to the minute once past a day)', () => {
    const UNIT: Record<string, number> = { d: 86_400, h: 3600, m: 60, s: 1 }
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 400 * DAY }), (ms) => {
        const text = formatDuration(ms)
        const seconds = text
          .split(' ')
          .map((part) => /^(\d+)([dhms])$/.exec(part))
          .reduce((sum, m) => {
            expect(m).not.toBeNull()
            return sum + Number(m![1]) * UNIT[m![2]!]!
          }, 0)
        const whole = Math.floor(ms / 1000)
        if (ms < DAY) expect(seconds).toBe(whole)
        else expect(whole - seconds).toBeGreaterThanOrEqual(0)
        if (ms >= DAY) expect(whole - seconds).toBeLessThan(60)
      }),
    )
  })

  it.each([
    [7 * DAY, '7 days'],
    [DAY, '1 day'],
    [12 * HOUR, '12 hours'],
    [36 * HOUR, '36 hours'],
    [1.5 * HOUR, '1.5 hours'],
    [HOUR, '1 hour'],
    [30 * MINUTE, '30 minutes'],
  ])('formatHalfLife(%i) is %s', (ms, text) => {
    expect(formatHalfLife(ms)).toBe(text)
  })
})

describe('relative times', () => {
  const now = Date.parse('2025-06-15T12:00:00.000Z')
  const at = (offset: number) => new Date(now + offset).toISOString()

  it.each([
    [0, 'just now'],
    [-9 * SECOND, 'just now'],
    [9 * SECOND, 'just now'],
    [-30 * SECOND, '30 seconds ago'],
    [-5 * MINUTE, '5 minutes ago'],
    [-HOUR, '1 hour ago'],
    [-3 * HOUR, '3 hours ago'],
    [-DAY, 'yesterday'],
    [DAY, 'tomorrow'],
    [-3 * DAY, '3 days ago'],
    [2 * HOUR, 'in 2 hours'],
  ])('%i ms from now is "%s"', (offset, text) => {
    expect(formatRelative(at(offset), now)).toBe(text)
  })

  it('moves to the next unit where the smaller one would read 60 or 24', () => {
    expect(formatRelative(at(-59.6 * SECOND), now)).toBe('1 minute ago')
    expect(formatRelative(at(-59 * MINUTE), now)).toBe('59 minutes ago')
    expect(formatRelative(at(-23 * HOUR), now)).toBe('23 hours ago')
  })

  it('passes through a time it cannot read rather than inventing one', () => {
    for (const text of ['', 'soon', '2025-13-45']) {
      expect(formatRelative(text, now)).toBe(text)
      expect(formatDateTime(text)).toBe(text)
      expect(formatShortDateTime(text)).toBe(text)
      expect(formatWhen(text, now)).toBe(text)
    }
  })

  it('says "ago" for every past time past ten seconds and "in" for every future one', () => {
    fc.assert(
      fc.property(fc.integer({ min: 10 * SECOND, max: 1000 * DAY }), (ms) => {
        expect(formatRelative(at(-ms), now)).toMatch(/ ago$|^yesterday$/)
        expect(formatRelative(at(ms), now)).toMatch(/^in |^tomorrow$/)
      }),
    )
  })
})

describe('clock times and dates', () => {
  // Local time of the machine that runs the test: these only compare the functions' choices.
  const morning = new Date(2025, 5, 15, 9, 30).getTime()

  it('drops the minutes on the hour (chart axes) and keeps them otherwise', () => {
    const onTheHour = new Date(2025, 5, 15, 15, 0).getTime()
    expect(formatTime(onTheHour)).not.toContain('00')
    expect(formatTime(morning)).toContain('30')
  })

  it('shows only the time for something today, the date as well for anything older', () => {
    const iso = new Date(morning).toISOString()
    const evening = new Date(2025, 5, 15, 21, 0).getTime()
    expect(formatWhen(iso, evening)).toBe(formatTime(morning))
    const later = new Date(2025, 5, 18, 9, 30).getTime()
    expect(formatWhen(iso, later)).toBe(formatShortDateTime(iso))
    expect(formatWhen(iso, later)).not.toBe(formatWhen(iso, evening))
  })
})

describe('names', () => {
  it('prefers the handle and falls back to the DID', () => {
    expect(displayName({ did: 'did:plc:abc', handle: 'alice.test' })).toBe('alice.test')
    expect(displayName({ did: 'did:plc:abc' })).toBe('did:plc:abc')
  })

  it('shortens a long DID to its start and end, and leaves a short one alone', () => {
    const did = 'did:plc:ewvi7nxzyoun6zhxrhs64oiz'
    expect(shortDid(did)).toBe('did:plc:ewvi7n…s64oiz')
    expect(shortDid('did:web:a.example')).toBe('did:web:a.example')
    fc.assert(
      fc.property(fc.string({ maxLength: 80 }), (s) => {
        const short = shortDid(s)
        expect(short.length).toBeLessThanOrEqual(24)
        if (s.length <= 24) expect(short).toBe(s)
        else expect(s.startsWith(short.slice(0, 14)) && s.endsWith(short.slice(-6))).toBe(true)
      }),
    )
  })
})
