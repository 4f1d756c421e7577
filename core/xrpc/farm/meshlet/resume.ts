// farm.meshlet.resume: lend again after a pause. This meshlet's owner only.
import type { Server } from '@atproto/xrpc-server'
import { farm } from '../../../lexicon/index.js'
import type { MethodContext } from '../../context.js'

const method = farm.meshlet.resume

export function addResume(server: Server, ctx: MethodContext): void {
  server.add(method, {
    auth: ctx.auth(method.$lxm),
    handler: async ({ auth }) => {
      ctx.authorize('meshlet-owner', auth.credentials.did, method.$lxm)
      await ctx.host.resume()
      return { encoding: 'application/json', body: ctx.host.capacity() }
    },
  })
}
