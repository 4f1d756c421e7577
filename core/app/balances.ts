// The balance chart's history: one point per moment the balances moved, kept in the data
// directory so the chart survives a restart. Sampled every minute, a second after a burst of
// status records, and once more when those placements start to count in the ledger.
import { readFile } from 'node:fs/promises'
import type { BalancesView } from '../api.js'
import type { Account } from '../fairshare/index.js'
import { writeFileAtomic } from '../files.js'

/** Points kept: twelve hours of minutes, far more once flat stretches are folded. */
export const HISTORY_MAX = 720

export type HistoryPoint = BalancesView['history'][number]

export interface BalanceHistoryOptions {
  /** Where the points rest (JSON). */
  file: string
  /** Each owner's balance now, or undefined while there is nothing to sample (no meshlet). */
  sample: () => Record<string, number> | undefined
  /** The steady sampling interval (default 60 s). */
  everyMs?: number
  /** How long after a status its placement may start to count: the second late sample. */
  lostAfterMs: number
  onChange?: () => void
  onError?: (err: unknown) => void
  now?: () => number
}

export class BalanceHistory {
  private points: HistoryPoint[] = []
  private writing: Promise<void> = Promise.resolve()
  private timer?: NodeJS.Timeout
  private soonTimer?: NodeJS.Timeout
  private laterTimer?: NodeJS.Timeout

  constructor(private readonly opts: BalanceHistoryOptions) {}

  /** Reads the kept points; an unreadable or damaged file starts an empty chart. */
  async load(): Promise<void> {
    try {
      const kept = JSON.parse(await readFile(this.opts.file, 'utf8')) as unknown
      this.points = Array.isArray(kept) ? (kept as HistoryPoint[]) : []
    } catch {
      this.points = []
    }
  }

  /** Samples every `everyMs` until `stop()`. */
  start(): void {
    clearInterval(this.timer)
    this.timer = setInterval(() => this.record(), this.opts.everyMs ?? 60_000)
  }

  /**
   * A status arrived that can move balances: sample a second after statuses stop arriving (a
   * burst is one point), and once more when its placement starts to count — the ledger credits
   * a placement only after its no-show deadline, at most `lostAfter` after its status
   * (docs/fair-share.md).
   */
  soon(): void {
    clearTimeout(this.soonTimer)
    this.soonTimer = setTimeout(() => this.record(), 1000)
    this.soonTimer.unref?.()
    clearTimeout(this.laterTimer)
    this.laterTimer = setTimeout(() => this.record(), this.opts.lostAfterMs + 1000)
    this.laterTimer.unref?.()
  }

  /**
   * Adds a point (`balances`, or a fresh sample). With `onlyIfMoved`, nothing is added while
   * the balances equal the last point. A flat line needs only its ends: a point equal to the last
   * two moves the last one's time instead of adding one.
   */
  record(balances = this.opts.sample(), onlyIfMoved = false): void {
    if (!balances) return
    const at = new Date(this.opts.now?.() ?? Date.now()).toISOString()
    const last = this.points.at(-1)
    if (onlyIfMoved && last && same(last.balances, balances)) return
    const prev = this.points.at(-2)
    if (last && prev && same(last.balances, balances) && same(prev.balances, balances)) {
      last.at = at
    } else {
      this.points.push({ at, balances })
    }
    if (this.points.length > HISTORY_MAX) this.points.splice(0, this.points.length - HISTORY_MAX)
    this.writing = this.writing
      .then(() => writeFileAtomic(this.opts.file, JSON.stringify(this.points, null, 2)))
      .catch((err: unknown) => this.opts.onError?.(err))
    this.opts.onChange?.()
  }

  /** The points, oldest first; a copy. */
  view(): HistoryPoint[] {
    return this.points.map((h) => ({ at: h.at, balances: { ...h.balances } }))
  }

  /** No more timed samples (`record` still works, for a last point). */
  stop(): void {
    clearInterval(this.timer)
    clearTimeout(this.soonTimer)
    clearTimeout(this.laterTimer)
  }

  /** Resolves once every point recorded so far is on disk (or failed to be written). */
  flushed(): Promise<void> {
    return this.writing
  }
}

/** Each DID's balance, every one at 0 before its first credit: a line that starts at zero shows
 *  the run that moved it, where a member missing from earlier points would be a lone dot. */
export function balancesOf(
  dids: Iterable<string>,
  accounts: ReadonlyMap<string, Account>,
): Record<string, number> {
  const all = new Set([...dids, ...accounts.keys()])
  return Object.fromEntries([...all].map((d) => [d, accounts.get(d)?.balance ?? 0]))
}

function same(a: Record<string, number>, b: Record<string, number>): boolean {
  const ka = Object.keys(a)
  return ka.length === Object.keys(b).length && ka.every((k) => a[k] === b[k])
}
