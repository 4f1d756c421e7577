// The meshlet's XRPC server: farm.meshlet.* on @atproto/xrpc-server, whose schemas (generated
// from lexicons/ by @atproto/lex) validate every request's parameters and input and every
// answer. Composed from outside with an XrpcHost; it owns nothing but its socket.
import { createServer as createHttpServer, type Server as HttpServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { createServer, XRPCError } from '@atproto/xrpc-server'
import type { IdentityResolver } from '../identity/resolver.js'
import { errorFields, silentLogger, type Logger } from '../log.js'
import { ServiceAuth } from './auth.js'
import { MethodContext } from './context.js'
import type { XrpcHost } from './host.js'
import { ReplayCache } from './replay-cache.js'
import { addDeleteWorkload } from './farm/meshlet/delete-workload.js'
import { addGetCapacity } from './farm/meshlet/get-capacity.js'
import { addGetWorkloadLogs } from './farm/meshlet/get-workload-logs.js'
import { addGetWorkloadStatus } from './farm/meshlet/get-workload-status.js'
import { addListWorkloads } from './farm/meshlet/list-workloads.js'
import { addPause } from './farm/meshlet/pause.js'
import { addPing } from './farm/meshlet/ping.js'
import { addResume } from './farm/meshlet/resume.js'

/** Our inputs are a workload URI; anything larger than this is not a request of ours. */
export const MAX_INPUT_BYTES = 16 * 1024

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
  const auth = new ServiceAuth({
    identity: opts.identity,
    replay: opts.replay ?? new ReplayCache(),
    ...(opts.now ? { now: opts.now } : {}),
  })
  const ctx = new MethodContext(opts.host, auth, log)
  const xrpc = createServer([], {
    validateResponse: true,
    payload: { jsonLimit: MAX_INPUT_BYTES, blobLimit: MAX_INPUT_BYTES, textLimit: MAX_INPUT_BYTES },
    errorParser: (err) => {
      const e = XRPCError.fromError(err)
      // Our own failures are logged; the caller's (4xx) are their business.
      if (e.statusCode >= 500) {
        log.log('error', 'xrpc.error', { error: errorFields(err as Error) })
      }
      return e
    },
  })
  for (const add of [
    addGetCapacity,
    addListWorkloads,
    addGetWorkloadStatus,
    addGetWorkloadLogs,
    addDeleteWorkload,
    addPause,
    addResume,
    addPing,
  ]) {
    add(xrpc, ctx)
  }
  const http: HttpServer = createHttpServer(xrpc.router)
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
