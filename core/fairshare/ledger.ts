// The fair-share ledger (DESIGN §6), derived only from public status records so every meshlet
// computes the same one. All arithmetic is on integers (BigInt where products grow large): a
// float's last bit may differ between JavaScript engines, and a balance that differs by one
// milli-unit between two meshlets would make them rank bids differently.
import type { Resources } from '../lexicon/index.js'
import type { ClusterView, StatusView } from '../scheduling/types.js'
import { authorityOf, compareStrings, timeOf } from '../scheduling/util.js'

export const DEFAULT_HALF_LIFE_MS = 7 * 24 * 60 * 60 * 1000

export interface LedgerOptions {
  /** How long until a usage counts half; default 7 days. */
  halfLifeMs?: number
}

/** Owner DID → balance in milli-units; positive for those who lent more than they used. */
export type Ledger = Map<string, number>

const HOUR_MS = 3_600_000n
const MIB_PER_GIB = 1024n

// Fixed-point decay: SCALE is 1.0; ROOTS[i] is 2^(-1/2^(i+1)) × SCALE, from integer square roots,
// so 2^(-x) for a fraction x is a product of the roots its binary digits select.
const SCALE_BITS = 62n
const SCALE = 1n << SCALE_BITS
const ROOT_STEPS = 40

function isqrt(n: bigint): bigint {
  if (n < 2n) return n
  let x = 1n << ((BigInt(n.toString(2).length) + 1n) / 2n)
  for (;;) {
    const y = (x + n / x) >> 1n
    if (y >= x) return x
    x = y
  }
}

const ROOTS: bigint[] = (() => {
  const roots: bigint[] = []
  let root = isqrt((SCALE * SCALE) / 2n)
  for (let i = 0; i < ROOT_STEPS; i++) {
    roots.push(root)
    root = isqrt(root * SCALE)
  }
  return roots
})()

/** Integer division rounding half away from zero, for non-negative denominators. */
function divRound(numerator: bigint, denominator: bigint): bigint {
  const half = denominator / 2n
  return numerator >= 0n ? (numerator + half) / denominator : -((-numerator + half) / denominator)
}

/** 2^(-ageMs / halfLifeMs) as `factor / (SCALE << halvings)`. */
function decayFactor(ageMs: number, halfLifeMs: number): { factor: bigint; halvings: bigint } {
  const half = BigInt(Math.max(1, Math.round(halfLifeMs)))
  // Ages at or below zero (a status from a clock slightly ahead) do not decay.
  const age = BigInt(Math.max(0, Math.round(ageMs)))
  let factor = SCALE
  let rest = age % half
  for (const root of ROOTS) {
    rest *= 2n
    if (rest >= half) {
      rest -= half
      factor = (factor * root) / SCALE
    }
  }
  return { factor, halvings: age / half }
}

// numerator / denominator × 2^(-age / halfLife), with one rounding at the end.
function decayed(numerator: bigint, denominator: bigint, ageMs: number, halfLifeMs: number) {
  const { factor, halvings } = decayFactor(ageMs, halfLifeMs)
  if (halvings > 256n) return 0n
  return divRound(numerator * factor, (denominator * SCALE) << halvings)
}

/** What running `resources` for `wallMs` is worth, decayed by `ageMs`, rounded once. */
export function decayedUsage(
  resources: Resources,
  wallMs: number,
  ageMs: number,
  halfLifeMs: number,
): bigint {
  return decayed(usageNumerator(resources, wallMs), usageDenominator(), ageMs, halfLifeMs)
}

/** `amount × 2^(-ageMs / halfLifeMs)`, rounded to the nearest integer. */
export function decay(amount: bigint, ageMs: number, halfLifeMs: number): bigint {
  return decayed(amount, 1n, ageMs, halfLifeMs)
}

/**
 * What running `resources` for `wallMs` is worth, in milli-units before decay. One unit is one
 * core for an hour, or one GiB of memory for an hour:
 * `(cpuMillis / 1000 + memoryMiB / 1024) × wallMs / 3 600 000 × 1000`, rounded to the nearest
 * integer (the ledger rounds once, after decay).
 */
export function usageMilliUnits(resources: Resources, wallMs: number): bigint {
  return divRound(usageNumerator(resources, wallMs), usageDenominator())
}

function usageNumerator(resources: Resources, wallMs: number): bigint {
  const perHour =
    BigInt(Math.max(0, Math.trunc(resources.cpuMillis))) * MIB_PER_GIB +
    BigInt(Math.max(0, Math.trunc(resources.memoryMiB))) * 1000n
  return perHour * BigInt(Math.max(0, Math.trunc(wallMs)))
}

// cpuMillis × 1024 + memoryMiB × 1000 is milli-units per hour scaled by 1024.
function usageDenominator(): bigint {
  return MIB_PER_GIB * HOUR_MS
}

