// The library side of the meshlet's XRPC server: farm.meshlet.* on @atproto/xrpc-server, whose
// schemas (generated from lexicons/ by @atproto/lex) validate every request's parameters and input
// and every answer. Loaded by server.ts on the first request that needs it (all but ping), since
// the library brings express, pino and a rate limiter: some 10 MB an idle meshlet never needs.
import type { RequestListener } from 'node:http'
import { createServer, XRPCError } from '@atproto/xrpc-server'
import { errorFields, type Logger } from '../log.js'
import { ServiceAuth } from './auth.js'
import { MethodContext } from './context.js'
import { addDeleteWorkload } from './farm/meshlet/delete-workload.js'
import { addGetCapacity } from './farm/meshlet/get-capacity.js'
import { addGetWorkloadLogs } from './farm/meshlet/get-workload-logs.js'
import { addGetWorkloadStatus } from './farm/meshlet/get-workload-status.js'
import { addListWorkloads } from './farm/meshlet/list-workloads.js'
import { addPause } from './farm/meshlet/pause.js'
import { addResume } from './farm/meshlet/resume.js'
import { ReplayCache } from './replay-cache.js'
import type { XrpcServerOptions } from './server.js'

/** Our inputs are a workload URI; anything larger than this is not a request of ours. */
export const MAX_INPUT_BYTES = 16 * 1024

export function xrpcRouter(opts: XrpcServerOptions, log: Logger): RequestListener {
  const auth = new ServiceAuth({
    identity: opts.identity,
    replay: opts.replay ?? new ReplayCache(),
    ...(opts.now ? { now: opts.now } : {}),
  })
  const ctx = new MethodContext(opts.host, auth, log)
  const xrpc = createServer([], {
    validateResponse: true,
    payload: { jsonLimit: MAX_INPUT_BYTES, blobLimit: MAX_INPUT_BYTES, textLimit: MAX_INPUT_BYTES },
    errorParser: (err) => {
      const e = XRPCError.fromError(err)
      // Our own failures are logged; the caller's (4xx) are their business.
      if (e.statusCode >= 500) {
        log.log('error', 'xrpc.error', { error: errorFields(err as Error) })
      }
      return e
    },
  })
  for (const add of [
    addGetCapacity,
    addListWorkloads,
    addGetWorkloadStatus,
    addGetWorkloadLogs,
    addDeleteWorkload,
    addPause,
    addResume,
  ]) {
    add(xrpc, ctx)
  }
  return xrpc.router
}
