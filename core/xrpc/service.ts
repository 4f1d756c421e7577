// The API's lifetime inside the app: serve when asked (the daemon's --xrpc-port, or the app's
// setting), stop when not, and keep the meshlet's published endpoint in step with it. Served on
// every interface off a local network, it also asks the home router to forward a port to it
// (core/portmap), so that peers in other homes can reach it, and publishes that when granted.
import { networkInterfaces } from 'node:os'
import type { IdentityResolver } from '../identity/resolver.js'
import { silentLogger, type Logger } from '../log.js'
import type { PortMapping, PortMappingOptions } from '../portmap/index.js'
import type { RepoReader } from '../repo/reader.js'
import type { RepoWriter } from '../repo/writer.js'
import { alternatesFor, endpointFor, publishEndpoint, reachableAddress } from './endpoint.js'
import type { XrpcHost } from './host.js'
import type { XrpcServer } from './server.js'

export interface ServeWish {
  port: number
  hostname: string
  /** Published instead of the bound address (a home server behind a forwarded port). */
  publicUrl?: string
}

export interface ApiServiceOptions {
  host: XrpcHost
  identity: Pick<IdentityResolver, 'resolveDid'>
  /** A local network (demo, tests): a loopback endpoint is worth publishing. */
  localNetwork?: boolean
  /** Asks the router for a port forward (core/portmap's `openPortMapping`; tests give one with
   *  their router). Used for a wildcard bind off a local network without a `publicUrl`. */
  openPortMapping?: (opts: PortMappingOptions) => Promise<PortMapping | undefined>
  /** What `endpoint` says changed by itself (a mapping granted, moved or lost, this machine on
   *  another network): publish it. */
  onEndpointChange?: () => void
  /** How often a wildcard bind looks whether this machine moved to another network (a laptop
   *  carried from home to elsewhere): default 30 s. */
  networkCheckMs?: number
  /** The machine's interfaces (tests give their own). */
  interfaces?: typeof networkInterfaces
  log?: Logger
}

const NETWORK_CHECK_MS = 30_000

export class ApiService {
  private server?: XrpcServer
  private wish?: ServeWish
  /** The router's forward to the server, once granted; `mapped` is its URL while it holds. */
  private mapping?: Promise<PortMapping | undefined>
  private mappingAbort?: AbortController
  private mapped?: string
  /** While a wildcard bind serves off a local network: the address last published, watched. */
  private network?: { address: string | undefined; timer: NodeJS.Timeout }
  private changing: Promise<void> = Promise.resolve()
  private readonly log: Logger

  constructor(private readonly opts: ApiServiceOptions) {
    this.log = opts.log ?? silentLogger
  }

  /** Where it serves now, as bound. */
  get url(): string | undefined {
    return this.server?.url
  }

  /** What to publish: an address others can reach, or nothing. */
  get endpoint(): string | undefined {
    if (!this.server) return undefined
    const publicUrl = this.wish?.publicUrl ?? this.mapped
    return endpointFor(this.server, {
      ...(this.opts.localNetwork ? { localNetwork: true } : {}),
      ...(publicUrl ? { publicUrl } : {}),
      ...(this.opts.interfaces ? { interfaces: this.opts.interfaces } : {}),
    })
  }

  /** Other origins where it answers, for peers that cannot reach `endpoint` (`alternatesFor`). */
  get alternates(): string[] {
    if (!this.server) return []
    return alternatesFor(this.server, this.endpoint, {
      ...(this.opts.localNetwork ? { localNetwork: true } : {}),
      ...(this.opts.interfaces ? { interfaces: this.opts.interfaces } : {}),
    })
  }

