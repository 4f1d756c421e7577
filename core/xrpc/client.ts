// The caller's side of farm.meshlet.*: find a meshlet's endpoint in its record, get a one-shot
// service-auth token from the caller's own PDS (com.atproto.server.getServiceAuth, aud = the
// meshlet, lxm = the method), and call it with @atproto/lex's client, which validates the answer
// against the same generated schemas the server uses.
import { xrpc, XrpcResponseError, type NsidString } from '@atproto/lex'
import { com, farm } from '../lexicon/index.js'
import type { RepoReader } from '../repo/reader.js'
import type { SessionAgent } from '../repo/writer.js'
import { findEndpoint } from './endpoint.js'

/** Someone who can ask their PDS for service-auth tokens. */
export interface Caller {
  readonly did: string
  serviceToken(aud: string, lxm: string): Promise<string>
}

/** A Caller over a signed-in session's agent (an app-password or OAuth session). */
export function agentCaller(agent: SessionAgent, did: string): Caller {
  return {
    did,
    serviceToken: async (aud, lxm) => {
      const res = await xrpc(agent, com.atproto.server.getServiceAuth, {
        params: { aud, lxm: lxm as NsidString },
      })
      return res.body.token
    },
  }
}

export class MeshletCallError extends Error {
  constructor(
    message: string,
    /** HTTP status when the meshlet answered; undefined when it could not be reached. */
    readonly status?: number,
    options?: { cause?: unknown },
  ) {
    super(message, options)
    this.name = 'MeshletCallError'
  }
}

/** The meshlet publishes no endpoint, or does not answer at it. */
export class UnreachableError extends MeshletCallError {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, undefined, options)
    this.name = 'UnreachableError'
  }
}

export interface MeshletClientOptions {
  caller: Caller
  reader: RepoReader
  /** Per call; default 10 s. */
  timeoutMs?: number
  /** Where a meshlet serves, when known without its record (tests); else read from it. */
  endpointOf?: (meshletDid: string) => Promise<string | undefined>
}

type Method =
  | typeof farm.meshlet.getCapacity
  | typeof farm.meshlet.listWorkloads
  | typeof farm.meshlet.getWorkloadStatus
  | typeof farm.meshlet.getWorkloadLogs
  | typeof farm.meshlet.deleteWorkload
  | typeof farm.meshlet.pause
  | typeof farm.meshlet.resume

export class MeshletClient {
  constructor(private readonly opts: MeshletClientOptions) {}

  get caller(): Caller {
    return this.opts.caller
  }

  async endpoint(meshletDid: string): Promise<string> {
    let found: string | undefined
    try {
      found = await (this.opts.endpointOf ?? ((d) => findEndpoint(this.opts.reader, d)))(meshletDid)
    } catch (err) {
      throw new UnreachableError(`cannot read where ${meshletDid} serves`, { cause: err })
    }
    if (!found) throw new UnreachableError(`${meshletDid} publishes no API endpoint`)
    return found
  }

  capacity(meshlet: string) {
    return this.call(meshlet, farm.meshlet.getCapacity, {})
  }

  async replicas(meshlet: string) {
    const all: farm.meshlet.defs.ReplicaView[] = []
    let cursor: string | undefined
    do {
      const page = await this.call(meshlet, farm.meshlet.listWorkloads, {
        params: { limit: 100, ...(cursor ? { cursor } : {}) },
      })
      all.push(...page.replicas)
      cursor = page.cursor
    } while (cursor)
    return all
  }

  workloadStatus(meshlet: string, uri: string) {
    return this.call(meshlet, farm.meshlet.getWorkloadStatus, { params: { uri: uri as never } })
  }

  logs(meshlet: string, uri: string, opts: { lines?: number; since?: string } = {}) {
    return this.call(meshlet, farm.meshlet.getWorkloadLogs, {
      params: {
        uri: uri as never,
        ...(opts.lines ? { lines: opts.lines } : {}),
        ...(opts.since ? { since: opts.since as never } : {}),
      },
    })
  }

  deleteWorkload(meshlet: string, uri: string) {
    return this.call(meshlet, farm.meshlet.deleteWorkload, { body: { uri: uri as never } })
  }

  pause(meshlet: string) {
    return this.call(meshlet, farm.meshlet.pause, {})
  }

  resume(meshlet: string) {
    return this.call(meshlet, farm.meshlet.resume, {})
  }

  private async call<M extends Method>(
    meshlet: string,
    method: M,
    options: { params?: Record<string, unknown>; body?: Record<string, unknown> },
  ): Promise<Awaited<ReturnType<typeof xrpc<M['main']>>>['body']> {
    const service = await this.endpoint(meshlet)
    const token = await this.opts.caller
      .serviceToken(meshlet, method.$lxm)
      .catch((err: unknown) => {
        throw new MeshletCallError(`your PDS gave no token for ${method.$lxm}`, undefined, {
          cause: err,
        })
      })
    try {
      const res = await xrpc(
        { service, headers: { authorization: `Bearer ${token}` } },
        method.main,
        {
          ...(options as object),
          signal: AbortSignal.timeout(this.opts.timeoutMs ?? 10_000),
        } as never,
      )
      return res.body as never
    } catch (err) {
      if (err instanceof XrpcResponseError) {
        throw new MeshletCallError(
          `${meshlet} refused ${method.$lxm} (${err.status}): ${err.message}`,
          err.status,
          { cause: err },
        )
      }
      throw new UnreachableError(`this machine cannot be reached at ${service}`, { cause: err })
    }
  }
}
