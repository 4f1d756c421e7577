// Bluesky's Jetstream (/subscribe, JSON): filtered on the server to our collections and to
// exactly the DIDs this meshlet follows, so a laptop reads a few records a day instead of the
// network. The filter follows the cluster live with an `options_update` message (no
// reconnect). The cursor is the events' time_us, persisted and rewound a few seconds on
// reconnect (delivery is at least once; handlers are idempotent). The public instances are
// tried in turn with back-off. Jetstream is unsigned: every record is confirmed with its
// author's PDS (confirm.ts) before it is delivered, one DID's events in order — except the
// two kinds shortcuts.ts allows (our own writes' echoes, and presence refreshes of a confirmed
// presence); docs/jetstream-trust.md gives the argument. Frames come compressed with RFC 7692
// permessage-deflate, which Jetstream's /subscribe negotiates when the client offers it (its
// older `compress=true` needs a custom zstd dictionary and is not the one it recommends).
import type { IncomingMessage } from 'node:http'
import type { Socket } from 'node:net'
import WebSocket from 'ws'
import type { IdentityResolver } from '../identity/resolver.js'
import { jsonToLex } from '@atproto/lexicon'
import { confirmClaim } from './confirm.js'
import type { CursorStore } from './cursor.js'
import { OwnWrites, PresenceRefresh } from './shortcuts.js'
import { SourceError, type EventSource, type SourceHooks } from './source.js'

const CURSOR_KEY = 'jetstream'
/** Rewound on reconnect, for gapless replay across instances (cursors are wall-clock based). */
const REWIND_US = 5_000_000
/** Public instances keep about a day; a cursor older than this replays nothing useful. */
const WINDOW_US = 24 * 60 * 60 * 1_000_000
/** The longest wait between attempts while no instance answers. A stream that comes back is
 *  picked up within this, so a workload published meanwhile is placed within ~15 s of the
 *  return (docs/failure-handling.md); with four instances in turn, each sees one attempt from
 *  a meshlet every 20 s at worst. */
const MAX_BACKOFF_MS = 5_000
/** A connection that stays silent is pinged this often; one that answers neither the ping nor
 *  with an event within a third as long again is dead (a laptop that changed networks, a NAT
 *  that forgot it) and is replaced: without this it would wait for events that never come. */
const PING_MS = 30_000
/** With no cursor yet (a quiet commune sends nothing to a new meshlet), a reconnect replays
 *  from the last moment the old connection was known alive, less this much for the skew
 *  between our clock and the instance's. Filtered to our commune, a minute costs nothing. */
const FLOOR_SKEW_MS = 60_000
/** Above this many DIDs the list goes in the first message rather than the URL. */
const MAX_URL_DIDS = 100
/** Our records are a few KB; Jetstream drops larger events for us. */
const MAX_MESSAGE_BYTES = 256 * 1024

export interface JetstreamOptions {
  /** Instances to try, in order (ws(s)://host/subscribe). */
  urls: readonly string[]
  identity: IdentityResolver
  /** Our collections, as a Jetstream pattern (e.g. commune.scheduler.*). */
  collections: readonly string[]
  cursors?: CursorStore
  hooks: SourceHooks
  backoffMs?: number
  maxBackoffMs?: number
  /** How often a silent connection is pinged (default 30 s); the answer may take a third as
   *  long again before the connection is replaced. */
  pingMs?: number
  now?: () => number
  /** The presence collection and how far past a confirmed presence a refresh may be dated
   *  without its own proof (the scheduler's lostAfter); absent: every presence is confirmed. */
  presence?: { collection: string; windowMs: number }
  /** Offer permessage-deflate (default true; false only to measure what it saves). */
  compress?: boolean
}

interface JetstreamEvent {
  did?: unknown
  time_us?: unknown
  kind?: unknown
  commit?: {
    rev?: unknown
    operation?: unknown
    collection?: unknown
    rkey?: unknown
    record?: unknown
    cid?: unknown
  }
}

