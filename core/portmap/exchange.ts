// One exchange with the home router (a grant or a release) through @achingbrain/nat-port-mapper,
// run in a short-lived child process (exchange-child.ts): importing the library costs some
// 12 MiB of RSS for the life of a process, and a mapping needs it only at open, at each renewal
// (every half lease) and at close. The parent (index.ts, child.ts) never imports this module's
// values, only its types.
import { EventEmitter } from 'node:events'
import type { Gateway } from '@achingbrain/nat-port-mapper'
import { isPublicIPv4 } from './address.js'
import { defaultGateway, localAddressToward } from './gateway.js'

export type PortmapProtocol = 'upnp' | 'natpmp'

/** Why no mapping: a named value for the logs and the UI. */
export type PortmapUnavailable =
  /** Nothing answered UPnP discovery or NAT-PMP within the timeout. */
  | 'no-router'
  /** A router answered and refused the mapping (or the external-address question). */
  | 'refused'
  /** The router's external address is private or CGNAT: another NAT sits in front of it. */
  | 'external-not-public'
  /** The caller's signal ended the attempt. */
  | 'aborted'

/** The name the router shows for our mapping in its table. */
export const MAPPING_DESCRIPTION = 'commune meshlet'

export interface GrantRequest {
  op: 'grant'
  internalPort: number
  externalPort: number
  gateway?: string
  leaseMs: number
  timeoutMs: number
}

export interface ReleaseRequest {
  op: 'release'
  protocol: PortmapProtocol
  /** The router that granted it (UPnP: found again by discovery at this address). */
  gatewayHost: string
  internalPort: number
  externalPort: number
  timeoutMs: number
}

export type ExchangeRequest = GrantRequest | ReleaseRequest

/** A mapping the router granted, and where (enough for a later process to remove it). */
export interface Grant {
  protocol: PortmapProtocol
  externalIp: string
  externalPort: number
  gatewayHost: string
}

export type GrantResult =
  { ok: true; grant: Grant } | { ok: false; reason: PortmapUnavailable; detail?: string }

export type ReleaseResult = { ok: true } | { ok: false; detail: string }

type Lib = typeof import('@achingbrain/nat-port-mapper')

function message(err: unknown): string {
  return err instanceof Error ? err.message : String(err)
}

function anySignal(a: AbortSignal, b: AbortSignal | undefined): AbortSignal {
  return b ? AbortSignal.any([a, b]) : a
}

export async function exchange(req: GrantRequest, signal?: AbortSignal): Promise<GrantResult>
export async function exchange(req: ReleaseRequest, signal?: AbortSignal): Promise<ReleaseResult>
export async function exchange(
  req: ExchangeRequest,
  signal?: AbortSignal,
): Promise<GrantResult | ReleaseResult>
export async function exchange(
  req: ExchangeRequest,
  signal?: AbortSignal,
): Promise<GrantResult | ReleaseResult> {
  const lib = await import('@achingbrain/nat-port-mapper')
  if (req.op === 'grant') return attemptMapping(lib, req, signal)
  try {
    await release(lib, req, anySignal(AbortSignal.timeout(req.timeoutMs), signal))
    return { ok: true }
  } catch (err) {
    return { ok: false, detail: message(err) }
  }
}

/**
 * One round: UPnP discovery and a NAT-PMP question to the gateway go out together (so a
 * missing router costs one timeout, not two); UPnP is used when it answers, NAT-PMP otherwise
 * or when UPnP refuses. Never throws.
 */
async function attemptMapping(
  lib: Lib,
  s: GrantRequest,
  signal?: AbortSignal,
): Promise<GrantResult> {
  const { upnpNat, pmpNat } = lib
  const search = anySignal(AbortSignal.timeout(s.timeoutMs), signal)
  const pmpHost = s.gateway ?? (await defaultGateway(s.timeoutMs))
  const pmpStop = new AbortController()
  const pmpProbe: Promise<{ gateway: Gateway; externalIp: string } | GrantResult> =
    pmpHost === undefined
      ? Promise.resolve({ ok: false, reason: 'no-router' })
      : probePmp(pmpNat, pmpHost, anySignal(search, pmpStop.signal))

  const failures: GrantResult[] = []
  const upnp = await findUpnp(upnpNat, s.gateway, search, s.timeoutMs)
  if (upnp !== undefined) {
    const got = await mapWith(s, 'upnp', upnp, signal)
    if (got.ok) {
      pmpStop.abort()
      const probe = await pmpProbe
      if ('gateway' in probe) await stopQuietly(probe.gateway)
      return got
    }
    failures.push(got)
  }
  const probe = await pmpProbe
  if ('gateway' in probe) {
    const got = await mapWith(s, 'natpmp', probe.gateway, signal, probe.externalIp)
    if (got.ok) return got
    failures.push(got)
  } else if (probe.ok === false && probe.reason !== 'no-router') {
    failures.push(probe)
  }
  if (signal?.aborted) return { ok: false, reason: 'aborted' }
  // The most telling failure: a router that spoke beats silence.
  return failures[0] ?? { ok: false, reason: 'no-router' }
}

