// The dashboard in a browser: the daemon serves the built renderer and a WebSocket that carries
// the api.ts contract, on 127.0.0.1 only. Anything on this machine can reach a loopback port, and
// any web page can try to, so every request must pass three checks: the Host header names our
// loopback address (DNS rebinding), a WebSocket's Origin is our own page (cross-site pages), and
// the connection carries the random token printed with the URL.
import { randomBytes, timingSafeEqual } from 'node:crypto'
import { readFile, stat } from 'node:fs/promises'
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { extname, join, normalize, resolve, sep } from 'node:path'
import { WebSocketServer, type WebSocket } from 'ws'
import {
  ApiError,
  EVENT_NAMES,
  toErrorPayload,
  validateArgs,
  type ApiHost,
  type MethodName,
  type WireServerFrame,
} from './api.js'
import { errorFields, silentLogger, type Logger } from './log.js'

/** The token travels as a WebSocket subprotocol: browsers cannot set headers on a WebSocket,
 *  and a subprotocol, unlike a query string, is not written to access logs or history. */
export const TOKEN_PROTOCOL_PREFIX = 'meshlet.token.'
/** The protocol the server selects; the token protocol is never echoed back. */
export const WIRE_PROTOCOL = 'meshlet.v1'
/** Close code for a missing or wrong token: the page stops retrying and says so. */
export const CLOSE_UNAUTHORIZED = 4401
const MAX_FRAME_BYTES = 64 * 1024
const MAX_CONNECTIONS = 16

export interface UiServerOptions {
  host: ApiHost
  /** 0 picks a free port. */
  port: number
  /** The built renderer (dist/renderer). */
  staticDir: string
  /** Default: 32 random bytes. */
  token?: string
  log?: Logger
}

export class UiServerError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options)
    this.name = 'UiServerError'
  }
}

export class UiServer {
  readonly token: string
  private server?: Server
  private wss?: WebSocketServer
  private port = 0
  private readonly log: Logger
  private readonly root: string

  constructor(private readonly opts: UiServerOptions) {
    this.token = opts.token ?? randomBytes(32).toString('base64url')
    this.log = opts.log ?? silentLogger
    this.root = resolve(opts.staticDir)
  }

  /** The page to open: the token rides in the fragment, which browsers never send to a server. */
  get url(): string {
    return `http://127.0.0.1:${this.port}/#token=${this.token}`
  }

  get origin(): string {
    return `http://127.0.0.1:${this.port}`
  }

  async start(): Promise<void> {
    const index = join(this.root, 'index.html')
    if (!(await stat(index).catch(() => undefined))?.isFile()) {
      throw new UiServerError(
        `the dashboard is not built (${index} is missing): npm run build:renderer`,
      )
    }
    const server = createServer((req, res) => void this.serveFile(req, res))
    const wss = new WebSocketServer({
      noServer: true,
      maxPayload: MAX_FRAME_BYTES,
      handleProtocols: (protocols) => (protocols.has(WIRE_PROTOCOL) ? WIRE_PROTOCOL : false),
    })
    server.on('upgrade', (req, socket, head) => {
      const refuse = (status: number, why: string) => {
        this.log.log('warn', 'ui.refused', { why, origin: req.headers.origin })
        socket.end(`HTTP/1.1 ${status} ${why}\r\nConnection: close\r\n\r\n`)
      }
      let path: string
      try {
        path = new URL(req.url ?? '/', 'http://x').pathname
      } catch {
        return refuse(400, 'Bad Request')
      }
      if (path !== '/api') return refuse(404, 'Not Found')
      if (!this.hostAllowed(req)) return refuse(421, 'Misdirected Request')
      const origin = req.headers.origin
      // A browser always sends Origin; only our own page may connect. Tools without a browser
      // send none and still need the token.
      if (origin !== undefined && !this.originAllowed(origin)) return refuse(403, 'Forbidden')
      const offered = String(req.headers['sec-websocket-protocol'] ?? '')
        .split(',')
        .map((p) => p.trim())
      if (!offered.includes(WIRE_PROTOCOL)) return refuse(400, 'Bad Request')
      if (wss.clients.size >= MAX_CONNECTIONS) return refuse(503, 'Service Unavailable')
      const authorized = offered.some((p) => this.tokenMatches(p))
      wss.handleUpgrade(req, socket, head, (ws) => {
        if (authorized) return this.connected(ws)
        // Upgraded, then closed with a code the page understands: a refused upgrade looks to a
        // browser just like a daemon that is not running, and it would retry for ever.
        this.log.log('warn', 'ui.refused', { why: 'token' })
        ws.close(CLOSE_UNAUTHORIZED, 'the dashboard link is out of date: open the printed one')
        // Not kept waiting for the client's answer: refused sockets must not hold the slots.
        setTimeout(() => ws.terminate(), 1000).unref()
      })
    })
    await new Promise<void>((done, fail) => {
      server.once('error', (err) => fail(new UiServerError('cannot listen', { cause: err })))
      server.listen(this.opts.port, '127.0.0.1', () => done())
    })
    this.server = server
    this.wss = wss
    this.port = (server.address() as AddressInfo).port
    this.log.log('info', 'ui.listening', { origin: this.origin })
  }