export class JetstreamSource implements EventSource {
  readonly kind = 'jetstream' as const
  private dids: ReadonlySet<string> = new Set()
  private ws?: WebSocket
  private index = 0
  private failures = 0
  private stopped = false
  private started = false
  private retry?: NodeJS.Timeout
  /** Until when nothing can have been missed: start(), then the last moment a connection
   *  proved it was delivering (opened, answered a ping, sent an event). */
  private aliveAt?: number
  /** One chain of confirmations per DID, so a DID's events are delivered in order. */
  private readonly chains = new Map<string, Promise<void>>()
  private readonly now: () => number
  /** Per presence URI, the number of the newest event queued for it: an older one still
   *  waiting is superseded (only the newest version is confirmed, so a burst of heartbeats
   *  cannot queue a bid behind a proof each). */
  private readonly newest = new Map<string, number>()
  /** URIs whose older claims, not pure refreshes, were skipped for a newer one. */
  private readonly skipped = new Set<string>()
  private counter = 0
  /** Events still being confirmed (number → time_us, in arrival order), and the newest time. */
  private readonly unsettled = new Map<number, number>()
  private seen = 0
  private readonly own = new OwnWrites()
  private readonly refresh?: PresenceRefresh
  /** Wire bytes of the sockets closed so far, and the open one's socket. */
  private closedBytes = 0
  private socket?: Socket
  /** What was decided without a proof of its own, and what was confirmed: for the benchmark. */
  readonly counts = { confirmed: 0, own: 0, refreshed: 0, superseded: 0 }

  constructor(private readonly opts: JetstreamOptions) {
    if (opts.urls.length === 0) throw new SourceError('no Jetstream instance given')
    this.now = opts.now ?? Date.now
    if (opts.presence) {
      this.refresh = new PresenceRefresh(opts.presence.collection, opts.presence.windowMs)
    }
  }

  /** Bytes read from the network (compressed frames, WebSocket framing and handshakes). */
  get bytesRead(): number {
    return this.closedBytes + (this.socket?.bytesRead ?? 0)
  }

  /** This meshlet wrote `cid` at `uri` (and applied it): its echo needs no confirmation. */
  wrote(uri: string, cid: string): void {
    this.own.add(uri, cid)
  }

  /** The instance in use (or tried next). */
  get url(): string {
    return this.opts.urls[this.index]!
  }

  start(): Promise<void> {
    if (this.started) return Promise.resolve()
    this.started = true
    this.aliveAt = this.now()
    const saved = this.opts.cursors?.get(CURSOR_KEY)
    if (saved !== undefined && this.now() * 1000 - saved > WINDOW_US) {
      this.opts.cursors?.reset(CURSOR_KEY)
      this.opts.hooks.onOutdated(
        `the saved Jetstream cursor (${new Date(saved / 1000).toISOString()}) is older than Jetstream keeps`,
      )
    }
    this.connect()
    return Promise.resolve()
  }

  async setDids(dids: ReadonlySet<string>): Promise<void> {
    const same = dids.size === this.dids.size && [...dids].every((d) => this.dids.has(d))
    this.dids = new Set(dids)
    if (same || !this.started || this.stopped) return
    const ws = this.ws
    if (ws?.readyState === WebSocket.OPEN) {
      await new Promise<void>((resolve) => ws.send(this.optionsUpdate(), () => resolve()))
    } else if (!ws || ws.readyState !== WebSocket.CONNECTING) {
      // No socket (waiting to retry): the next connection carries the new filter.
    }
    // A socket still connecting sends the update once open (see connect()).
  }

  private optionsUpdate(): string {
    return JSON.stringify({
      type: 'options_update',
      payload: {
        wantedCollections: this.opts.collections,
        wantedDids: [...this.dids].sort(),
        maxMessageSizeBytes: MAX_MESSAGE_BYTES,
      },
    })
  }

