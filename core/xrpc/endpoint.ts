// Reachability: a meshlet serving farm.meshlet.* on an address others can reach says so in its
// own commune.scheduler.meshletOwner record (`endpoint`); callers read it there. A meshlet behind
// NAT publishes nothing and stays fully useful through records.
import { networkInterfaces } from 'node:os'
import { checkRecord, NSID } from '../lexicon/index.js'
import type { RepoReader } from '../repo/reader.js'
import type { RepoWriter } from '../repo/writer.js'

export interface Bound {
  hostname: string
  port: number
}

export function isLoopback(hostname: string): boolean {
  return (
    hostname === 'localhost' ||
    hostname.startsWith('127.') ||
    hostname === '::1' ||
    hostname === '[::1]'
  )
}

/**
 * The endpoint to publish for a server bound at `bound`, or undefined for none. Loopback is
 * published only on a local network (the demo, tests: every caller is on this machine); a
 * wildcard bind publishes this machine's first LAN address; `publicUrl` (a home server behind a
 * forwarded port) wins over both. Pure apart from reading the interfaces for a wildcard bind.
 */
export function endpointFor(
  bound: Bound,
  opts: { localNetwork?: boolean; publicUrl?: string; interfaces?: typeof networkInterfaces } = {},
): string | undefined {
  if (opts.publicUrl) return new URL(opts.publicUrl).origin
  const { hostname, port } = bound
  if (isLoopback(hostname)) return opts.localNetwork ? `http://127.0.0.1:${port}` : undefined
  if (hostname === '0.0.0.0' || hostname === '::') {
    const lan = Object.values((opts.interfaces ?? networkInterfaces)())
      .flat()
      .find((a) => a && a.family === 'IPv4' && !a.internal)
    return lan ? `http://${lan.address}:${port}` : undefined
  }
  return `http://${hostname.includes(':') ? `[${hostname}]` : hostname}:${port}`
}

/**
 * Puts `endpoint` on the meshlet's own meshletOwner record (or takes it off when undefined),
 * keeping every other field. Nothing is written when the record already says so, or when the
 * meshlet is not linked yet (no record to add it to). Returns whether it wrote.
 */
export async function publishEndpoint(
  reader: RepoReader,
  writer: RepoWriter,
  endpoint: string | undefined,
): Promise<boolean> {
  const rec = await reader.get(writer.did, NSID.meshletOwner, 'self')
  if (!rec) return false
  const { $type: _type, endpoint: current, ...rest } = rec.value as Record<string, unknown>
  if (current === endpoint) return false
  await writer.put(NSID.meshletOwner, 'self', { ...rest, ...(endpoint ? { endpoint } : {}) })
  return true
}

/** Where a meshlet says it serves XRPC, or undefined (not published, or not an http(s) URL). */
export async function findEndpoint(
  reader: RepoReader,
  meshletDid: string,
): Promise<string | undefined> {
  const rec = await reader.get(meshletDid, NSID.meshletOwner, 'self')
  if (!rec) return undefined
  const check = checkRecord(NSID.meshletOwner, rec.value)
  const endpoint = check.ok ? check.value.endpoint : undefined
  if (!endpoint || !URL.canParse(endpoint)) return undefined
  const url = new URL(endpoint)
  return url.protocol === 'http:' || url.protocol === 'https:' ? url.origin : undefined
}
