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
 * published only on a local network (the demo, tests: every caller is on this machine), where a
 * wildcard bind publishes loopback too; elsewhere a wildcard bind publishes this machine's best
 * address (`reachableAddress`); `publicUrl` (a forwarded or mapped port) wins over all. Pure apart
 * from reading the interfaces for a wildcard bind.
 */
export function endpointFor(
  bound: Bound,
  opts: { localNetwork?: boolean; publicUrl?: string; interfaces?: typeof networkInterfaces } = {},
): string | undefined {
  if (opts.publicUrl) return new URL(opts.publicUrl).origin
  const { hostname, port } = bound
  const wildcard = hostname === '0.0.0.0' || hostname === '::'
  if (isLoopback(hostname) || (wildcard && opts.localNetwork)) {
    return opts.localNetwork ? `http://127.0.0.1:${port}` : undefined
  }
  if (wildcard) {
    const address = reachableAddress((opts.interfaces ?? networkInterfaces)())
    return address ? `http://${address}:${port}` : undefined
  }
  return `http://${hostname.includes(':') ? `[${hostname}]` : hostname}:${port}`
}

type Interfaces = ReturnType<typeof networkInterfaces>

// Bridges to containers and virtual machines on this host: nobody else reaches those.
const HOST_ONLY = /^(docker|br-|veth|virbr|vnet|vmnet|vboxnet|cni|flannel|cali|lxc|lxd|podman)/
// Overlay VPNs by name (WireGuard, Tailscale, ZeroTier); Tailscale's addresses are also known by
// their range, 100.64.0.0/10, which is what shows on macOS and Windows.
const VPN = /^(wg|tailscale|zt)/

/**
 * The IPv4 address of this machine that members elsewhere are likeliest to reach, or undefined:
 * a public one first (a server, a machine on a public network), then a VPN's (members in other
 * homes reach it through the VPN), then a private LAN's (members in the same home). Never
 * loopback, link-local, or a bridge to local containers or VMs. IPv6 is left out: home routers
 * firewall inbound IPv6 by default, so a global IPv6 address says little about reachability.
 */
export function reachableAddress(interfaces: Interfaces): string | undefined {
  return reachableAddresses(interfaces)[0]
}

/** Every address `reachableAddress` would consider, best first (ties in interface order). */
export function reachableAddresses(interfaces: Interfaces): string[] {
  const ranked: { address: string; rank: number }[] = []
  for (const [name, addresses] of Object.entries(interfaces)) {
    if (HOST_ONLY.test(name)) continue
    for (const a of addresses ?? []) {
      if (a.family !== 'IPv4' || a.internal) continue
      const rank = addressRank(name, a.address)
      if (rank !== undefined) ranked.push({ address: a.address, rank })
    }
  }
  // A stable sort: equal ranks keep the interfaces' order.
  return [...new Set(ranked.sort((x, y) => x.rank - y.rank).map((r) => r.address))]
}

/** At most this many alternates (the lexicon's bound). */
export const MAX_ALTERNATES = 3

/**
 * Other origins where a server bound at `bound` answers, beside its published `primary`: for a
 * wildcard bind off a local network, this machine's other reachable addresses (with a router's
 * forward or a forwarded URL as primary, its best address too: peers in the same home may not
 * get through the router's public address). Best first, at most MAX_ALTERNATES.
 */
export function alternatesFor(
  bound: Bound,
  primary: string | undefined,
  opts: { localNetwork?: boolean; interfaces?: typeof networkInterfaces } = {},
): string[] {
  const wildcard = bound.hostname === '0.0.0.0' || bound.hostname === '::'
  if (!wildcard || opts.localNetwork || primary === undefined) return []
  return reachableAddresses((opts.interfaces ?? networkInterfaces)())
    .map((a) => `http://${a}:${bound.port}`)
    .filter((url) => url !== primary)
    .slice(0, MAX_ALTERNATES)
}

function addressRank(name: string, address: string): number | undefined {
  const [a = 0, b = 0] = address.split('.').map(Number)
  if (a === 127 || (a === 169 && b === 254) || a === 0 || a >= 224) return undefined
  const cgnat = a === 100 && b >= 64 && b < 128
  if (VPN.test(name) || cgnat) return 1
  const lan = a === 10 || (a === 172 && b >= 16 && b < 32) || (a === 192 && b === 168)
  return lan ? 2 : 0
}

/**
 * Puts `endpoint` and its `alternates` on the meshlet's own meshletOwner record (or takes them
 * off when undefined / empty), keeping every other field. Nothing is written when the record
 * already says so, or when the meshlet is not linked yet (no record to add it to). Returns
 * whether it wrote.
 */
export async function publishEndpoint(
  reader: RepoReader,
  writer: RepoWriter,
  endpoint: string | undefined,
  alternates: readonly string[] = [],
): Promise<boolean> {
  const rec = await reader.get(writer.did, NSID.meshletOwner, 'self')
  if (!rec) return false
  const {
    $type: _type,
    endpoint: current,
    alternateEndpoints: currentAlternates,
    ...rest
  } = rec.value as Record<string, unknown>
  const alts = endpoint ? alternates.slice(0, MAX_ALTERNATES) : []
  const same =
    current === endpoint && JSON.stringify(currentAlternates ?? []) === JSON.stringify(alts)
  if (same) return false
  await writer.put(NSID.meshletOwner, 'self', {
    ...rest,
    ...(endpoint ? { endpoint } : {}),
    ...(alts.length > 0 ? { alternateEndpoints: alts } : {}),
  })
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
