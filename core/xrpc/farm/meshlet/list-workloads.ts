// farm.meshlet.listWorkloads: the guest replicas this meshlet runs or ran. Cluster members.
import type { Server } from '@atproto/xrpc-server'
import { InvalidRequestError } from '@atproto/xrpc-server'
import { farm } from '../../../lexicon/index.js'
import type { MethodContext } from '../../context.js'

const method = farm.meshlet.listWorkloads

export function addListWorkloads(server: Server, ctx: MethodContext): void {
  server.add(method, {
    auth: ctx.auth(method.$lxm),
    handler: ({ auth, params }) => {
      ctx.authorize('member', auth.credentials.did, method.$lxm)
      // The cursor is an offset into the stable order the host gives.
      const offset = params.cursor === undefined ? 0 : Number(params.cursor)
      if (!Number.isSafeInteger(offset) || offset < 0) {
        throw new InvalidRequestError('malformed cursor', 'InvalidCursor')
      }
      const all = ctx.host.replicas()
      const limit = params.limit ?? 50
      const page = all.slice(offset, offset + limit)
      const next = offset + page.length
      return {
        encoding: 'application/json',
        body: { replicas: page, ...(next < all.length ? { cursor: String(next) } : {}) },
      }
    },
  })
}
