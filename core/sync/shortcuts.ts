// When a Jetstream record may act without its own getRecord proof (pure; no I/O, no clock).
// Confirmation is most of the Jetstream source's bytes (a proof is about twice the record), and
// almost all of a commune's records are presence heartbeats. Two cases need no proof of their
// own; the trust argument is in docs/jetstream-trust.md.
//
// - OwnWrites: the echo of a record this meshlet wrote itself, with the very CID its PDS
//   answered the write with. It was applied when written; the echo is not delivered at all.
// - PresenceRefresh: a peer's presence that only re-dates the last presence confirmed for that
//   DID (same state, same replicas, same interval; a later updatedAt, at most `windowMs` after
//   the confirmed one). Anything else in a presence — a replica added or dropped, a new state —
//   is confirmed, and so is the first refresh past the window, which moves the baseline. A forged
//   refresh can therefore only keep alive what the meshlet itself vouched for at a confirmed
//   time T, and only until T + windowMs + lostAfter.
import { isDeepStrictEqual } from 'node:util'

/** The recent CIDs this meshlet wrote, per record URI. Bounded: a few versions per record and
 *  a few thousand records; anything forgotten is simply confirmed. */
export class OwnWrites {
  private readonly cids = new Map<string, string[]>()

  constructor(
    private readonly maxUris = 5000,
    private readonly perUri = 4,
  ) {}

  add(uri: string, cid: string): void {
    const list = this.cids.get(uri) ?? []
    this.cids.delete(uri) // re-inserted last: the map's order is the eviction order
    list.push(cid)
    if (list.length > this.perUri) list.shift()
    this.cids.set(uri, list)
    if (this.cids.size > this.maxUris) this.cids.delete(this.cids.keys().next().value!)
  }

  has(uri: string, cid: string | null | undefined): boolean {
    return typeof cid === 'string' && (this.cids.get(uri)?.includes(cid) ?? false)
  }
}

interface Baseline {
  /** The confirmed record without its seq and updatedAt: what a refresh must repeat. */
  body: unknown
  /** The confirmed record's updatedAt (ms). */
  at: number
  /** The latest updatedAt delivered for this DID (confirmed or refreshed). */
  last: number
}

/** The per-DID baseline of presence refreshes. */
export class PresenceRefresh {
  private readonly baselines = new Map<string, Baseline>()

  constructor(
    /** The presence collection's NSID. */
    readonly collection: string,
    /** How far past the confirmed presence a refresh may be dated (the lostAfter window). */
    readonly windowMs: number,
  ) {}

  /** A presence the PDS confirmed (its copy) acted: the new baseline. */
  confirmed(did: string, record: unknown): void {
    const at = updatedAt(record)
    if (Number.isNaN(at)) {
      this.baselines.delete(did)
      return
    }
    this.baselines.set(did, { body: body(record), at, last: at })
  }

  /** The presence was deleted or can no longer be relied on (identity change). */
  forget(did: string): void {
    this.baselines.delete(did)
  }

  /** Undefined when the claim may act unconfirmed; otherwise why it must be confirmed. */
  check(
    did: string,
    claim: { collection: string; rkey: string; operation: string; record?: unknown },
  ): string | undefined {
    if (claim.collection !== this.collection) return 'not a presence'
    if (claim.rkey !== 'self' || claim.operation === 'delete') return 'not a presence update'
    const base = this.baselines.get(did)
    if (!base) return 'no confirmed presence to refresh'
    const at = updatedAt(claim.record)
    if (Number.isNaN(at)) return 'no updatedAt'
    if (at <= base.last) return 'not later than the last presence'
    if (at > base.at + this.windowMs) return 'past the window of the confirmed presence'
    if (!isDeepStrictEqual(body(claim.record), base.body)) return 'not a pure refresh'
    return undefined
  }

  /** A refresh acted unconfirmed: later refreshes must be later still. */
  refreshed(did: string, record: unknown): void {
    const base = this.baselines.get(did)
    if (base) base.last = updatedAt(record)
  }
}

function updatedAt(record: unknown): number {
  const v = (record as { updatedAt?: unknown } | null)?.updatedAt
  return typeof v === 'string' ? Date.parse(v) : Number.NaN
}

/** The record as plain JSON, less what a refresh may change. */
function body(record: unknown): unknown {
  if (!record || typeof record !== 'object') return record
  const {
    seq: _seq,
    updatedAt: _at,
    ...rest
  } = JSON.parse(JSON.stringify(record)) as Record<string, unknown>
  return rest
}
