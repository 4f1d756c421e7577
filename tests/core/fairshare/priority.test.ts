import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import {
  FREE_BITS,
  PRIORITY_BOUND,
  belowFloor,
  freeScore,
  meanBalance,
  priority,
  type Ledger,
} from '../../../core/fairshare/index.js'
import { ALICE, BOB, CAROL } from '../scheduling/_util.js'

const FREE = { cpuMillis: 2000, memoryMiB: 2048 }

describe('priority', () => {
  const book: Ledger = new Map([
    [ALICE, -3000],
    [BOB, 1000],
    [CAROL, 2000],
  ])

  it('is higher for an owner whose balance is lower (who used more pays back first)', () => {
    const order = [ALICE, BOB, CAROL].map((o) => priority(o, book, FREE))
    expect(order[0]).toBeGreaterThan(order[1] ?? 0)
    expect(order[1]).toBeGreaterThan(order[2] ?? 0)
  })

  it('ranks equal balances by free capacity', () => {
    const even: Ledger = new Map([
      [ALICE, 0],
      [BOB, 0],
    ])
    expect(priority(ALICE, even, { cpuMillis: 4000, memoryMiB: 1024 })).toBeGreaterThan(
      priority(BOB, even, FREE),
    )
  })

  it('puts the balance before free capacity: one milli-unit outweighs any amount free', () => {
    const book2: Ledger = new Map([
      [ALICE, 0],
      [BOB, 1],
    ])
    const huge = { cpuMillis: 1_024_000, memoryMiB: 4_194_304 }
    const none = { cpuMillis: 0, memoryMiB: 0 }
    expect(priority(ALICE, book2, none)).toBeGreaterThan(priority(BOB, book2, huge))
  })

  it('encodes (mean − balance) × 2^20 + free score', () => {
    // mean = 0; Alice is 3000 below it; free = 2000 + 2000.
    expect(priority(ALICE, book, FREE)).toBe(3000 * 2 ** FREE_BITS + 4000)
    expect(freeScore(FREE)).toBe(4000)
    expect(meanBalance(book)).toBe(0)
    expect(meanBalance(new Map())).toBe(0)
    expect(
      meanBalance(
        new Map([
          [ALICE, -3],
          [BOB, 1],
        ]),
      ),
    ).toBe(-1)
  })

  it('treats an owner missing from the ledger as balance 0', () => {
    const book2: Ledger = new Map([
      [ALICE, 4000],
      [BOB, -2000],
    ])
    // mean 1000; Carol (0) is 1000 below it.
    expect(priority(CAROL, book2, { cpuMillis: 0, memoryMiB: 0 })).toBe(1000 * 2 ** FREE_BITS)
  })

  it('stays an integer within the lexicon bounds and keeps its order', () => {
    const arbBalance = fc.integer({ min: -Number.MAX_SAFE_INTEGER, max: Number.MAX_SAFE_INTEGER })
    const arbFree = fc.record({
      cpuMillis: fc.integer({ min: 0, max: 1_024_000 }),
      memoryMiB: fc.integer({ min: 0, max: 4_194_304 }),
    })
    fc.assert(
      fc.property(arbBalance, arbBalance, arbBalance, arbFree, (a, b, c, free) => {
        const ledger: Ledger = new Map([
          [ALICE, a],
          [BOB, b],
          [CAROL, c],
        ])
        for (const owner of [ALICE, BOB, CAROL]) {
          const p = priority(owner, ledger, free)
          expect(Number.isSafeInteger(p)).toBe(true)
          expect(Math.abs(p)).toBeLessThanOrEqual(PRIORITY_BOUND)
        }
        if (a < b) {
          expect(priority(ALICE, ledger, free)).toBeGreaterThanOrEqual(priority(BOB, ledger, free))
        }
      }),
    )
  })
})

describe('belowFloor', () => {
  it('is true only below the floor; unknown owners count as 0', () => {
    const book: Ledger = new Map([[ALICE, -5000]])
    expect(belowFloor(ALICE, book, -4000)).toBe(true)
    expect(belowFloor(ALICE, book, -5000)).toBe(false)
    expect(belowFloor(BOB, book, -4000)).toBe(false)
  })
})
