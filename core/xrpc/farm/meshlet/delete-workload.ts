// farm.meshlet.deleteWorkload: stop and remove this meshlet's replicas of a workload now. Its
// owner only; deleting the workload record does the same everywhere.
import type { Server } from '@atproto/xrpc-server'
import { farm } from '../../../lexicon/index.js'
import type { MethodContext } from '../../context.js'

const method = farm.meshlet.deleteWorkload

export function addDeleteWorkload(server: Server, ctx: MethodContext): void {
  server.add(method, {
    auth: ctx.auth(method.$lxm),
    handler: async ({ auth, input }) => {
      const uri = input.body.uri
      ctx.authorize('workload-owner', auth.credentials.did, method.$lxm, uri)
      const stopped = await ctx.host.deleteWorkload(uri)
      return { encoding: 'application/json', body: { stopped } }
    },
  })
}
