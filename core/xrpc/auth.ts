// Service auth: callers present a JWT their own PDS signed (com.atproto.server.getServiceAuth,
// `aud` = this meshlet's DID, `lxm` = the method). The library checks format, expiry, audience,
// method and signature (`verifyJwt`, with the issuer's key from its DID document, refetched once
// when the signature does not match, for a rotated key); we add what it leaves to servers: each
// token is accepted once (its jti), and only short-lived tokens are accepted at all.
import type { IncomingMessage } from 'node:http'
import { AuthRequiredError, XRPCError, ResponseType, verifyJwt } from '@atproto/xrpc-server'
import type { IdentityResolver } from '../identity/resolver.js'
import { ReplayCache } from './replay-cache.js'

/** Tokens living longer than this are refused: the replay cache must hold each until expiry.
 *  A PDS issues one-minute tokens unless asked otherwise. */
export const MAX_TOKEN_TTL_S = 5 * 60

export interface ServiceAuthOptions {
  identity: Pick<IdentityResolver, 'resolveDid'>
  replay?: ReplayCache
  now?: () => number
}

export interface Caller {
  /** The DID that the token's issuer speaks for. */
  did: string
}

export class ServiceAuth {
  private readonly replay: ReplayCache
  private readonly now: () => number

  constructor(private readonly opts: ServiceAuthOptions) {
    this.replay = opts.replay ?? new ReplayCache()
    this.now = opts.now ?? Date.now
  }

  /** Verifies the request's bearer token for method `lxm` of meshlet `aud`; throws a 401
   *  (AuthRequiredError) saying why, or a 429 when too many tokens are in flight. */
  async verify(req: IncomingMessage, aud: string, lxm: string): Promise<Caller> {
    const header = req.headers.authorization
    if (!header) throw new AuthRequiredError('a service-auth token is required', 'AuthMissing')
    const match = /^Bearer\s+(\S+)$/i.exec(header)
    if (!match) throw new AuthRequiredError('expected a Bearer token', 'BadJwt')
    let payload: Awaited<ReturnType<typeof verifyJwt>>
    try {
      payload = await verifyJwt(match[1]!, aud, lxm, (iss, forceRefresh) =>
        this.signingKey(iss, forceRefresh),
      )
    } catch (err) {
      if (err instanceof XRPCError) throw err
      // Garbage that the library's parser chokes on (bad base64, not JSON) is a bad token,
      // not a server error.
      throw new AuthRequiredError('poorly formatted jwt', 'BadJwt', { cause: err })
    }
    const now = this.now()
    if (payload.exp * 1000 - now > MAX_TOKEN_TTL_S * 1000) {
      throw new AuthRequiredError(
        `token lives too long: ask for one expiring within ${MAX_TOKEN_TTL_S} s`,
        'BadJwtLifetime',
      )
    }
    if (typeof payload.jti !== 'string' || payload.jti.length === 0) {
      throw new AuthRequiredError('token has no jti, so it could be replayed', 'BadJwt')
    }
    const iss = payload.iss.split('#')[0]!
    switch (this.replay.check(`${iss}|${payload.jti}`, payload.exp * 1000, now)) {
      case 'replayed':
        throw new AuthRequiredError('token was used already', 'ReplayedJwt')
      case 'full':
        throw new XRPCError(
          ResponseType.RateLimitExceeded,
          'too many requests in flight; try again shortly',
        )
      case 'fresh':
        return { did: iss }
    }
  }

  private async signingKey(iss: string, forceRefresh: boolean): Promise<string> {
    const did = iss.split('#')[0]!
    try {
      return (await this.opts.identity.resolveDid(did, forceRefresh)).signingKey
    } catch (err) {
      throw new AuthRequiredError(`cannot resolve the token issuer ${did}`, 'BadJwtIss', {
        cause: err,
      })
    }
  }
}
