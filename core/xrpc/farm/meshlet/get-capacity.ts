// farm.meshlet.getCapacity: what this meshlet has, lends and uses. Cluster members.
import type { Server } from '@atproto/xrpc-server'
import { farm } from '../../../lexicon/index.js'
import type { MethodContext } from '../../context.js'

const method = farm.meshlet.getCapacity

export function addGetCapacity(server: Server, ctx: MethodContext): void {
  server.add(method, {
    auth: ctx.auth(method.$lxm),
    handler: ({ auth }) => {
      ctx.authorize('member', auth.credentials.did, method.$lxm)
      return { encoding: 'application/json', body: ctx.host.capacity() }
    },
  })
}
