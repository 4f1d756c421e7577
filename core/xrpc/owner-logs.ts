// A workload owner reads what their replicas printed: each host is asked through the log sources
// in order (today: the host over XRPC), with tokens from the owner's own PDS.
import type { WorkloadLogsView } from '../api.js'
import type { RepoReader } from '../repo/reader.js'
import { AgentWriter, type RepoWriter } from '../repo/writer.js'
import { agentCaller, MeshletClient } from './client.js'
import { collectLogs, xrpcLogSource, type LogSource } from './log-sources.js'

export interface WorkloadLogsOptions {
  /** The owner's session (app password or OAuth). */
  owner: RepoWriter
  reader: RepoReader
  uri: string
  hosts: string[]
  lines?: number
  /** Sources after the host itself (sealed results, when the host cannot be reached). */
  fallbacks?: LogSource[]
}

export class OwnerSessionError extends Error {
  constructor(message: string) {
    super(message)
    this.name = 'OwnerSessionError'
  }
}

export function ownerClient(owner: RepoWriter, reader: RepoReader): MeshletClient {
  if (!(owner instanceof AgentWriter)) {
    throw new OwnerSessionError('this session cannot ask its PDS for service tokens')
  }
  return new MeshletClient({ caller: agentCaller(owner.agent, owner.did), reader })
}

export async function workloadLogs(opts: WorkloadLogsOptions): Promise<WorkloadLogsView> {
  const client = ownerClient(opts.owner, opts.reader)
  const hosts = [...new Set(opts.hosts)]
  const results = await collectLogs(hosts, { uri: opts.uri, lines: opts.lines ?? 200 }, [
    xrpcLogSource(client),
    ...(opts.fallbacks ?? []),
  ])
  return {
    uri: opts.uri,
    hosts: results.map((r) => ({
      meshlet: r.host,
      reachable: r.source !== undefined || !r.tried.some((t) => t.unreachable),
      ...(r.source === undefined && r.tried.length > 0
        ? { reason: r.tried.map((t) => t.reason).join('; ') }
        : {}),
      replicas: r.replicas.map((x) => ({
        round: x.round,
        state: x.state,
        truncated: x.truncated,
        lines: x.lines.map((l) => ({ at: l.at, stream: l.stream, text: l.text })),
      })),
    })),
  }
}