async function findUpnp(
  upnpNat: Lib['upnpNat'],
  host: string | undefined,
  signal: AbortSignal,
  timeoutMs: number,
): Promise<Gateway | undefined> {
  try {
    const client = upnpNat({ autoRefresh: false, description: MAPPING_DESCRIPTION })
    // SSDP is multicast UDP: a search can be lost (or sent before the link is up), so it is
    // repeated a few times within the timeout.
    const searchInterval = Math.max(250, Math.floor(timeoutMs / 4))
    for await (const gateway of client.findGateways({ signal, searchInterval })) {
      // IPv6 gateways open firewall pinholes, not NAT mappings; our URL is IPv4.
      if (gateway.family !== 'IPv4') continue
      if (host !== undefined && gateway.host !== host) continue
      return gateway
    }
  } catch {
    // Discovery that fails (no multicast, a socket error) is the same as no router.
  }
  return undefined
}

/** Asks the NAT-PMP server at `host` for its external address: whether one answers at all. */
async function probePmp(
  pmpNat: Lib['pmpNat'],
  host: string,
  signal: AbortSignal,
): Promise<{ gateway: Gateway; externalIp: string } | GrantResult> {
  let gateway: Gateway | undefined
  try {
    gateway = pmpNat(host, { autoRefresh: false, description: MAPPING_DESCRIPTION })
    // The library's client re-emits socket errors (an unreachable network) as 'error' events;
    // without a listener one would end the process.
    if (gateway instanceof EventEmitter) gateway.on('error', () => undefined)
    const externalIp = await gateway.externalIp({ signal })
    return { gateway, externalIp }
  } catch (err) {
    if (gateway) await stopQuietly(gateway)
    // A result code is a refusal; silence (the timeout) is no router.
    if (signal.aborted) return { ok: false, reason: 'no-router' }
    return { ok: false, reason: 'refused', detail: `natpmp: ${message(err)}` }
  }
}

/** Closes a gateway's sockets without removing anything: only what we never mapped on it. */
async function stopQuietly(gateway: Gateway): Promise<void> {
  try {
    await gateway.stop({ signal: AbortSignal.timeout(1_000) })
  } catch {
    // Already closed (the library closes its socket on a socket error).
  }
}

async function mapWith(
  s: GrantRequest,
  protocol: PortmapProtocol,
  gateway: Gateway,
  signal: AbortSignal | undefined,
  knownExternalIp?: string,
): Promise<GrantResult> {
  const step = () => anySignal(AbortSignal.timeout(s.timeoutMs), signal)
  try {
    const externalIp = knownExternalIp ?? (await gateway.externalIp({ signal: step() }))
    if (!isPublicIPv4(externalIp)) {
      if (protocol === 'natpmp') await stopQuietly(gateway)
      return {
        ok: false,
        reason: 'external-not-public',
        detail: `${protocol}: ${externalIp || 'none'}`,
      }
    }
    const internalHost = await localAddressToward(gateway.host)
    const mapped = await gateway.map(s.internalPort, internalHost, {
      externalPort: s.externalPort,
      protocol: 'tcp',
      description: MAPPING_DESCRIPTION,
      autoRefresh: false,
      // The library hands NAT-PMP this number as seconds and UPnP as milliseconds (which it
      // raises to at least an hour).
      ttl: protocol === 'natpmp' ? Math.max(1, Math.ceil(s.leaseMs / 1000)) : s.leaseMs,
      signal: step(),
    })
    if (protocol === 'natpmp') await stopQuietly(gateway)
    const host = isPublicIPv4(mapped.externalHost) ? mapped.externalHost : externalIp
    return {
      ok: true,
      grant: {
        protocol,
        externalIp: host,
        externalPort: mapped.externalPort,
        gatewayHost: gateway.host,
      },
    }
  } catch (err) {
    if (protocol === 'natpmp') await stopQuietly(gateway)
    if (signal?.aborted) return { ok: false, reason: 'aborted' }
    return { ok: false, reason: 'refused', detail: `${protocol}: ${message(err)}` }
  }
}

/** What the library's UPnP gateway keeps to itself: the device it talks SOAP to. */
interface UpnpDevice {
  run(
    service: string,
    action: string,
    args: Array<[string, string | number]>,
    options?: { signal?: AbortSignal },
  ): Promise<unknown>
}
const WAN_IP_CONNECTION_2 = 'urn:schemas-upnp-org:service:WANIPConnection:2'

async function release(lib: Lib, r: ReleaseRequest, signal: AbortSignal): Promise<void> {
  if (r.protocol === 'natpmp') {
    // NAT-PMP removes by internal port and client.
    const gateway = lib.pmpNat(r.gatewayHost, { autoRefresh: false })
    if (gateway instanceof EventEmitter) gateway.on('error', () => undefined)
    try {
      await gateway.unmap(r.internalPort, { signal })
    } finally {
      await stopQuietly(gateway)
    }
    return
  }
  // This process did not map it, so the library's own unmap (which removes only the mappings
  // its gateway object made) would do nothing: the router is found again and asked directly,
  // as the library does, for the external port. (The parent asks only when that port is the
  // internal one, as the library's removal would.)
  const gateway = await findUpnp(lib.upnpNat, r.gatewayHost, signal, r.timeoutMs)
  if (gateway === undefined) throw new Error(`upnp: no answer from ${r.gatewayHost}`)
  const device = await (
    gateway as unknown as { getGateway(o: { signal: AbortSignal }): Promise<UpnpDevice> }
  ).getGateway({ signal })
  await device.run(
    WAN_IP_CONNECTION_2,
    'DeletePortMapping',
    [
      ['NewRemoteHost', ''],
      ['NewExternalPort', r.externalPort],
      ['NewProtocol', 'TCP'],
    ],
    { signal },
  )
}
