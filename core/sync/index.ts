// Follows commune.scheduler.* records: a firehose (com.atproto.sync.subscribeRepos of a relay or
// a PDS, through @atproto/sync) for live changes, and listRecords backfill for everything a
// meshlet missed while offline. Every record is validated against its lexicon on receipt; an
// invalid one becomes a `dropped` event with a reason and never stops the stream.
import { Firehose, type FirehoseOptions } from '@atproto/sync'
import type { Event as FirehoseEvent } from '@atproto/sync'
import {
  checkRecord,
  COLLECTION_PREFIX,
  isCollection,
  NSID,
  type Collection,
} from '../lexicon/index.js'
import type { IdentityResolver } from '../identity/resolver.js'
import type { RepoReader } from '../repo/reader.js'
import { CursorFile } from './cursor.js'

export { CursorFile }

/** Where a record came from; `own` is a meshlet's own write, applied before the firehose echo. */
export type Source = 'firehose' | 'backfill' | 'own'

export type RecordEvent =
  | {
      event: 'put'
      source: Source
      did: string
      collection: Collection
      rkey: string
      uri: string
      cid: string
      record: unknown
    }
  | {
      event: 'delete'
      source: Source
      did: string
      collection: Collection
      rkey: string
      uri: string
    }
  | {
      event: 'dropped'
      source: Source
      did: string
      collection: string
      rkey: string
      uri: string
      reason: string
    }
  | { event: 'backfilled'; did: string; records: number }

export class SyncError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options)
    this.name = 'SyncError'
  }
}

export interface SyncOptions {
  identity: IdentityResolver
  reader: RepoReader
  /** Relay or PDS to follow; http(s) URLs are turned into ws(s). */
  service: string
  /** Where the cursor lives; absent: not persisted. */
  cursorFile?: string
  /** Whether a record from `did` in `collection` matters to this meshlet. Asked per event, so
   *  the answer may change as the cluster changes. */
  wants: (did: string, collection: Collection) => boolean
  onEvent: (evt: RecordEvent) => void
  onError: (err: Error) => void
  /** Collections backfilled for each followed DID; default all of ours. */
  backfillCollections?: readonly Collection[]
}

type DidState = { phase: 'backfilling'; buffer: FirehoseEvent[] } | { phase: 'ready'; rev: string }

export class RecordSync {
  private readonly firehose: Firehose
  private readonly cursor?: CursorFile
  private readonly dids = new Map<string, DidState>()
  private started?: Promise<void>

  constructor(private readonly opts: SyncOptions) {
    const service = opts.service.replace(/^http(s?):\/\//, 'ws$1://')
    if (opts.cursorFile) {
      this.cursor = new CursorFile(opts.cursorFile, service, (err) =>
        opts.onError(new SyncError('could not save the firehose cursor', { cause: err })),
      )
    }
    const fhOpts: FirehoseOptions = {
      idResolver: opts.identity.idResolver,
      service,
      filterCollections: [`${COLLECTION_PREFIX}*`],
      excludeIdentity: true,
      excludeAccount: true,
      excludeSync: true,
      getCursor: () => this.cursor?.current,
      handleEvent: (evt) => this.onFirehose(evt),
      onError: (err) => opts.onError(err),
    }
    this.firehose = new Firehose(fhOpts)
  }

  get cursorSeq(): number | undefined {
    return this.cursor?.current
  }

  /** Loads the cursor and connects; returns once the subscription runs. */
  async start(): Promise<void> {
    await this.cursor?.load()
    this.started = this.firehose.start().catch((err: unknown) => {
      this.opts.onError(new SyncError('firehose ended', { cause: err }))
    })
  }

  /** Whether `did` is followed (backfilled or being backfilled). */
  isFollowing(did: string): boolean {
    return this.dids.has(did)
  }

  /** Whether `did`'s repo has been listed completely (so a record missing from it is gone). */
  isBackfilled(did: string): boolean {
    return this.dids.get(did)?.phase === 'ready'
  }

  /** Backfills a DID's repo (once) and then lets its live events through. Events that arrive
   *  meanwhile are held and replayed, minus those the listing already contains. */
  async follow(did: string): Promise<void> {
    if (this.dids.has(did)) return
    const state: DidState = { phase: 'backfilling', buffer: [] }
    this.dids.set(did, state)
    let rev: string
    let count = 0
    try {
      rev = await this.opts.reader.latestRev(did)
      for (const collection of this.opts.backfillCollections ?? Object.values(NSID)) {
        if (!this.opts.wants(did, collection)) continue
        for (const rec of await this.opts.reader.listAll(did, collection)) {
          count++
          const rkey = rec.uri.slice(rec.uri.lastIndexOf('/') + 1)
          this.emitPut('backfill', did, collection, rkey, rec.uri, rec.cid, rec.value)
        }
      }
    } catch (err) {
      // Not ready: forget the DID so a later follow() retries; buffered events still apply.
      this.dids.delete(did)
      for (const evt of state.buffer) this.apply(evt)
      throw new SyncError(`backfill of ${did} failed`, { cause: err })
    }
    this.dids.set(did, { phase: 'ready', rev })
    for (const evt of state.buffer) this.onFirehose(evt)
    this.opts.onEvent({ event: 'backfilled', did, records: count })
  }

  private onFirehose(evt: FirehoseEvent): void {
    if (evt.event !== 'create' && evt.event !== 'update' && evt.event !== 'delete') return
    const state = this.dids.get(evt.did)
    if (state?.phase === 'backfilling') {
      state.buffer.push(evt)
      return
    }
    this.cursor?.advance(evt.seq)
    // Already contained in the backfill listing.
    if (state?.phase === 'ready' && evt.rev <= state.rev) return
    this.apply(evt)
  }

  private apply(evt: FirehoseEvent): void {
    if (evt.event !== 'create' && evt.event !== 'update' && evt.event !== 'delete') return
    const { did, collection, rkey } = evt
    const uri = evt.uri.toString()
    if (!isCollection(collection)) {
      this.opts.onEvent({
        event: 'dropped',
        source: 'firehose',
        did,
        collection,
        rkey,
        uri,
        reason: `unknown collection ${collection}`,
      })
      return
    }
    if (!this.opts.wants(did, collection)) return
    if (evt.event === 'delete') {
      this.opts.onEvent({ event: 'delete', source: 'firehose', did, collection, rkey, uri })
      return
    }
    this.emitPut('firehose', did, collection, rkey, uri, evt.cid.toString(), evt.record)
  }

  private emitPut(
    source: Source,
    did: string,
    collection: Collection,
    rkey: string,
    uri: string,
    cid: string,
    value: unknown,
  ): void {
    const check = checkRecord(collection, value)
    if (!check.ok) {
      this.opts.onEvent({
        event: 'dropped',
        source,
        did,
        collection,
        rkey,
        uri,
        reason: check.reason,
      })
      return
    }
    this.opts.onEvent({
      event: 'put',
      source,
      did,
      collection,
      rkey,
      uri,
      cid,
      record: check.value,
    })
  }

  async stop(): Promise<void> {
    // destroy() waits for a subscription that only start() begins.
    if (this.started) {
      await this.firehose.destroy()
      await this.started
    }
    await this.cursor?.flush()
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.stop()
  }
}
