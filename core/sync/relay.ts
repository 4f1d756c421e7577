// com.atproto.sync.subscribeRepos of one service (the relay, or one PDS for the `pds` source).
// Frames are read with @atproto/xrpc-server's Subscription; a commit that touches our
// collections is authenticated by @atproto/sync (signed commit + MST proof against the DID's
// key). Every other frame costs only its decoding: its seq moves the cursor (persisted,
// throttled) so a resumed meshlet replays from where it was, not from its last own record.
import { ComAtprotoSyncSubscribeRepos as Repos } from '@atproto/api'
import type { IdResolver } from '@atproto/identity'
import { parseCommitAuthenticated } from '@atproto/sync'
import { Subscription } from '@atproto/xrpc-server'
import type { CursorStore } from './cursor.js'
import { SourceError, wsUrl, type EventSource, type SourceHooks } from './source.js'

const METHOD = 'com.atproto.sync.subscribeRepos'
/** The longest wait between attempts while the service is away (the library's default is
 *  64 s). A stream that returns is picked up within this: a workload published while it was
 *  away is placed within ~15 s of its return (docs/failure-handling.md), which a minute of
 *  back-off would swallow four times over. One attempt every 2 s costs a service nothing. */
const MAX_RECONNECT_S = 2
/** After a reconnect with no cursor, the repos are listed again once the new connection has
 *  had this long to open (another attempt meanwhile postpones it): listing before the stream
 *  is back could miss what is published in between. */
const GAP_LIST_DELAY_MS = 1000

export interface RelayOptions {
  service: string
  idResolver: IdResolver
  cursors?: CursorStore
  hooks: SourceHooks
  /** Collections of interest (our prefix). */
  match: (collection: string) => boolean
  /** Only these DIDs' commits are authenticated and delivered (a PDS subscription); absent:
   *  every DID (the relay: the caller filters). */
  wantsDid?: (did: string) => boolean
  /** A followed DID changed identity or account status (the `pds` source re-plans on it). */
  onIdentity?: (did: string) => void
  reconnectMs?: number
}

type Frame = { $type?: string; seq?: unknown; [k: string]: unknown }

export class RelaySource implements EventSource {
  readonly kind = 'relay' as const
  readonly service: string
  private readonly abort = new AbortController()
  private running?: Promise<void>
  private connects = 0
  private gapTimer?: NodeJS.Timeout

  constructor(private readonly opts: RelayOptions) {
    this.service = wsUrl(opts.service)
  }

  start(): Promise<void> {
    this.running ??= this.loop()
    return Promise.resolve()
  }

  setDids(): Promise<void> {
    return Promise.resolve()
  }

  private async loop(): Promise<void> {
    while (!this.abort.signal.aborted) {
      const sub = new Subscription<Frame>({
        service: this.service,
        method: METHOD,
        maxReconnectSeconds: MAX_RECONNECT_S,
        signal: this.abort.signal,
        getParams: () => {
          const cursor = this.opts.cursors?.get(this.service)
          // A reconnect with nothing to resume from (no frame seen since the first connection:
          // a quiet PDS) starts at the head, past whatever was published while away.
          if (cursor === undefined && this.connects++ > 0) this.listSoon()
          return cursor === undefined ? {} : { cursor }
        },
        // Decoded frames pass as they are: the expensive lexicon check runs only on the
        // commits that concern us (handle()).
        validate: (value) => (value && typeof value === 'object' ? (value as Frame) : undefined),
        onReconnectError: (err) =>
          this.opts.hooks.onError(
            new SourceError(`subscription to ${this.service} failed; retrying`, { cause: err }),
          ),
      })
      try {
        for await (const frame of sub) await this.handle(frame)
      } catch (err) {
        if (this.abort.signal.aborted || (err as Error)?.name === 'AbortError') return
        this.opts.hooks.onError(
          new SourceError(`subscription to ${this.service} ended`, { cause: err }),
        )
        await new Promise((r) => setTimeout(r, this.opts.reconnectMs ?? 3000))
      }
    }
  }

  private listSoon(): void {
    clearTimeout(this.gapTimer)
    this.gapTimer = setTimeout(() => {
      if (this.abort.signal.aborted) return
      this.opts.hooks.onGap(`${this.service}: reconnected with no cursor to resume from`)
    }, GAP_LIST_DELAY_MS)
    this.gapTimer.unref()
  }

  private async handle(frame: Frame): Promise<void> {
    const type = frame.$type
    const seq = typeof frame.seq === 'number' ? frame.seq : undefined
    try {
      if (type === `${METHOD}#commit`) await this.onCommit(frame)
      else if (type === `${METHOD}#info`) {
        if (frame.name === 'OutdatedCursor') {
          this.opts.hooks.onOutdated(
            `${this.service}: ${typeof frame.message === 'string' ? frame.message : 'the cursor is older than the service keeps'}`,
          )
        }
      } else if (
        (type === `${METHOD}#identity` || type === `${METHOD}#account`) &&
        typeof frame.did === 'string'
      ) {
        // A new document, or an account deactivated here: it may have moved to another PDS
        // (the old PDS only says `#account`; the new one announces the identity).
        if (this.opts.wantsDid?.(frame.did)) this.opts.onIdentity?.(frame.did)
      }
    } catch (err) {
      this.opts.hooks.onError(
        new SourceError(`a frame from ${this.service} could not be read`, { cause: err }),
      )
    }
    if (seq !== undefined) this.opts.cursors?.advance(this.service, seq)
  }

  private async onCommit(frame: Frame): Promise<void> {
    const repo = frame.repo
    const ops = frame.ops
    if (typeof repo !== 'string' || !Array.isArray(ops)) return
    if (this.opts.wantsDid && !this.opts.wantsDid(repo)) return
    // Cheap first: most of the network's commits touch none of our collections.
    const ours = ops.some((op: { path?: unknown }) => {
      if (typeof op?.path !== 'string') return false
      return this.opts.match(op.path.slice(0, op.path.indexOf('/')))
    })
    if (!ours) return
    const checked = Repos.validateCommit(frame)
    if (!checked.success) {
      throw new SourceError(`malformed commit from ${repo}`, { cause: checked.error })
    }
    const events = await parseCommitAuthenticated(
      this.opts.idResolver,
      checked.value as unknown as Parameters<typeof parseCommitAuthenticated>[1],
      (c) => this.opts.match(c),
    )
    for (const evt of events) {
      if (evt.event !== 'create' && evt.event !== 'update' && evt.event !== 'delete') continue
      this.opts.hooks.onCommit({
        event: evt.event,
        did: evt.did,
        collection: evt.collection,
        rkey: evt.rkey,
        uri: evt.uri.toString(),
        rev: evt.rev,
        ...(evt.event !== 'delete' ? { cid: evt.cid.toString(), record: evt.record } : {}),
      })
    }
  }

  async stop(): Promise<void> {
    clearTimeout(this.gapTimer)
    this.abort.abort()
    await this.running
  }
}
