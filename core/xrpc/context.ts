// What every method handler shares: the host, service auth, and the authorization rules.
import type { IncomingMessage } from 'node:http'
import { ForbiddenError, ResponseType, XRPCError } from '@atproto/xrpc-server'
import { authorize, type Rule } from './authorize.js'
import type { ServiceAuth } from './auth.js'
import type { XrpcHost } from './host.js'
import type { Logger } from '../log.js'

export interface AuthResult {
  credentials: { did: string }
}

export class MethodContext {
  constructor(
    readonly host: XrpcHost,
    private readonly serviceAuth: ServiceAuth,
    private readonly log: Logger,
  ) {}

  /** This meshlet's identity, or 503 while it does not run (no audience to check tokens for). */
  self(): { meshlet: string; owner: string } {
    const self = this.host.self()
    if (!self) {
      throw new XRPCError(ResponseType.NotEnoughResources, 'this meshlet is not running yet')
    }
    return self
  }

  /** The library's auth hook for method `lxm`: 401 unless a valid, fresh token for it. */
  auth(lxm: string): (ctx: { req: IncomingMessage }) => Promise<AuthResult> {
    return async ({ req }) => {
      const { meshlet } = this.self()
      const caller = await this.serviceAuth.verify(req, meshlet, lxm)
      return { credentials: caller }
    }
  }

  /** 403 with the reason unless `caller` may act by `rule`; nothing has changed yet. */
  authorize(rule: Rule, caller: string, lxm: string, workloadUri?: string): void {
    const { owner } = this.self()
    const decision = authorize(rule, caller, {
      owner,
      members: this.host.members(),
      ...(workloadUri !== undefined ? { workloadUri } : {}),
    })
    if (!decision.ok) {
      this.log.log('info', 'xrpc.forbidden', { method: lxm, caller, reason: decision.reason })
      throw new ForbiddenError(decision.reason, 'Forbidden')
    }
  }
}
