// Follows commune.scheduler.* records: a live event source (source.ts: Jetstream, the PDSes of
// the followed DIDs, or a relay) for changes, and listRecords backfill for everything a meshlet
// missed while offline. Every record is validated against its lexicon on receipt; an invalid or
// unconfirmed one becomes a `dropped` event with a reason and never stops the stream.
import {
  checkRecord,
  COLLECTION_PREFIX,
  isCollection,
  NSID,
  type Collection,
} from '../lexicon/index.js'
import type { IdentityResolver } from '../identity/resolver.js'
import type { RepoReader } from '../repo/reader.js'
import { CursorStore } from './cursor.js'
import type { JetstreamSource } from './jetstream.js'
import type { PdsSource } from './pds.js'
import type { RelaySource } from './relay.js'
import {
  wsUrl,
  type EventSource,
  type SourceCommit,
  type SourceConfig,
  type SourceHooks,
  type SourceKind,
} from './source.js'

// Types only: each source's module is loaded when it is chosen (openSource), so a Jetstream
// meshlet never loads @atproto/sync, @atproto/xrpc-server and @atproto/api's lexicons, which only
// the signed firehose of the relay and pds sources needs.
export type { JetstreamSource, PdsSource, RelaySource }
export { CursorStore }
export * from './source.js'

/** Where a record came from; `own` is a meshlet's own write, applied before the firehose echo.
 *  `firehose` is any live source. */
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
  /** The saved cursor was older than the source keeps: the followed repos were listed again
   *  instead of replaying. */
  | { event: 'outdated'; source: SourceKind; detail: string }
  /** The stream came back with no cursor to resume from: the followed repos were listed again. */
  | { event: 'gap'; source: SourceKind; detail: string }

export class SyncError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options)
    this.name = 'SyncError'
  }
}

export interface SyncOptions {
  identity: IdentityResolver
  reader: RepoReader
  /** Relay or PDS to follow; http(s) URLs are turned into ws(s). Used when `source` is absent. */
  service?: string
  /** The live source; default the relay at `service`. */
  source?: SourceConfig
  /** Where the cursor lives; absent: not persisted. */
  cursorFile?: string
  /** Whether a record from `did` in `collection` matters to this meshlet. Asked per event, so
   *  the answer may change as the cluster changes. */
  wants: (did: string, collection: Collection) => boolean
  onEvent: (evt: RecordEvent) => void
  onError: (err: Error) => void
  /** Jetstream: how far past a confirmed presence a pure refresh of it may be dated and still
   *  act without its own proof (the scheduler's lostAfter). Absent: every record is confirmed. */
  presenceWindowMs?: number
  /** Collections backfilled for each followed DID; default all of ours. */
  backfillCollections?: readonly Collection[]
}

type DidState = { phase: 'backfilling'; buffer: SourceCommit[] } | { phase: 'ready'; rev: string }

/** Loads the module of the chosen source only (see the type-only exports above). */
async function openSource(
  config: SourceConfig,
  identity: IdentityResolver,
  cursors: CursorStore,
  hooks: SourceHooks,
  presenceWindowMs?: number,
): Promise<EventSource> {
  const match = (collection: string) => collection.startsWith(COLLECTION_PREFIX)
  switch (config.kind) {
    case 'jetstream': {
      const { JetstreamSource } = await import('./jetstream.js')
      return new JetstreamSource({
        urls: config.urls,
        identity,
        collections: [`${COLLECTION_PREFIX}*`],
        cursors,
        hooks,
        ...(config.backoffMs !== undefined ? { backoffMs: config.backoffMs } : {}),
        ...(config.pingMs !== undefined ? { pingMs: config.pingMs } : {}),
        ...(presenceWindowMs !== undefined
          ? { presence: { collection: NSID.presence, windowMs: presenceWindowMs } }
          : {}),
      })
    }
    case 'pds': {
      const { PdsSource } = await import('./pds.js')
      return new PdsSource({ identity, cursors, hooks, match })
    }
    case 'relay': {
      const { RelaySource } = await import('./relay.js')
      return new RelaySource({
        service: config.url,
        idResolver: identity.idResolver,
        cursors,
        hooks,
        match,
      })
    }
  }
}

export class RecordSync {
  readonly cursors: CursorStore
  private readonly config: SourceConfig
  private readonly hooks: SourceHooks
  private live?: EventSource
  private stopped = false
  private readonly dids = new Map<string, DidState>()
  private started = false
  private relisting?: Promise<void>

