// Bid priority from the ledger (DESIGN §6): those who have used more than they lent run others'
// work first; among equals, the meshlet with more room free.
import type { Resources } from '../lexicon/index.js'
import type { Ledger } from './ledger.js'

/** The free-capacity key takes the low 20 bits of a priority. */
export const FREE_BITS = 20
const FREE_RANGE = 2 ** FREE_BITS

/** The lexicon's bound on a bid's priority. */
export const PRIORITY_BOUND = 1_000_000_000_000

/** The largest debt (or credit) against the mean, in milli-units, that still ranks apart. */
export const MAX_DEFICIT = Math.floor((PRIORITY_BOUND - (FREE_RANGE - 1)) / FREE_RANGE)

/** The commune's mean balance, floored, in milli-units; 0 for an empty ledger. */
export function meanBalance(book: Ledger): number {
  if (book.size === 0) return 0
  let sum = 0n
  for (const balance of book.values()) sum += BigInt(balance)
  const n = BigInt(book.size)
  // Floor division that also floors negative sums, so the mean never depends on sign handling.
  const q = sum / n
  return Number(sum % n < 0n ? q - 1n : q)
}

/** Free capacity as one number: milli-cores plus memory in milli-GiB, capped to its 20 bits. */
export function freeScore(free: Resources): number {
  const score =
    Math.max(0, Math.trunc(free.cpuMillis)) +
    Math.floor((Math.max(0, Math.trunc(free.memoryMiB)) * 1000) / 1024)
  return Math.min(FREE_RANGE - 1, score)
}

/**
 * One integer with two keys: (mean − the bidder's owner's balance) in the high part, clamped to
 * ±MAX_DEFICIT, and freeScore(free) in the low 20 bits. Always within the lexicon's ±10^12.
 */
export function priority(bidderOwner: string, book: Ledger, free: Resources): number {
  const deficit = meanBalance(book) - (book.get(bidderOwner) ?? 0)
  const primary = Math.max(-MAX_DEFICIT, Math.min(MAX_DEFICIT, deficit))
  return primary * FREE_RANGE + freeScore(free)
}

/** Free-rider policy: true when the owner's balance is below `floor` (milli-units). */
export function belowFloor(owner: string, book: Ledger, floor: number): boolean {
  return (book.get(owner) ?? 0) < floor
}

/**
 * The priority a bid must declare (DESIGN §11, docs/fair-share.md): how far its owner's balance
 * lies below the commune's mean, in milli-units, clamped to the lexicon's bound. Unlike
 * `priority`, it has no free-capacity key: a bidder's free capacity is private, so no peer could
 * check it, and a key nobody can check is a key anybody can inflate.
 */
export function auditedPriority(bidderOwner: string, book: Ledger): number {
  const deficit = meanBalance(book) - (book.get(bidderOwner) ?? 0)
  return Math.max(-PRIORITY_BOUND, Math.min(PRIORITY_BOUND, deficit))
}
