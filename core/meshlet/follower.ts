// Whom the meshlet follows, kept up to date: every DID `followTargets` names (ourselves, our
// owner and members, and the owners and meshlets the linkage records reveal) is followed and
// backfilled, until following turns up no new one. A DID that does not resolve, or whose PDS is
// away, is tried again after a growing delay (core/lookups), on a timer, and forgotten once no
// record names it. A meshlet we do not follow that lists our owner has its owner record read
// once, so the cluster report can name it.
import type { LinkageRecords } from '../identity/cluster.js'
import { wakeDelay } from '../clock/index.js'
import { NSID } from '../lexicon/index.js'
import type { Logger } from '../log.js'
import { LookupBackoff, type LookupBackoffOptions } from '../lookups/index.js'
import type { RepoReader } from '../repo/reader.js'
import type { RecordEvent } from '../sync/index.js'
import { aboutUs, followTargets } from './following.js'

export interface FollowerOptions {
  /** Our own DID and our owner's: always followed. */
  did: string
  owner: string
  /** The owners our membership lists, as set now. */
  members: () => readonly string[]
  /** The linkage records seen: who names whom. */
  linkage: LinkageRecords
  /** The event source: follows (and backfills) a DID. */
  sync: { follow(did: string): Promise<void>; isFollowing(did: string): boolean }
  /** Reads a claimant's owner record. */
  reader: Pick<RepoReader, 'get'>
  /** Back-off of failed look-ups (default 5 s doubling to 5 min). */
  lookupBackoff?: LookupBackoffOptions
  /** Whether the meshlet runs: a stopped one sets no retry timer. */
  running: () => boolean
  /** The retry timer followed what it could. */
  onRetried: () => void
  /** A claimant's owner record, read: to be handled as any record seen. */
  onClaim: (evt: RecordEvent) => void
  onError: (stage: string, err: Error) => void
  log: Logger
  now: () => number
}

export class Follower {
  private readonly followed = new Set<string>()
  private readonly lookups: LookupBackoff
  private retryTimer?: NodeJS.Timeout
  /** Claimants whose owner record was read once already. */
  private readonly lookedUp = new Set<string>()

  constructor(private readonly opts: FollowerOptions) {
    this.lookups = new LookupBackoff(opts.lookupBackoff)
  }

  /** Whether this DID's records are read. */
  has(did: string): boolean {
    return this.followed.has(did)
  }

  /** Reads these DIDs' records from now on (followed on the next `followAll`). */
  add(dids: Iterable<string>): void {
    for (const did of dids) this.followed.add(did)
  }

  /** Whether the linkage seen names a DID not followed yet. */
  hasNewTargets(): boolean {
    return this.targets().some((d) => !this.followed.has(d))
  }

  /** Whether to keep a record change (`aboutUs`: everything from a followed DID, claims about us
   *  from anyone). */
  aboutUs(evt: RecordEvent): boolean {
    return aboutUs(evt, {
      owner: this.opts.owner,
      members: this.opts.members(),
      followed: this.followed,
      linkage: this.opts.linkage,
    })
  }

  /** Follows (backfills) every DID that matters, including meshlets that the followed owners
   *  name, until no new one turns up. */
  async followAll(): Promise<void> {
    const { sync, log, now } = this.opts
    for (;;) {
      const wanted = new Set([
        this.opts.did,
        this.opts.owner,
        ...this.opts.members(),
        ...this.targets(),
      ])
      // A DID no record names any more (a member's bogus meshlet, deleted) is not looked up again.
      for (const did of this.lookups.retain(wanted)) {
        this.followed.delete(did)
        log.log('info', 'lookup.dropped', { did })
      }
      for (const d of wanted) this.followed.add(d)
      const at = now()
      const pending = [...this.followed].filter(
        (d) => !sync.isFollowing(d) && this.lookups.due(d, at),
      )
      if (pending.length === 0) break
      const results = await Promise.allSettled(pending.map((d) => sync.follow(d)))
      let ok = 0
      results.forEach((r, i) => {
        const did = pending[i]!
        if (r.status === 'fulfilled') {
          this.lookups.succeeded(did)
          ok += 1
          return
        }
        // A DID that does not resolve, or a PDS away: tried again after a growing delay.
        const retryInMs = this.lookups.failed(did, now())
        log.log('warn', 'lookup.retry', { did, attempt: this.lookups.failures(did), retryInMs })
        this.opts.onError('backfill', r.reason as Error)
      })
      if (ok === 0) break
    }
    clearTimeout(this.retryTimer)
    const next = this.lookups.nextRetryAt()
    if (next !== undefined && this.opts.running()) {
      this.retryTimer = setTimeout(
        () => void this.followAll().then(() => this.opts.onRetried()),
        wakeDelay(next, now()),
      )
    }
  }

  /** A membership record was put: if its author is a meshlet we neither follow nor know the
   *  owner of, read whom it claims to belong to — once per DID, so that a stranger cannot make
   *  us fetch again and again. */
  sawMembership(evt: RecordEvent): void {
    if (evt.event !== 'put' || evt.collection !== NSID.membership) return
    const did = evt.did
    if (this.followed.has(did) || this.opts.linkage.meshletOwner.has(did)) return
    if (this.lookedUp.has(did)) return
    this.lookedUp.add(did)
    void this.lookUpClaimant(did).catch((err: unknown) => this.opts.onError('lookup', err as Error))
  }

  /** No more retries. */
  stop(): void {
    clearTimeout(this.retryTimer)
  }

  private targets(): string[] {
    return followTargets(this.opts.linkage, {
      owner: this.opts.owner,
      members: this.opts.members(),
    })
  }

  /** A meshlet we do not follow lists our owner: read who it claims to belong to, so the
   *  cluster report can name it (a stranger, or forged linkage). */
  private async lookUpClaimant(did: string): Promise<void> {
    const rec = await this.opts.reader.get(did, NSID.meshletOwner, 'self')
    if (!rec) return
    this.opts.onClaim({
      event: 'put',
      source: 'backfill',
      did,
      collection: NSID.meshletOwner,
      rkey: 'self',
      uri: rec.uri,
      cid: rec.cid,
      record: rec.value,
    })
  }
}
