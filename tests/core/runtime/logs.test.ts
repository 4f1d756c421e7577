// What one log read returns is bounded, however much a guest printed.
import { describe, expect, it } from 'vitest'
import {
  MAX_LOG_BYTES,
  MAX_LOG_LINE_CHARS,
  tailLines,
  type LogFrame,
} from '../../../core/runtime/index.js'

const frame = (
  text: string,
  stream: LogFrame['stream'] = 'stdout',
  at = '2026-12-02T03:00:00.123456789Z',
) => ({
  stream,
  data: `${at} ${text}\n`,
})

describe('tailLines', () => {
  it('splits Docker timestamps from the text', () => {
    const t = tailLines([frame('hello'), frame('oops', 'stderr')], 10, 10)
    expect(t.lines).toEqual([
      { at: '2026-12-02T03:00:00.123Z', stream: 'stdout', text: 'hello' },
      { at: '2026-12-02T03:00:00.123Z', stream: 'stderr', text: 'oops' },
    ])
    expect(t.truncated).toBe(false)
  })

  it('keeps the newest lines within the count, the byte cap and the line cap', () => {
    const many = Array.from({ length: 50 }, (_, i) => frame(`line ${i}`))
    const t = tailLines(many, 10, 50)
    expect(t.lines.map((l) => l.text)).toEqual(
      Array.from({ length: 10 }, (_, i) => `line ${40 + i}`),
    )
    expect(t.truncated).toBe(true)
    const big = Array.from({ length: 100 }, () => frame('x'.repeat(10_000)))
    const b = tailLines(big, 1000, 1000)
    expect(b.lines.every((l) => l.text.length === MAX_LOG_LINE_CHARS)).toBe(true)
    expect(b.lines.reduce((n, l) => n + Buffer.byteLength(l.text) + 1, 0)).toBeLessThanOrEqual(
      MAX_LOG_BYTES,
    )
    expect(b.truncated).toBe(true)
  })
})
