// The meshlet's XRPC server, farm.meshlet.*, on one node:http socket. farm.meshlet.ping, which
// every peer asks every 2 s, is answered here (farm/meshlet/ping.ts); every other method goes to
// @atproto/xrpc-server (router.ts), loaded on the first request for one, so an idle meshlet that
// serves its API carries no more than the socket. Composed from outside with an XrpcHost; it owns
// nothing but its socket.
import { createServer as createHttpServer, type Server as HttpServer } from 'node:http'
import type { RequestListener } from 'node:http'
import type { AddressInfo } from 'node:net'
import type { IdentityResolver } from '../identity/resolver.js'
import { errorFields, silentLogger, type Logger } from '../log.js'
import { pingHandler } from './farm/meshlet/ping.js'
import type { RateLimitOptions } from './rate-limit.js'
import type { XrpcHost } from './host.js'
import type { ReplayCache } from './replay-cache.js'

export interface XrpcServerOptions {
  host: XrpcHost
  /** Resolves token issuers' DID documents (their signing keys). */
  identity: Pick<IdentityResolver, 'resolveDid'>
  /** 0: any free port. */
  port: number
  /** Default 127.0.0.1. */
  hostname?: string
  log?: Logger
  replay?: ReplayCache
  /** farm.meshlet.ping's limit per caller address (default PING_LIMIT; benchmarks raise it). */
  pingLimit?: RateLimitOptions
  now?: () => number
}

export interface XrpcServer {
  /** `http://<hostname>:<port>`, as bound. */
  readonly url: string
  readonly hostname: string
  readonly port: number
  close(): Promise<void>
  [Symbol.asyncDispose](): Promise<void>
}

export class XrpcServeError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options)
    this.name = 'XrpcServeError'
  }
}

export async function serveXrpc(opts: XrpcServerOptions): Promise<XrpcServer> {
  const log = opts.log ?? silentLogger
  const hostname = opts.hostname ?? '127.0.0.1'
  const ping = pingHandler(opts.host, opts.pingLimit)
  let router: Promise<RequestListener> | undefined
  const routed: RequestListener = (req, res) => {
    router ??= import('./router.js').then((m) => m.xrpcRouter(opts, log))
    router.then(
      (handle) => handle(req, res),
      (err: unknown) => {
        router = undefined // a failed load is tried again on the next request
        log.log('error', 'xrpc.error', { error: errorFields(err as Error) })
        if (res.headersSent) return void res.destroy()
        res.writeHead(500, { 'content-type': 'application/json; charset=utf-8' })
        res.end(JSON.stringify({ error: 'InternalServerError', message: 'Internal Server Error' }))
      },
    )
  }
  const http: HttpServer = createHttpServer((req, res) =>
    ping.matches(req) ? ping.handle(req, res) : routed(req, res),
  )
  // Slow or idle clients must not hold sockets open.
  http.headersTimeout = 10_000
  http.requestTimeout = 30_000
  http.keepAliveTimeout = 5_000
  await new Promise<void>((resolve, reject) => {
    http.once('error', (err) =>
      reject(new XrpcServeError(`cannot serve on ${hostname}:${opts.port}`, { cause: err })),
    )
    http.listen(opts.port, hostname, () => resolve())
  })
  const port = (http.address() as AddressInfo).port
  const shown = hostname.includes(':') ? `[${hostname}]` : hostname
  const url = `http://${shown}:${port}`
  log.log('info', 'xrpc.listening', { url })
  let closing: Promise<void> | undefined
  const close = () =>
    (closing ??= new Promise<void>((resolve) => {
      http.close(() => resolve())
      http.closeAllConnections()
    }))
  return { url, hostname, port, close, [Symbol.asyncDispose]: close }
}
