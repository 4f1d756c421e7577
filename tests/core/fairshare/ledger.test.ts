import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import {
  accounts,
  DEFAULT_HALF_LIFE_MS,
  decay,
  ledger,
  usageMilliUnits,
} from '../../../core/fairshare/index.js'
import {
  ALICE,
  ALICE_M,
  BOB,
  BOB_M,
  CAROL,
  CAROL_M,
  T0,
  cluster,
  status,
  workload,
} from '../scheduling/_util.js'

const HOUR = 3_600_000
const ONE_CORE_ONE_GIB = { cpuMillis: 1000, memoryMiB: 1024 }
const alices = workload({ owner: ALICE })
const bobs = workload({ owner: BOB, rkey: '3lbobswork000' })

function ran(meshlet: string, w = alices, wallMs = HOUR, updatedAt = T0, round = 0) {
  return status(meshlet, w, { round, updatedAt, resources: ONE_CORE_ONE_GIB, wallMs })
}

describe('usageMilliUnits', () => {
  it('one core for an hour, or one GiB for an hour, is one unit (1000 milli-units)', () => {
    // 1000 + 4 × 1000 / 1024 = 1003.9
    expect(usageMilliUnits({ cpuMillis: 1000, memoryMiB: 4 }, HOUR)).toBe(1004n)
    expect(usageMilliUnits({ cpuMillis: 1, memoryMiB: 1024 }, HOUR)).toBe(1001n)
    expect(usageMilliUnits(ONE_CORE_ONE_GIB, HOUR / 2)).toBe(1000n)
  })
})

describe('decay', () => {
  it('halves at each half-life, and rounds to the nearest integer in between', () => {
    expect(decay(2000n, 0, 1000)).toBe(2000n)
    expect(decay(2000n, 1000, 1000)).toBe(1000n)
    expect(decay(2000n, 2000, 1000)).toBe(500n)
    expect(decay(2000n, 500, 1000)).toBe(1414n) // 2000 / √2 = 1414.21
    expect(decay(1_000_000_000n, 250, 1000)).toBe(840_896_415n) // 2^-0.25 = 0.8408964153
    expect(decay(2000n, -5000, 1000)).toBe(2000n)
  })
})

describe('ledger', () => {
  it('credits the lender and debits the workload owner by units × duration', () => {
    const book = ledger([ran(BOB_M)], cluster(), T0)
    expect([...book]).toEqual([
      [ALICE, -2000],
      [BOB, 2000],
    ])
  })

  it('decays by the half-life from the status time to now', () => {
    expect(ledger([ran(BOB_M)], cluster(), T0 + DEFAULT_HALF_LIFE_MS).get(BOB)).toBe(1000)
    expect(ledger([ran(BOB_M)], cluster(), T0 + 2 * DEFAULT_HALF_LIFE_MS).get(BOB)).toBe(500)
    expect(ledger([ran(BOB_M)], cluster(), T0 + HOUR, { halfLifeMs: HOUR }).get(ALICE)).toBe(-1000)
  })

  it('ignores self-runs, unknown meshlets, and statuses without resources or wall time', () => {
    const unlinked = ran('did:plc:strangermesh')
    const bare = status(BOB_M, alices, { updatedAt: T0 })
    expect(ledger([ran(ALICE_M), unlinked, bare], cluster(), T0).size).toBe(0)
  })

  it('uses only the latest status per (meshlet, record)', () => {
    const early = ran(BOB_M, alices, HOUR, T0)
    const later = ran(BOB_M, alices, 2 * HOUR, T0 + HOUR)
    expect(ledger([later, early], cluster(), T0 + HOUR).get(BOB)).toBe(4000)
    // A different round is a different record: both count.
    const round1 = ran(BOB_M, alices, HOUR, T0 + HOUR, 1)
    expect(ledger([later, early, round1], cluster(), T0 + HOUR).get(BOB)).toBe(6000)
  })

  it('nets out lending both ways', () => {
    const book = ledger([ran(BOB_M, alices), ran(ALICE_M, bobs, HOUR / 2)], cluster(), T0)
    expect(book.get(BOB)).toBe(1000)
    expect(book.get(ALICE)).toBe(-1000)
  })

  const arbStatus = fc.record({
    meshlet: fc.constantFrom(ALICE_M, BOB_M, CAROL_M, 'did:plc:strangermesh'),
    owner: fc.constantFrom(ALICE, BOB, CAROL),
    round: fc.integer({ min: 0, max: 3 }),
    wallMs: fc.integer({ min: 0, max: 100 * HOUR }),
    age: fc.integer({ min: -HOUR, max: 30 * 24 * HOUR }),
    cpuMillis: fc.integer({ min: 1, max: 64_000 }),
    memoryMiB: fc.integer({ min: 4, max: 262_144 }),
  })
  const arbStatuses = fc.array(arbStatus, { maxLength: 20 }).map((specs) =>
    specs.map((s, i) =>
      status(s.meshlet, workload({ owner: s.owner }), {
        round: s.round,
        updatedAt: T0 - s.age,
        resources: { cpuMillis: s.cpuMillis, memoryMiB: s.memoryMiB },
        wallMs: s.wallMs,
        cid: `bafys${String(i).padStart(3, '0')}`,
      }),
    ),
  )

  it('is the same for every order of the statuses, and its balances sum to zero', () => {
    fc.assert(
      fc.property(
        arbStatuses.chain((list) =>
          fc
            .shuffledSubarray(list, { minLength: list.length, maxLength: list.length })
            .map((permuted) => ({ list, permuted })),
        ),
        ({ list, permuted }) => {
          const a = ledger(list, cluster(), T0)
          const b = ledger(permuted, cluster(), T0)
          expect([...b]).toEqual([...a])
          expect([...a.values()].reduce((x, y) => x + y, 0)).toBe(0)
          for (const v of a.values()) expect(Number.isSafeInteger(v)).toBe(true)
        },
      ),
    )
  })

  it('keeps what each owner lent and used apart, with the same balances as the ledger', () => {
    const both = accounts([ran(BOB_M, alices), ran(ALICE_M, bobs, HOUR / 2)], cluster(), T0)
    expect(both.get(BOB)).toEqual({ contributed: 2000, consumed: 1000, balance: 1000 })
    expect(both.get(ALICE)).toEqual({ contributed: 1000, consumed: 2000, balance: -1000 })
    fc.assert(
      fc.property(arbStatuses, (list) => {
        const book = ledger(list, cluster(), T0)
        const split = accounts(list, cluster(), T0)
        expect([...split.keys()]).toEqual([...book.keys()])
        let lent = 0
        let used = 0
        for (const [owner, a] of split) {
          expect(a.balance).toBe(book.get(owner))
          expect(a.contributed - a.consumed).toBe(a.balance)
          lent += a.contributed
          used += a.consumed
        }
        expect(lent).toBe(used)
      }),
    )
  })
})
