// A real HTTP proxy on 127.0.0.1 in front of a PDS that answers 429 to repo writes (or what
// `refuse` matches: blob uploads, say) while told to, with the `ratelimit-*` headers a PDS sends.
// Everything else passes through unchanged.
import { createServer, request, type IncomingMessage, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'

const WRITES = /^\/xrpc\/com\.atproto\.repo\.(putRecord|createRecord|deleteRecord|applyWrites)/

export class RateLimitProxy {
  private server?: Server
  private refuseUntil = 0
  /** Writes answered 429, and writes passed through. */
  refused = 0
  passed = 0

  constructor(
    private readonly target: string,
    private readonly refuse: RegExp = WRITES,
  ) {}

  async start(): Promise<string> {
    const target = new URL(this.target)
    this.server = createServer((req, res) => {
      const write = req.method === 'POST' && this.refuse.test(req.url ?? '')
      if (write && Date.now() < this.refuseUntil) {
        this.refused++
        req.resume()
        res.writeHead(429, {
          'content-type': 'application/json',
          'ratelimit-limit': '5000',
          'ratelimit-remaining': '0',
          'ratelimit-reset': String(Math.ceil(this.refuseUntil / 1000)),
          'ratelimit-policy': '5000;w=3600',
        })
        res.end(JSON.stringify({ error: 'RateLimitExceeded', message: 'Rate Limit Exceeded' }))
        return
      }
      if (write) this.passed++
      const upstream = request(
        {
          host: target.hostname,
          port: target.port,
          method: req.method,
          path: req.url,
          headers: { ...req.headers, host: target.host },
        },
        (up: IncomingMessage) => {
          res.writeHead(up.statusCode ?? 502, up.headers)
          up.pipe(res)
        },
      )
      upstream.on('error', () => res.destroy())
      req.pipe(upstream)
    })
    await new Promise<void>((resolve) => this.server!.listen(0, '127.0.0.1', resolve))
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`
  }

  /** Answers 429 to every write for `ms` from now. */
  refuseFor(ms: number): void {
    this.refuseUntil = Date.now() + ms
  }

  async close(): Promise<void> {
    this.server?.closeAllConnections()
    await new Promise((resolve) => this.server?.close(resolve))
  }
}
