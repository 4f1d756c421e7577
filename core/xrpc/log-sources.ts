// Where a workload's output can be read, tried in order for each host of its replicas: first the
// host itself over XRPC (when it publishes an endpoint and answers), then whatever later sources
// are added (sealed result blobs, for a host that cannot be reached). A source that has nothing
// says why, and the next one is tried.
import type { farm } from '../lexicon/index.js'
import { MeshletClient, UnreachableError } from './client.js'

export type ReplicaLogs = farm.meshlet.defs.ReplicaLogs

export interface LogQuery {
  uri: string
  lines?: number
  /** Only lines after this time (RFC 3339), for following. */
  since?: string
}

export type SourceAnswer =
  { ok: true; replicas: ReplicaLogs[] } | { ok: false; reason: string; unreachable?: boolean }

export interface LogSource {
  readonly name: string
  read(host: string, query: LogQuery): Promise<SourceAnswer>
}

export interface HostLogs {
  host: string
  /** The source that answered, if any did. */
  source?: string
  replicas: ReplicaLogs[]
  /** Why each source tried before (or instead of) the one that answered had nothing. */
  tried: { source: string; reason: string; unreachable?: boolean }[]
}

/** The host itself, over farm.meshlet.getWorkloadLogs. */
export function xrpcLogSource(client: MeshletClient): LogSource {
  return {
    name: 'host',
    read: async (host, query) => {
      try {
        const body = await client.logs(host, query.uri, {
          ...(query.lines ? { lines: query.lines } : {}),
          ...(query.since ? { since: query.since } : {}),
        })
        return { ok: true, replicas: body.replicas }
      } catch (err) {
        const unreachable = err instanceof UnreachableError
        return {
          ok: false,
          reason: (err as Error).message,
          ...(unreachable ? { unreachable } : {}),
        }
      }
    },
  }
}

/** Asks each host, trying `sources` in order until one answers. Hosts are asked in parallel. */
export async function collectLogs(
  hosts: string[],
  query: LogQuery,
  sources: LogSource[],
): Promise<HostLogs[]> {
  return Promise.all(
    hosts.map(async (host) => {
      const result: HostLogs = { host, replicas: [], tried: [] }
      for (const source of sources) {
        let answer: SourceAnswer
        try {
          answer = await source.read(host, query)
        } catch (err) {
          answer = { ok: false, reason: (err as Error).message }
        }
        if (answer.ok) {
          result.source = source.name
          result.replicas = answer.replicas
          return result
        }
        result.tried.push({
          source: source.name,
          reason: answer.reason,
          ...(answer.unreachable ? { unreachable: true } : {}),
        })
      }
      return result
    }),
  )
}
