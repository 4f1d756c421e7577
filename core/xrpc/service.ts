// The API's lifetime inside the app: serve when asked (the daemon's --xrpc-port, or the app's
// setting), stop when not, and keep the meshlet's published endpoint in step with it.
import type { IdentityResolver } from '../identity/resolver.js'
import { silentLogger, type Logger } from '../log.js'
import type { RepoReader } from '../repo/reader.js'
import type { RepoWriter } from '../repo/writer.js'
import { endpointFor, publishEndpoint } from './endpoint.js'
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
  log?: Logger
}

export class ApiService {
  private server?: XrpcServer
  private wish?: ServeWish
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
    return endpointFor(this.server, {
      ...(this.opts.localNetwork ? { localNetwork: true } : {}),
      ...(this.wish?.publicUrl ? { publicUrl: this.wish.publicUrl } : {}),
    })
  }

  /** Serves as `wish` says (restarting when it changed), or stops serving when undefined. */
  apply(wish: ServeWish | undefined): Promise<void> {
    const next = this.changing.then(async () => {
      if (JSON.stringify(wish) === JSON.stringify(this.wish) && (this.server || !wish)) return
      await this.server?.close()
      this.server = undefined
      this.wish = wish
      if (!wish) return
      // Loaded when first served: @atproto/xrpc-server brings express, pino and a rate limiter,
      // some 10 MB a daemon without --xrpc-port never needs.
      const { serveXrpc } = await import('./server.js')
      this.server = await serveXrpc({
        host: this.opts.host,
        identity: this.opts.identity,
        port: wish.port,
        hostname: wish.hostname,
        log: this.log,
      })
    })
    this.changing = next.catch(() => undefined)
    return next
  }

  /** Puts the current endpoint (or its absence) on the meshlet's record. Failures are logged:
   *  the API is an extra, and records keep working without it. */
  async publish(reader: RepoReader, writer: RepoWriter): Promise<void> {
    await this.changing
    const endpoint = this.endpoint
    try {
      if (await publishEndpoint(reader, writer, endpoint)) {
        this.log.log('info', 'xrpc.endpoint', { endpoint: endpoint ?? null })
      }
    } catch (err) {
      this.log.log('warn', 'xrpc.endpoint.failed', { error: (err as Error).message })
    }
  }

  async close(): Promise<void> {
    await this.apply(undefined)
  }
}
