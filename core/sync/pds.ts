// One com.atproto.sync.subscribeRepos per distinct PDS host of the followed DIDs, each fully
// verified like the relay (relay.ts does the work). The plan (host → DIDs) is made from the
// DIDs' documents (cached) and made again when the followed set changes or a followed DID's
// identity changes (it may have moved to another PDS).
import type { IdentityResolver } from '../identity/resolver.js'
import type { CursorStore } from './cursor.js'
import { RelaySource } from './relay.js'
import { SourceError, wsUrl, type EventSource, type SourceHooks } from './source.js'

export interface PdsOptions {
  identity: IdentityResolver
  cursors?: CursorStore
  hooks: SourceHooks
  match: (collection: string) => boolean
  reconnectMs?: number
}

export class PdsSource implements EventSource {
  readonly kind = 'pds' as const
  private dids: ReadonlySet<string> = new Set()
  /** Host (ws URL) → the DIDs it hosts, and its subscription. */
  private readonly hosts = new Map<string, { dids: Set<string>; sub: RelaySource }>()
  private planning: Promise<void> = Promise.resolve()
  private started = false
  private stopped = false

  constructor(private readonly opts: PdsOptions) {}

  /** The hosts subscribed to (for tests and the UI). */
  get subscriptions(): string[] {
    return [...this.hosts.keys()]
  }

  start(): Promise<void> {
    this.started = true
    return this.replan()
  }

  setDids(dids: ReadonlySet<string>): Promise<void> {
    this.dids = new Set(dids)
    return this.started ? this.replan() : Promise.resolve()
  }

  /** Plans are made one at a time; each reads the current followed set. */
  private replan(fresh: ReadonlySet<string> = new Set()): Promise<void> {
    const next = this.planning.then(() => this.plan(fresh))
    this.planning = next.catch((err: unknown) =>
      this.opts.hooks.onError(new SourceError('planning PDS subscriptions failed', { cause: err })),
    )
    return this.planning
  }

  private async plan(fresh: ReadonlySet<string>): Promise<void> {
    if (this.stopped) return
    const wanted = new Map<string, Set<string>>()
    await Promise.all(
      [...this.dids].map(async (did) => {
        try {
          const { pds } = await this.opts.identity.resolveDid(did, fresh.has(did))
          const host = wsUrl(pds)
          const set = wanted.get(host) ?? new Set<string>()
          set.add(did)
          wanted.set(host, set)
        } catch (err) {
          // Not resolvable now (back-off in the identity cache): kept where it was.
          for (const [host, h] of this.hosts) {
            if (h.dids.has(did)) wanted.set(host, (wanted.get(host) ?? new Set()).add(did))
          }
          this.opts.hooks.onError(new SourceError(`cannot find the PDS of ${did}`, { cause: err }))
        }
      }),
    )
    if (this.stopped) return
    for (const [host, h] of [...this.hosts]) {
      const dids = wanted.get(host)
      if (dids) {
        h.dids.clear()
        for (const d of dids) h.dids.add(d)
      } else {
        this.hosts.delete(host)
        await h.sub.stop()
      }
    }
    for (const [host, dids] of wanted) {
      if (this.hosts.has(host)) continue
      const entry = { dids, sub: undefined as unknown as RelaySource }
      entry.sub = new RelaySource({
        service: host,
        idResolver: this.opts.identity.idResolver,
        ...(this.opts.cursors ? { cursors: this.opts.cursors } : {}),
        hooks: this.opts.hooks,
        match: this.opts.match,
        wantsDid: (did) => entry.dids.has(did),
        onIdentity: (did) => void this.replan(new Set([did])),
        ...(this.opts.reconnectMs !== undefined ? { reconnectMs: this.opts.reconnectMs } : {}),
      })
      this.hosts.set(host, entry)
      await entry.sub.start()
    }
  }

  async stop(): Promise<void> {
    this.stopped = true
    await this.planning
    await Promise.all([...this.hosts.values()].map((h) => h.sub.stop()))
    this.hosts.clear()
  }
}
