// farm.meshlet.ping: liveness off the repo (core/liveness). Anyone may call it: a service-auth
// token would cost the prober a PDS call per probe, every few seconds per host, and the answer
// (this meshlet's DID, which its public records name anyway) tells a stranger nothing new. Each
// address gets a few calls a second; a 503 while no meshlet runs reads as silence, as it should.
//
// Answered on plain node:http, ahead of @atproto/xrpc-server (server.ts): every meshlet that
// serves its API is pinged every 2 s by each peer, and an idle one should not load the library
// (some 10 MB) for an answer this small. The answer and the errors have XRPC's shape; the
// server tests read them with the lexicon's own client, which validates the output.
import type { IncomingMessage, ServerResponse } from 'node:http'
import { farm } from '../../../lexicon/index.js'
import type { XrpcHost } from '../../host.js'
import { FixedWindowLimit, type RateLimitOptions } from '../../rate-limit.js'

const PATH = `/xrpc/${farm.meshlet.ping.$lxm}`

/** A prober asks every 2 s; ten a second leaves room for several peers behind one address. */
export const PING_LIMIT = { limit: 10, windowMs: 1_000, maxKeys: 10_000 }

export interface PingHandler {
  /** Whether `req` asks for farm.meshlet.ping (any method: a wrong one is answered 400). */
  matches(req: IncomingMessage): boolean
  handle(req: IncomingMessage, res: ServerResponse): void
}

/** `limit` other than PING_LIMIT is for benchmarks, which ask thousands of times a second. */
export function pingHandler(
  host: Pick<XrpcHost, 'self'>,
  limit: RateLimitOptions = PING_LIMIT,
): PingHandler {
  const perAddress = new FixedWindowLimit(limit)
  return {
    matches: (req) => (req.url ?? '').split('?', 1)[0] === PATH,
    handle(req, res) {
      if (req.method !== 'GET' && req.method !== 'HEAD') {
        return send(res, 400, {
          error: 'InvalidRequest',
          message: `Incorrect HTTP method (${req.method ?? '?'}) expected GET`,
        })
      }
      if (!perAddress.allow(req.socket.remoteAddress ?? '')) {
        return send(res, 429, {
          error: 'RateLimitExceeded',
          message: 'too many pings from this address',
        })
      }
      const self = host.self()
      if (!self) {
        return send(res, 503, {
          error: 'NotEnoughResources',
          message: 'this meshlet is not running yet',
        })
      }
      send(res, 200, { meshlet: self.meshlet })
    },
  }
}

function send(res: ServerResponse, status: number, body: object): void {
  const json = JSON.stringify(body)
  res.writeHead(status, {
    'content-type': 'application/json; charset=utf-8',
    'content-length': Buffer.byteLength(json),
    'cache-control': 'no-store',
  })
  res.end(res.req.method === 'HEAD' ? undefined : json)
}
