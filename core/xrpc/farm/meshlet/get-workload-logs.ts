// farm.meshlet.getWorkloadLogs: the last lines each local replica of a workload printed,
// bounded (see core/runtime/logs.ts). Its owner only.
import type { Server } from '@atproto/xrpc-server'
import { InvalidRequestError } from '@atproto/xrpc-server'
import { farm } from '../../../lexicon/index.js'
import type { MethodContext } from '../../context.js'

const method = farm.meshlet.getWorkloadLogs

export function addGetWorkloadLogs(server: Server, ctx: MethodContext): void {
  server.add(method, {
    auth: ctx.auth(method.$lxm),
    handler: async ({ auth, params }) => {
      ctx.authorize('workload-owner', auth.credentials.did, method.$lxm, params.uri)
      const since = params.since === undefined ? undefined : Date.parse(params.since)
      const replicas = await ctx.host.logs(params.uri, {
        lines: params.lines ?? 200,
        ...(since !== undefined ? { since } : {}),
      })
      if (!replicas) {
        throw new InvalidRequestError('no replica of it runs or ran here', 'WorkloadNotFound')
      }
      return { encoding: 'application/json', body: { uri: params.uri, replicas } }
    },
  })
}