  private connect(): void {
    if (this.stopped) return
    const url = new URL(this.url)
    for (const c of this.opts.collections) url.searchParams.append('wantedCollections', c)
    const many = this.dids.size > MAX_URL_DIDS
    // An empty wantedDids means every DID: never connect unfiltered.
    if (many || this.dids.size === 0) url.searchParams.set('requireHello', 'true')
    else for (const d of [...this.dids].sort()) url.searchParams.append('wantedDids', d)
    url.searchParams.set('maxMessageSizeBytes', String(MAX_MESSAGE_BYTES))
    const saved = this.opts.cursors?.get(CURSOR_KEY)
    const from =
      saved !== undefined
        ? saved - REWIND_US
        : this.aliveAt !== undefined
          ? (this.aliveAt - FLOOR_SKEW_MS) * 1000
          : undefined
    if (from !== undefined) url.searchParams.set('cursor', String(Math.max(0, from)))
    const sentDids = new Set(this.dids)
    const ws = new WebSocket(url, {
      maxPayload: MAX_MESSAGE_BYTES * 4,
      // Offered; used when the instance accepts (Jetstream's /subscribe does, with context
      // takeover: a heartbeat that repeats the last one costs a few dozen bytes).
      perMessageDeflate: this.opts.compress ?? true,
    })
    this.ws = ws
    let socket: Socket | undefined
    ws.on('upgrade', (res: IncomingMessage) => {
      socket = this.socket = res.socket as Socket
    })
    const pingMs = this.opts.pingMs ?? PING_MS
    let watch: NodeJS.Timeout | undefined
    ws.on('open', () => {
      this.failures = 0
      this.aliveAt = this.now()
      watch = setInterval(() => {
        const silent = this.now() - (this.aliveAt ?? 0)
        if (silent >= pingMs + pingMs / 3) ws.terminate()
        else if (silent >= pingMs) ws.ping()
      }, pingMs / 3)
      watch.unref()
      const changed =
        sentDids.size !== this.dids.size || [...this.dids].some((d) => !sentDids.has(d))
      if ((many || sentDids.size === 0 || changed) && this.dids.size > 0)
        ws.send(this.optionsUpdate())
    })
    ws.on('pong', () => {
      this.aliveAt = this.now()
    })
    ws.on('message', (data: Buffer, isBinary) => {
      this.aliveAt = this.now()
      if (isBinary) return // zstd frames: never asked for
      this.onMessage(data)
    })
    ws.on('error', (err) => {
      this.opts.hooks.onError(new SourceError(`Jetstream ${url.host} failed`, { cause: err }))
    })
    ws.on('close', () => {
      clearInterval(watch)
      if (socket) this.closedBytes += socket.bytesRead
      if (this.socket === socket) this.socket = undefined
      if (this.ws === ws) this.ws = undefined
      if (this.stopped) return
      // Next instance, with back-off growing while none answers.
      this.failures++
      this.index = (this.index + 1) % this.opts.urls.length
      const base = this.opts.backoffMs ?? 1000
      const wait = Math.min(
        base * 2 ** Math.min(this.failures - 1, 10),
        this.opts.maxBackoffMs ?? MAX_BACKOFF_MS,
      )
      this.retry = setTimeout(() => this.connect(), this.failures === 1 ? base / 4 : wait)
    })
  }