function latestPerRecord(statuses: readonly StatusView[]): StatusView[] {
  const latest = new Map<string, StatusView>()
  for (const status of statuses) {
    const key = `${status.meshlet} ${status.uri}`
    const seen = latest.get(key)
    if (seen === undefined) {
      latest.set(key, status)
      continue
    }
    const a = timeOf(status.record.updatedAt)
    const b = timeOf(seen.record.updatedAt)
    const newer = Number.isNaN(b) || a > b || (a === b && compareStrings(status.cid, seen.cid) > 0)
    if (newer && !Number.isNaN(a)) latest.set(key, status)
  }
  return [...latest.values()]
}

function toSafeNumber(value: bigint): number {
  const max = BigInt(Number.MAX_SAFE_INTEGER)
  return Number(value > max ? max : value < -max ? -max : value)
}

/** What one owner lent and used, decayed, in milli-units. balance = contributed − consumed. */
export interface Account {
  contributed: number
  consumed: number
  balance: number
}

function sums(
  statuses: readonly StatusView[],
  cluster: ClusterView,
  now: number,
  opts: LedgerOptions,
): Map<string, { credit: bigint; debit: bigint }> {
  const halfLife = opts.halfLifeMs ?? DEFAULT_HALF_LIFE_MS
  const out = new Map<string, { credit: bigint; debit: bigint }>()
  const entry = (owner: string) => {
    let e = out.get(owner)
    if (!e) out.set(owner, (e = { credit: 0n, debit: 0n }))
    return e
  }
  for (const status of latestPerRecord(statuses)) {
    const { resources, usage } = status.record
    if (resources === undefined || usage?.wallMs === undefined) continue
    const lender = cluster.ownerOf(status.meshlet)
    const user = authorityOf(status.record.workload.uri)
    if (lender === undefined || user === '' || lender === user) continue
    const updatedAt = timeOf(status.record.updatedAt)
    if (Number.isNaN(updatedAt)) continue
    const numerator = usageNumerator(resources, usage.wallMs)
    const milli = decayed(numerator, usageDenominator(), now - updatedAt, halfLife)
    if (milli === 0n) continue
    entry(lender).credit += milli
    entry(user).debit += milli
  }
  return out
}

/** One amount that moves between two owners: credited to `lender`, debited from `user`. */
export interface Transfer {
  lender: string
  user: string
  /** Decayed milli-units. */
  milli: bigint
}

/** The two sides of each owner's account from a list of transfers (owners sorted). */
export function accountsOf(transfers: Iterable<Transfer>): Map<string, Account> {
  const all = new Map<string, { credit: bigint; debit: bigint }>()
  const entry = (owner: string) => {
    let e = all.get(owner)
    if (!e) all.set(owner, (e = { credit: 0n, debit: 0n }))
    return e
  }
  for (const t of transfers) {
    if (t.milli === 0n || t.lender === t.user) continue
    entry(t.lender).credit += t.milli
    entry(t.user).debit += t.milli
  }
  const owners = [...all.keys()].sort(compareStrings)
  return new Map(
    owners.map((owner) => {
      const { credit, debit } = all.get(owner)!
      return [
        owner,
        {
          contributed: toSafeNumber(credit),
          consumed: toSafeNumber(debit),
          balance: toSafeNumber(credit - debit),
        },
      ]
    }),
  )
}

/** The ledger (balances only) of a set of accounts. */
export function balancesOf(accounts: Map<string, Account>): Ledger {
  return new Map([...accounts].map(([owner, a]) => [owner, a.balance]))
}

/**
 * Balances per owner. Each status with resources and usage.wallMs credits the owner of the
 * meshlet that ran it and debits the workload's owner by the same decayed amount, so the
 * balances always sum to zero. Statuses from meshlets without a verified owner, and replicas an
 * owner ran for themselves, count for nothing.
 */
export function ledger(
  statuses: readonly StatusView[],
  cluster: ClusterView,
  now: number,
  opts: LedgerOptions = {},
): Ledger {
  const all = sums(statuses, cluster, now, opts)
  const owners = [...all.keys()].sort(compareStrings)
  return new Map(
    owners.map((owner) => {
      const { credit, debit } = all.get(owner)!
      return [owner, toSafeNumber(credit - debit)]
    }),
  )
}

/** The ledger with each owner's two sides kept apart, for people to read (the UI's balances);
 *  `balance` equals the ledger's. */
export function accounts(
  statuses: readonly StatusView[],
  cluster: ClusterView,
  now: number,
  opts: LedgerOptions = {},
): Map<string, Account> {
  const all = sums(statuses, cluster, now, opts)
  const owners = [...all.keys()].sort(compareStrings)
  return new Map(
    owners.map((owner) => {
      const { credit, debit } = all.get(owner)!
      return [
        owner,
        {
          contributed: toSafeNumber(credit),
          consumed: toSafeNumber(debit),
          balance: toSafeNumber(credit - debit),
        },
      ]
    }),
  )
}
