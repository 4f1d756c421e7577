// farm.meshlet.getWorkloadStatus: this meshlet's view of a workload. Its owner only.
import type { Server } from '@atproto/xrpc-server'
import { InvalidRequestError } from '@atproto/xrpc-server'
import { farm } from '../../../lexicon/index.js'
import type { MethodContext } from '../../context.js'

const method = farm.meshlet.getWorkloadStatus

export function addGetWorkloadStatus(server: Server, ctx: MethodContext): void {
  server.add(method, {
    auth: ctx.auth(method.$lxm),
    handler: ({ auth, params }) => {
      ctx.authorize('workload-owner', auth.credentials.did, method.$lxm, params.uri)
      const body = ctx.host.workloadStatus(params.uri)
      if (!body) throw new InvalidRequestError('this meshlet does not know it', 'WorkloadNotFound')
      return { encoding: 'application/json', body }
    },
  })
}
