// farm.meshlet.pause: stop lending (guests drain). This meshlet's owner only.
import type { Server } from '@atproto/xrpc-server'
import { farm } from '../../../lexicon/index.js'
import type { MethodContext } from '../../context.js'

const method = farm.meshlet.pause

export function addPause(server: Server, ctx: MethodContext): void {
  server.add(method, {
    auth: ctx.auth(method.$lxm),
    handler: async ({ auth }) => {
      ctx.authorize('meshlet-owner', auth.credentials.did, method.$lxm)
      await ctx.host.pause()
      return { encoding: 'application/json', body: ctx.host.capacity() }
    },
  })
}
