// Sealed results as a source of a workload's output: what `meshlet logs` and the app's Logs view
// fall back to when the host cannot be reached live (it is offline, or behind NAT). Read from the
// host's PDS and opened with the owner's key; anyone but the workload's owner is refused.
import { AtUri } from '@atproto/syntax'
import type { RepoReader } from '../repo/reader.js'
import type { LogSource, ReplicaLogs } from '../xrpc/log-sources.js'
import type { SealingKeyring } from './keys.js'
import { readResults, type ReadResult } from './results.js'

export interface SealedSourceOptions {
  reader: RepoReader
  /** Who asks: only a workload's owner can open its results. */
  caller: string
  keys: SealingKeyring
}

export function sealedLogSource(opts: SealedSourceOptions): LogSource {
  // One read per workload serves every host asked about.
  const cache = new Map<string, Promise<ReadResult[]>>()
  return {
    name: 'sealed results',
    read: async (host, query) => {
      const owner = new AtUri(query.uri).host
      if (owner !== opts.caller) {
        return {
          ok: false,
          reason: `refused: the output of ${query.uri} is sealed to its owner ${owner}; ${opts.caller} cannot read it`,
        }
      }
      if (!(await opts.keys.exists())) {
        return {
          ok: false,
          reason: `no sealing key of ${opts.caller} here: results are sealed to the key kept where the workload was submitted`,
        }
      }
      let pending = cache.get(query.uri)
      if (!pending) {
        pending = opts.keys.current().then((pair) => readResults(opts.reader, query.uri, pair))
        cache.set(query.uri, pending)
      }
      const mine = (await pending).filter((r) => r.meshlet === host)
      if (mine.length === 0) return { ok: false, reason: 'no sealed result from this host yet' }
      const opened = mine.filter((r) => r.ok)
      if (opened.length === 0) {
        return {
          ok: false,
          reason: `cannot open its sealed result: ${(mine[0] as { error: string }).error}`,
        }
      }
      return { ok: true, replicas: opened.map((r) => asReplicaLogs(r, query)) }
    },
  }
}

function asReplicaLogs(
  r: Extract<ReadResult, { ok: true }>,
  query: { lines?: number; since?: string },
): ReplicaLogs {
  const s = r.summary
  const at = s.finishedAt as ReplicaLogs['lines'][number]['at']
  if (query.since && query.since >= s.finishedAt) {
    return { round: r.round, state: s.state, lines: [], truncated: false }
  }
  const text = s.output.endsWith('\n') ? s.output.slice(0, -1) : s.output
  const lines = text === '' ? [] : text.split('\n')
  const code = s.exitCode !== undefined ? ` (exit code ${s.exitCode})` : ''
  lines.push(`[${s.state}${code}${s.oomKilled ? ', out of memory' : ''} at ${s.finishedAt}]`)
  const max = query.lines ?? lines.length
  const kept = lines.slice(-max)
  return {
    round: r.round,
    state: s.state,
    truncated: s.truncated || kept.length < lines.length,
    lines: kept.map((t) => ({ at, stream: 'stdout', text: t.slice(0, 4096) })),
  }
}