  constructor(private readonly opts: SyncOptions) {
    this.cursors = new CursorStore(opts.cursorFile, (err) =>
      opts.onError(new SyncError('could not save the cursor', { cause: err })),
    )
    const config: SourceConfig = opts.source ?? {
      kind: 'relay',
      url: opts.service ?? 'wss://bsky.network',
    }
    const hooks = {
      onCommit: (op: SourceCommit) => this.onLive(op),
      onDropped: (d: {
        did: string
        collection: string
        rkey: string
        uri: string
        reason: string
      }) => opts.onEvent({ event: 'dropped', source: 'firehose', ...d }),
      onOutdated: (detail: string) => this.onOutdated(detail),
      onGap: (detail: string) => this.onGap(detail),
      onError: (err: Error) => opts.onError(err),
    }
    this.config = config
    this.hooks = hooks
  }

  /** The live source; there is one once start() has loaded it. */
  get source(): EventSource {
    if (this.live === undefined) throw new SyncError('the source is loaded by start()')
    return this.live
  }

  get kind(): SourceKind {
    return this.config.kind
  }

  /** The relay's cursor (last seq seen), when following a relay. */
  get cursorSeq(): number | undefined {
    return this.config.kind === 'relay' ? this.cursors.get(wsUrl(this.config.url)) : undefined
  }

  /** Loads the cursor and the chosen source's module, and connects; returns once the
   *  subscription runs. */
  async start(): Promise<void> {
    const [source] = await Promise.all([
      openSource(
        this.config,
        this.opts.identity,
        this.cursors,
        this.hooks,
        this.opts.presenceWindowMs,
      ),
      this.cursors.load(),
    ])
    // Stopped while loading: nothing was connected, and nothing may be.
    if (this.stopped) return
    this.live = source
    this.started = true
    // DIDs followed while the module loaded are in the first subscription.
    if (this.dids.size > 0) await source.setDids(new Set(this.dids.keys()))
    await source.start()
  }

  /** The source's cursor was too old: what it would have replayed is listed from the repos. */
  private onOutdated(detail: string): void {
    this.opts.onEvent({ event: 'outdated', source: this.kind, detail })
    this.relist()
  }

  /** The stream came back with nothing to resume from: listed again, like an outdated cursor. */
  private onGap(detail: string): void {
    this.opts.onEvent({ event: 'gap', source: this.kind, detail })
    this.relist()
  }

  private relist(): void {
    const ready = [...this.dids].filter(([, s]) => s.phase === 'ready').map(([d]) => d)
    this.relisting = (this.relisting ?? Promise.resolve()).then(async () => {
      for (const did of ready) {
        this.dids.delete(did)
        await this.follow(did).catch((err: unknown) => {
          this.opts.onError(err as Error)
          this.relistLater(did, 1)
        })
      }
    })
  }

  /** A listing that failed (its PDS away too) is tried again with back-off, or the DID would
   *  stay unfollowed: nobody else follows it again. */
  private relistLater(did: string, attempt: number): void {
    const timer = setTimeout(
      () => {
        if (this.stopped || this.dids.has(did)) return
        this.follow(did).catch((err: unknown) => {
          this.opts.onError(err as Error)
          this.relistLater(did, attempt + 1)
        })
      },
      Math.min(1000 * 2 ** attempt, 60_000),
    )
    timer.unref()
  }

  /** This meshlet wrote `cid` at `uri` and applied it itself (source `own`). */
  wrote(uri: string, cid: string): void {
    this.live?.wrote?.(uri, cid)
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
    // The source follows the DID before the listing starts, so nothing falls between the two.
    if (this.started) {
      await this.source
        .setDids(new Set(this.dids.keys()))
        .catch((err: unknown) => this.opts.onError(err as Error))
    }
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
    for (const evt of state.buffer) this.onLive(evt)
    this.opts.onEvent({ event: 'backfilled', did, records: count })
  }

  private onLive(evt: SourceCommit): void {
    const state = this.dids.get(evt.did)
    if (state?.phase === 'backfilling') {
      state.buffer.push(evt)
      return
    }
    // Already contained in the backfill listing.
    if (state?.phase === 'ready' && evt.rev <= state.rev) return
    this.apply(evt)
  }

  private apply(evt: SourceCommit): void {
    const { did, collection, rkey, uri } = evt
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
    this.emitPut('firehose', did, collection, rkey, uri, evt.cid ?? '', evt.record)
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
    this.stopped = true
    await this.live?.stop()
    await this.relisting
    await this.cursors.flush()
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.stop()
  }
}