  /** Serves as `wish` says (restarting when it changed), or stops serving when undefined. */
  apply(wish: ServeWish | undefined): Promise<void> {
    const next = this.changing.then(async () => {
      if (JSON.stringify(wish) === JSON.stringify(this.wish) && (this.server || !wish)) return
      this.unwatch()
      await this.unmap()
      await this.server?.close()
      this.server = undefined
      this.wish = wish
      if (!wish) return
      // Loaded when first served; the server itself loads @atproto/xrpc-server (express, pino,
      // some 10 MB) only on the first call of a method other than ping.
      const { serveXrpc } = await import('./server.js')
      this.server = await serveXrpc({
        host: this.opts.host,
        identity: this.opts.identity,
        port: wish.port,
        hostname: wish.hostname,
        log: this.log,
      })
      this.map(this.server.port, wish)
      this.watch(this.server.port, wish)
    })
    this.changing = next.catch(() => undefined)
    return next
  }

  /** Asks the router for a forward to `port`, in the background (no router costs a couple of
   *  seconds, which serving does not wait for): for a wildcard bind, off a local network, unless
   *  a forwarded URL was given. */
  private map(port: number, wish: ServeWish): void {
    const wildcard = wish.hostname === '0.0.0.0' || wish.hostname === '::'
    if (!wildcard || wish.publicUrl || this.opts.localNetwork) return
    const abort = (this.mappingAbort = new AbortController())
    const open =
      this.opts.openPortMapping ??
      (async (o: PortMappingOptions) => (await import('../portmap/index.js')).openPortMapping(o))
    const changed = (url: string | undefined) => {
      if (abort.signal.aborted || url === this.mapped) return
      this.mapped = url
      this.opts.onEndpointChange?.()
    }
    this.mapping = open({
      internalPort: port,
      log: this.log,
      signal: abort.signal,
      onChange: changed,
    }).then(
      (mapping) => {
        if (mapping) changed(mapping.externalUrl)
        return mapping
      },
      (err: unknown) => {
        this.log.log('warn', 'portmap.failed', { error: (err as Error).message })
        return undefined
      },
    )
  }

  /** For a wildcard bind off a local network: looks every `networkCheckMs` whether this
   *  machine's best address changed (another network: the published LAN address and any router
   *  forward belong to the old one), and if so asks the new network's router and republishes. */
  private watch(port: number, wish: ServeWish): void {
    const wildcard = wish.hostname === '0.0.0.0' || wish.hostname === '::'
    if (!wildcard || wish.publicUrl || this.opts.localNetwork) return
    const interfaces = this.opts.interfaces ?? networkInterfaces
    const timer = setInterval(() => {
      const address = reachableAddress(interfaces())
      if (!this.network || address === this.network.address) return
      this.network.address = address
      this.log.log('info', 'xrpc.network-changed', { address: address ?? null })
      this.changing = this.changing
        .then(async () => {
          if (this.network?.timer !== timer) return // stopped or restarted meanwhile
          await this.unmap()
          this.map(port, wish)
          this.opts.onEndpointChange?.()
        })
        .catch((err: unknown) =>
          this.log.log('warn', 'xrpc.network-change.failed', { error: (err as Error).message }),
        )
    }, this.opts.networkCheckMs ?? NETWORK_CHECK_MS)
    timer.unref()
    this.network = { address: reachableAddress(interfaces()), timer }
  }

  private unwatch(): void {
    clearInterval(this.network?.timer)
    this.network = undefined
  }

  /** Removes the router's forward, if any (bounded by core/portmap's timeout). */
  private async unmap(): Promise<void> {
    const mapping = this.mapping
    this.mappingAbort?.abort()
    this.mapping = this.mappingAbort = this.mapped = undefined
    await (await mapping)?.close()
  }

  /** Puts the current endpoint (or its absence) on the meshlet's record. Failures are logged:
   *  the API is an extra, and records keep working without it. */
  async publish(reader: RepoReader, writer: RepoWriter): Promise<void> {
    await this.changing
    const endpoint = this.endpoint
    const alternates = this.alternates
    try {
      if (await publishEndpoint(reader, writer, endpoint, alternates)) {
        this.log.log('info', 'xrpc.endpoint', { endpoint: endpoint ?? null, alternates })
      }
    } catch (err) {
      this.log.log('warn', 'xrpc.endpoint.failed', { error: (err as Error).message })
    }
  }

  async close(): Promise<void> {
    this.unwatch()
    await this.apply(undefined)
  }
}