  private onMessage(data: Buffer): void {
    let evt: JetstreamEvent
    try {
      evt = JSON.parse(data.toString('utf8')) as JetstreamEvent
    } catch (err) {
      this.opts.hooks.onError(
        new SourceError('Jetstream sent a frame that is not JSON', { cause: err }),
      )
      return
    }
    const did = evt.did
    const time = evt.time_us
    if (typeof did !== 'string' || typeof time !== 'number') return
    if (evt.kind === 'identity') {
      // The DID document may have changed (key, PDS): the next look-up asks again, and the
      // next presence is confirmed against it.
      void this.opts.identity.didCache.clearEntry(did)
      this.refresh?.forget(did)
    }
    if (evt.kind !== 'commit' || !evt.commit) {
      this.settle(time)
      return
    }
    const c = evt.commit
    if (
      typeof c.collection !== 'string' ||
      typeof c.rkey !== 'string' ||
      typeof c.rev !== 'string' ||
      (c.operation !== 'create' && c.operation !== 'update' && c.operation !== 'delete')
    ) {
      this.opts.hooks.onError(new SourceError(`Jetstream sent a malformed commit of ${did}`))
      return
    }
    // A DID we do not follow (an instance ignoring the filter, or an update not applied yet).
    if (!this.dids.has(did)) return
    const op = c.operation
    const collection = c.collection
    const rkey = c.rkey
    const rev = c.rev
    const uri = `at://${did}/${collection}/${rkey}`
    const cid = op === 'delete' ? null : typeof c.cid === 'string' ? c.cid : undefined
    const record = c.record
    const n = ++this.counter
    // Only heartbeats are coalesced: every other record's versions each get their say.
    if (collection === this.refresh?.collection) this.newest.set(uri, n)
    this.unsettled.set(n, time)
    const previous = this.chains.get(did) ?? Promise.resolve()
    const next = previous.then(async () => {
      if (this.stopped) return
      if (this.newest.has(uri) && this.newest.get(uri) !== n) {
        // A newer event for this record is queued: it is the one that acts. If this one said
        // something new (not a pure refresh), the newer one must be confirmed, and if it turns
        // out false, the PDS's own current version acts instead (see below): a forged event
        // cannot hide a real change by coming after it.
        const claim = { collection, rkey, operation: op, record }
        if (this.refresh?.check(did, claim) !== undefined) this.skipped.add(uri)
        this.counts.superseded++
        return
      }
      this.newest.delete(uri)
      const hadSkipped = this.skipped.delete(uri)
      if (cid === undefined && !hadSkipped) {
        this.opts.hooks.onDropped({ did, collection, rkey, uri, reason: 'not confirmed: no CID' })
        return
      }
      if (cid !== null && this.own.has(uri, cid)) {
        // The echo of our own write, applied when written.
        this.counts.own++
        return
      }
      const claim = { collection, rkey, operation: op, record }
      if (this.refresh && !hadSkipped && this.refresh.check(did, claim) === undefined) {
        this.counts.refreshed++
        this.refresh.refreshed(did, record)
        const value = jsonToLex(record as Parameters<typeof jsonToLex>[0])
        this.opts.hooks.onCommit({
          event: op,
          did,
          collection,
          rkey,
          uri,
          rev,
          cid: cid!,
          record: value,
        })
        return
      }
      const confirmed = await confirmClaim(
        this.opts.identity,
        // No CID (only after skipped claims): asked as an absence, which yields the PDS's state.
        { did, collection, rkey, cid: cid ?? null, ...(record !== undefined ? { record } : {}) },
        undefined,
        hadSkipped,
      )
      if (this.stopped) return
      this.counts.confirmed++
      if (!confirmed.ok) {
        this.opts.hooks.onDropped({ did, collection, rkey, uri, reason: confirmed.reason })
        // Older claims were skipped for this false one: what the PDS proves now acts for them,
        // so a forged event cannot hide a real one by coming after it.
        const now = confirmed.current
        if (now) {
          const event = now.cid === undefined ? 'delete' : 'update'
          this.deliver(event, did, collection, rkey, uri, now.rev, now.cid, now.record)
        }
        return
      }
      if (cid === undefined) {
        this.opts.hooks.onDropped({ did, collection, rkey, uri, reason: 'not confirmed: no CID' })
        this.deliver('delete', did, collection, rkey, uri, rev, undefined, undefined)
        return
      }
      this.deliver(op, did, collection, rkey, uri, rev, confirmed.cid, confirmed.record)
    })
    const settled = next
      .catch((err: unknown) =>
        this.opts.hooks.onError(new SourceError(`confirming ${uri} failed`, { cause: err })),
      )
      .finally(() => {
        this.unsettled.delete(n)
        this.settle(time)
        if (this.chains.get(did) === settled) this.chains.delete(did)
      })
    this.chains.set(did, settled)
  }

  /** Moves the cursor to `time` once nothing before it still waits for its confirmation (DIDs
   *  confirm concurrently and finish out of order: a cursor past a record still being confirmed
   *  would skip it after a restart). */
  private settle(time: number): void {
    this.seen = Math.max(this.seen, time)
    const oldest = this.unsettled.values().next()
    const safe = oldest.done ? this.seen : Math.min(this.seen, oldest.value - 1)
    if (safe > 0) this.opts.cursors?.advance(CURSOR_KEY, safe)
  }

  /** A proven record (or its proven absence, without `cid`) acts. */
  private deliver(
    event: 'create' | 'update' | 'delete',
    did: string,
    collection: string,
    rkey: string,
    uri: string,
    rev: string,
    cid: string | undefined,
    record: unknown,
  ): void {
    if (collection === this.refresh?.collection) {
      if (event === 'delete') this.refresh.forget(did)
      else this.refresh.confirmed(did, record)
    }
    this.opts.hooks.onCommit({
      event,
      did,
      collection,
      rkey,
      uri,
      rev,
      ...(event !== 'delete' ? { cid: cid!, record } : {}),
    })
  }

  async stop(): Promise<void> {
    this.stopped = true
    clearTimeout(this.retry)
    const ws = this.ws
    if (ws && ws.readyState !== WebSocket.CLOSED) {
      await new Promise<void>((resolve) => {
        ws.once('close', () => resolve())
        ws.terminate()
      })
    }
    await Promise.all([...this.chains.values()])
  }
}