  async close(): Promise<void> {
    for (const ws of this.wss?.clients ?? []) ws.close(1001, 'closing')
    this.wss?.close()
    await new Promise<void>((done) => {
      if (!this.server) return done()
      this.server.close(() => done())
      this.server.closeAllConnections()
    })
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close()
  }

  private tokenMatches(protocol: string): boolean {
    if (!protocol.startsWith(TOKEN_PROTOCOL_PREFIX)) return false
    const given = Buffer.from(protocol.slice(TOKEN_PROTOCOL_PREFIX.length))
    const want = Buffer.from(this.token)
    return given.length === want.length && timingSafeEqual(given, want)
  }

  private hostAllowed(req: IncomingMessage): boolean {
    const host = req.headers.host
    return host === `127.0.0.1:${this.port}` || host === `localhost:${this.port}`
  }

  private originAllowed(origin: string): boolean {
    return origin === this.origin || origin === `http://localhost:${this.port}`
  }

  private connected(ws: WebSocket): void {
    const send = (frame: WireServerFrame) => {
      if (ws.readyState === ws.OPEN) ws.send(JSON.stringify(frame))
    }
    const unsubscribe = EVENT_NAMES.map((event) =>
      this.opts.host.subscribe(event, (payload) => send({ event, payload })),
    )
    ws.on('close', () => unsubscribe.forEach((u) => u()))
    ws.on('error', (err) => this.log.log('warn', 'ui.socket', { error: errorFields(err) }))
    ws.on('message', (data, isBinary) => void this.onFrame(data.toString(), isBinary, send))
    void this.opts.host.call('state.get', undefined).then(
      (payload) => send({ event: 'state', payload }),
      (err: unknown) => this.log.log('error', 'ui.state', { error: errorFields(err as Error) }),
    )
  }

  private async onFrame(
    text: string,
    isBinary: boolean,
    send: (f: WireServerFrame) => void,
  ): Promise<void> {
    let frame: unknown
    try {
      frame = isBinary ? undefined : JSON.parse(text)
    } catch {
      frame = undefined
    }
    const id = (frame as { id?: unknown } | undefined)?.id
    if (typeof id !== 'number' || !Number.isSafeInteger(id)) {
      // Nothing to answer to; a client that sends garbage is told once and ignored.
      this.log.log('warn', 'ui.bad-frame', { bytes: text.length })
      return
    }
    const { method, args } = frame as { method?: unknown; args?: unknown }
    try {
      const checked = validateArgs(method, args)
      const result = await this.opts.host.call(method as MethodName, checked as never)
      send({ id, ok: true, result: result as never })
    } catch (err) {
      if (!(err instanceof ApiError)) {
        this.log.log('error', 'ui.call', {
          method: String(method),
          error: errorFields(err as Error),
        })
      }
      send({ id, ok: false, error: toErrorPayload(err) })
    }
  }

  private async serveFile(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const headers = {
      'X-Content-Type-Options': 'nosniff',
      'X-Frame-Options': 'DENY',
      'Referrer-Policy': 'no-referrer',
      'Cross-Origin-Opener-Policy': 'same-origin',
      'Cache-Control': 'no-store',
    }
    if (!this.hostAllowed(req)) {
      res.writeHead(421, headers).end('Misdirected Request')
      return
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { ...headers, Allow: 'GET, HEAD' }).end()
      return
    }
    let path: string
    try {
      path = decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname)
    } catch {
      res.writeHead(400, headers).end('Bad Request')
      return
    }
    const file = normalize(join(this.root, path === '/' ? 'index.html' : path))
    if (!file.startsWith(this.root + sep) || path.includes('\0')) {
      res.writeHead(404, headers).end('Not Found')
      return
    }
    let body: Buffer
    try {
      body = await readFile(file)
    } catch {
      res.writeHead(404, headers).end('Not Found')
      return
    }
    res.writeHead(200, {
      ...headers,
      'Content-Type': TYPES[extname(file)] ?? 'application/octet-stream',
      'Content-Length': body.length,
      'Content-Security-Policy': CSP,
    })
    res.end(req.method === 'HEAD' ? undefined : body)
  }
}

const CSP = [
  "default-src 'self'",
  "script-src 'self'",
  "style-src 'self' 'unsafe-inline'",
  "img-src 'self' data:",
  "connect-src 'self' ws://127.0.0.1:* ws://localhost:*",
  "frame-ancestors 'none'",
  "base-uri 'none'",
  "form-action 'none'",
].join('; ')

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.json': 'application/json',
  '.woff2': 'font/woff2',
}

/** Starts the dashboard server; the caller prints `url` for the user. */
export async function serveUi(opts: UiServerOptions): Promise<UiServer> {
  const server = new UiServer(opts)
  await server.start()
  return server
}
