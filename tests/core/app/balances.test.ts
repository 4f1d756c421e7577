// The balance chart's history: when a point is added, when a flat stretch folds, the bound, and
// what survives a restart (the file in the data directory) or a damaged file.
import { mkdtemp, readFile, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { beforeEach, describe, expect, it, vi } from 'vitest'
import { BalanceHistory, balancesOf, HISTORY_MAX } from '../../../core/app/balances.js'

let dir: string
let t: number
let sample: Record<string, number> | undefined

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'meshlet-balances-'))
  t = Date.parse('2026-12-01T00:00:00Z')
  sample = { alice: 0 }
})

function history(extra: { onError?: (err: unknown) => void; file?: string } = {}) {
  return new BalanceHistory({
    file: extra.file ?? join(dir, 'balance-history.json'),
    sample: () => sample,
    lostAfterMs: 32_000,
    now: () => t,
    ...(extra.onError ? { onError: extra.onError } : {}),
  })
}

const at = (h: BalanceHistory) => h.view().map((p) => [p.at.slice(11, 19), p.balances])

describe('BalanceHistory', () => {
  it('adds a point per change, folds a flat stretch into its ends, and skips unmoved when asked', () => {
    const h = history()
    h.record()
    t += 60_000
    h.record()
    t += 60_000
    // Equal to the last two: the last one moves.
    h.record()
    expect(at(h)).toEqual([
      ['00:00:00', { alice: 0 }],
      ['00:02:00', { alice: 0 }],
    ])
    t += 1000
    h.record({ alice: 0 }, true)
    expect(h.view()).toHaveLength(2)
    h.record({ alice: 5 }, true)
    expect(at(h).at(-1)).toEqual(['00:02:01', { alice: 5 }])
  })

  it('samples nothing while there is nothing to sample', () => {
    sample = undefined
    const h = history()
    h.record()
    expect(h.view()).toEqual([])
  })

  it(`keeps the latest ${HISTORY_MAX} points`, () => {
    const h = history()
    for (let i = 0; i < HISTORY_MAX + 5; i++) h.record({ alice: i })
    const v = h.view()
    expect(v).toHaveLength(HISTORY_MAX)
    expect(v[0]!.balances.alice).toBe(5)
  })

  it('keeps its points across a restart, and starts empty from a damaged file', async () => {
    const h = history()
    h.record({ alice: 1, bob: -1 })
    await h.flushed()
    const again = history()
    await again.load()
    expect(again.view()).toEqual(h.view())
    const file = join(dir, 'damaged.json')
    await writeFile(file, '{"not": "a list"')
    const damaged = history({ file })
    await damaged.load()
    expect(damaged.view()).toEqual([])
    const object = join(dir, 'object.json')
    await writeFile(object, '{"at": 1}')
    const wrong = history({ file: object })
    await wrong.load()
    expect(wrong.view()).toEqual([])
  })

  it('reports a write that fails and keeps the point in memory', async () => {
    const errors: unknown[] = []
    // Its folder is a file: no write can succeed.
    await writeFile(join(dir, 'a-file'), '')
    const h = history({
      file: join(dir, 'a-file', 'h.json'),
      onError: (e) => errors.push(e),
    })
    h.record({ alice: 1 })
    await h.flushed()
    expect(errors).toHaveLength(1)
    expect(h.view()).toHaveLength(1)
  })

  it('samples a second after a burst, and again once placements count', () => {
    vi.useFakeTimers()
    try {
      const h = history()
      h.soon()
      vi.advanceTimersByTime(500)
      h.soon()
      sample = { alice: 1 }
      vi.advanceTimersByTime(1000)
      expect(h.view().map((p) => p.balances)).toEqual([{ alice: 1 }])
      sample = { alice: 2 }
      vi.advanceTimersByTime(32_000)
      expect(h.view().map((p) => p.balances)).toEqual([{ alice: 1 }, { alice: 2 }])
      h.stop()
    } finally {
      vi.useRealTimers()
    }
  })

  it('stops its timers', () => {
    vi.useFakeTimers()
    try {
      const h = history()
      h.start()
      h.soon()
      h.stop()
      vi.advanceTimersByTime(10 * 60_000)
      expect(h.view()).toEqual([])
    } finally {
      vi.useRealTimers()
    }
  })
})

it('balancesOf lists every DID, at 0 before its first credit', () => {
  const acct = (balance: number) => ({ contributed: 0, consumed: 0, balance })
  expect(
    balancesOf(
      ['alice', 'bob'],
      new Map([
        ['carol', acct(3)],
        ['bob', acct(-2)],
      ]),
    ),
  ).toEqual({
    alice: 0,
    bob: -2,
    carol: 3,
  })
})

it('writes what it keeps', async () => {
  const h = history()
  h.record({ alice: 7 })
  await h.flushed()
  const kept = JSON.parse(await readFile(join(dir, 'balance-history.json'), 'utf8')) as unknown
  expect(kept).toEqual(h.view())
})
