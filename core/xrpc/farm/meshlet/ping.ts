// farm.meshlet.ping: liveness off the repo (core/liveness). Anyone may call it: a service-auth
// token would cost the prober a PDS call per probe, every few seconds per host, and the answer
// (this meshlet's DID, which its public records name anyway) tells a stranger nothing new. Each
// address gets a few calls a second; a 503 while no meshlet runs reads as silence, as it should.
import type { Server } from '@atproto/xrpc-server'
import { ResponseType, XRPCError } from '@atproto/xrpc-server'
import { farm } from '../../../lexicon/index.js'
import type { MethodContext } from '../../context.js'
import { FixedWindowLimit } from '../../rate-limit.js'

const method = farm.meshlet.ping

/** A prober asks every 2 s; ten a second leaves room for several peers behind one address. */
export const PING_LIMIT = { limit: 10, windowMs: 1_000, maxKeys: 10_000 }

export function addPing(server: Server, ctx: MethodContext): void {
  const limit = new FixedWindowLimit(PING_LIMIT)
  server.add(method, {
    handler: ({ req }) => {
      if (!limit.allow(req.socket.remoteAddress ?? '')) {
        throw new XRPCError(ResponseType.RateLimitExceeded, 'too many pings from this address')
      }
      const { meshlet } = ctx.self()
      return {
        encoding: 'application/json',
        body: { meshlet: meshlet as `did:${string}:${string}` },
      }
    },
  })
}
