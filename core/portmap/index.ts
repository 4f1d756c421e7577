// A port on the home router's public address that forwards to our XRPC endpoint, so peers in
// other homes can ping us (core/liveness) instead of our rewriting presence every 20 s. The
// router is asked with UPnP IGD first, then NAT-PMP, through @achingbrain/nat-port-mapper; the
// lease is renewed at half its length and removed on close. See README.md.
import { EventEmitter } from 'node:events'
import { isIPv4 } from 'node:net'
import type { Gateway } from '@achingbrain/nat-port-mapper'
import { clampDelay } from '../clock/index.js'
import type { Logger } from '../log.js'
import { isPublicIPv4 } from './address.js'
import { defaultGateway, localAddressToward } from './gateway.js'

export { isPublicIPv4 } from './address.js'

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
/** A finite lease, so a mapping we could not remove (crash, power cut) ends by itself. */
export const DEFAULT_LEASE_MS = 60 * 60_000
/** Each exchange with the router (discovery, one request) waits at most this long. */
export const DEFAULT_TIMEOUT_MS = 2_000
export const DEFAULT_RETRY_MIN_MS = 5_000
export const DEFAULT_RETRY_MAX_MS = 5 * 60_000

export interface PortMapping extends AsyncDisposable {
  /** http://<external-ip>:<external-port>, as of the last grant (onChange tells of changes). */
  readonly externalUrl: string
  readonly protocol: PortmapProtocol
  /** Removes the mapping from the router (bounded by the timeout); calling again is a no-op. */
  close(): Promise<void>
}

export interface PortMappingOptions {
  /** The TCP port our endpoint listens on, on every interface (or on the router-facing one). */
  internalPort: number
  log: Logger
  /** Ends the attempt (resolves undefined) or, once open, the mapping (as close() does). */
  signal?: AbortSignal
  /** A renewal found a different URL (the router's address changed, another port), or the
   *  mapping is lost (renewals failed past the lease's end: undefined) or back. */
  onChange?: (externalUrl: string | undefined) => void
  /** The router's IPv4 address. Default: the default gateway for NAT-PMP, whichever router
   *  answers UPnP discovery. */
  gateway?: string
  leaseMs?: number
  timeoutMs?: number
  retryMinMs?: number
  retryMaxMs?: number
}

type Lib = typeof import('@achingbrain/nat-port-mapper')
let lib: Promise<Lib> | undefined
/** Loaded on first use: a daemon that never maps a port does not pay for the library. */
function loadLib(): Promise<Lib> {
  return (lib ??= import('@achingbrain/nat-port-mapper'))
}

interface Settings {
  internalPort: number
  log: Logger
  gateway?: string
  leaseMs: number
  timeoutMs: number
}

/** A mapping the router granted, and how to remove it. */
interface Grant {
  protocol: PortmapProtocol
  externalIp: string
  externalPort: number
  release(signal: AbortSignal): Promise<void>
}

type Attempt =
  { ok: true; grant: Grant } | { ok: false; reason: PortmapUnavailable; detail?: string }

function message(err: unknown): string {
  return err instanceof Error ? err.message : String(err)
}

function urlOf(grant: Grant): string {
  return `http://${grant.externalIp}:${grant.externalPort}`
}

/**
 * Asks the router (UPnP IGD, then NAT-PMP) to forward a public TCP port to `internalPort` on
 * this machine. Resolves undefined, with a logged reason, when no router answers, it refuses,
 * or its external address is not public; it never rejects for the network's sake (bad options
 * throw). A missing router costs about `timeoutMs` (both protocols are asked at once).
 */
export async function openPortMapping(opts: PortMappingOptions): Promise<PortMapping | undefined> {
  const settings = validate(opts)
  const { log } = settings
  if (opts.signal?.aborted) return unavailable(log, 'aborted')
  const attempt = await attemptMapping(settings, settings.internalPort, opts.signal)
  if (!attempt.ok) return unavailable(log, attempt.reason, attempt.detail)
  if (opts.signal?.aborted) {
    await releaseQuietly(settings, attempt.grant)
    return unavailable(log, 'aborted')
  }
  const mapping = new Mapping(settings, attempt.grant, opts)
  log.log('info', 'portmap.open', {
    url: mapping.externalUrl,
    protocol: mapping.protocol,
    internalPort: settings.internalPort,
  })
  return mapping
}

function validate(opts: PortMappingOptions): Settings {
  const { internalPort } = opts
  if (!Number.isInteger(internalPort) || internalPort < 1 || internalPort > 65535) {
    throw new RangeError(`internalPort must be an integer in 1..65535, not ${internalPort}`)
  }
  for (const key of ['leaseMs', 'timeoutMs', 'retryMinMs', 'retryMaxMs'] as const) {
    const v = opts[key]
    if (v !== undefined && !(Number.isFinite(v) && v >= 1)) {
      throw new RangeError(`${key} must be a finite number of milliseconds >= 1, not ${v}`)
    }
  }
  if (opts.gateway !== undefined && !isIPv4(opts.gateway)) {
    throw new TypeError(`gateway must be an IPv4 address, not ${JSON.stringify(opts.gateway)}`)
  }
  return {
    internalPort,
    log: opts.log,
    gateway: opts.gateway,
    leaseMs: opts.leaseMs ?? DEFAULT_LEASE_MS,
    timeoutMs: opts.timeoutMs ?? DEFAULT_TIMEOUT_MS,
  }
}

function unavailable(log: Logger, reason: PortmapUnavailable, detail?: string): undefined {
  log.log('info', 'portmap.unavailable', { reason, ...(detail ? { detail } : {}) })
  return undefined
}

async function releaseQuietly(s: Settings, grant: Grant): Promise<void> {
  try {
    await grant.release(AbortSignal.timeout(s.timeoutMs))
  } catch (err) {
    s.log.log('warn', 'portmap.release-failed', { protocol: grant.protocol, detail: message(err) })
  }
}

/**
 * One round: UPnP discovery and a NAT-PMP question to the gateway go out together (so a
 * missing router costs one timeout, not two); UPnP is used when it answers, NAT-PMP otherwise
 * or when UPnP refuses. Never throws.
 */
async function attemptMapping(
  s: Settings,
  externalPort: number,
  signal?: AbortSignal,
): Promise<Attempt> {
  const search = anySignal(AbortSignal.timeout(s.timeoutMs), signal)
  const { upnpNat, pmpNat } = await loadLib()
  const pmpHost = s.gateway ?? (await defaultGateway(s.timeoutMs))
  const pmpStop = new AbortController()
  const pmpProbe: Promise<{ gateway: Gateway; externalIp: string } | Attempt> =
    pmpHost === undefined
      ? Promise.resolve({ ok: false, reason: 'no-router' })
      : probePmp(pmpNat, pmpHost, anySignal(search, pmpStop.signal))

  const failures: Attempt[] = []
  const upnp = await findUpnp(upnpNat, s.gateway, search, s.timeoutMs)
  if (upnp !== undefined) {
    const got = await mapWith(s, 'upnp', upnp, externalPort, signal)
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
    const got = await mapWith(s, 'natpmp', probe.gateway, externalPort, signal, probe.externalIp)
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
): Promise<{ gateway: Gateway; externalIp: string } | Attempt> {
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
  s: Settings,
  protocol: PortmapProtocol,
  gateway: Gateway,
  externalPort: number,
  signal: AbortSignal | undefined,
  knownExternalIp?: string,
): Promise<Attempt> {
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
      externalPort,
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
        release: (sig) => release(s, protocol, gateway, mapped.externalPort, sig),
      },
    }
  } catch (err) {
    if (protocol === 'natpmp') await stopQuietly(gateway)
    if (signal?.aborted) return { ok: false, reason: 'aborted' }
    return { ok: false, reason: 'refused', detail: `${protocol}: ${message(err)}` }
  }
}

async function release(
  s: Settings,
  protocol: PortmapProtocol,
  gateway: Gateway,
  externalPort: number,
  signal: AbortSignal,
): Promise<void> {
  if (protocol === 'natpmp') {
    // NAT-PMP removes by internal port and client; a fresh client, as the one that mapped
    // closed its socket.
    const { pmpNat } = await loadLib()
    const fresh = pmpNat(gateway.host, { autoRefresh: false })
    if (fresh instanceof EventEmitter) fresh.on('error', () => undefined)
    try {
      await fresh.unmap(s.internalPort, { signal })
    } finally {
      await stopQuietly(fresh)
    }
    return
  }
  // The library's UPnP unmap deletes the external port equal to the internal one. When the
  // router gave us another port, that one may be another machine's mapping: leave ours to its
  // lease instead.
  if (externalPort !== s.internalPort) {
    s.log.log('info', 'portmap.left-to-lease', { protocol, externalPort, leaseMs: s.leaseMs })
    return
  }
  await gateway.stop({ signal })
}

function anySignal(a: AbortSignal, b: AbortSignal | undefined): AbortSignal {
  return b ? AbortSignal.any([a, b]) : a
}

class Mapping implements PortMapping {
  private grant: Grant
  private timer?: NodeJS.Timeout
  private renewing?: Promise<void>
  private closing?: Promise<void>
  private closed = false
  private failures = 0
  private lost = false
  private leaseEnds: number
  private readonly stop = new AbortController()
  private readonly retryMinMs: number
  private readonly retryMaxMs: number

  constructor(
    private readonly s: Settings,
    grant: Grant,
    private readonly opts: PortMappingOptions,
  ) {
    this.grant = grant
    this.leaseEnds = Date.now() + s.leaseMs
    this.retryMinMs = opts.retryMinMs ?? DEFAULT_RETRY_MIN_MS
    this.retryMaxMs = Math.max(this.retryMinMs, opts.retryMaxMs ?? DEFAULT_RETRY_MAX_MS)
    opts.signal?.addEventListener('abort', this.onAbort, { once: true })
    this.schedule(s.leaseMs / 2)
  }

  get externalUrl(): string {
    return urlOf(this.grant)
  }

  get protocol(): PortmapProtocol {
    return this.grant.protocol
  }

  close(): Promise<void> {
    return (this.closing ??= this.shut())
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close()
  }

  private readonly onAbort = () => void this.close()

  private async shut(): Promise<void> {
    this.closed = true
    this.opts.signal?.removeEventListener('abort', this.onAbort)
    clearTimeout(this.timer)
    this.stop.abort()
    await this.renewing
    await releaseQuietly(this.s, this.grant)
    this.s.log.log('info', 'portmap.closed', { url: this.externalUrl, protocol: this.protocol })
  }

  private schedule(ms: number): void {
    if (this.closed) return
    this.timer = setTimeout(() => {
      this.renewing = this.renew().finally(() => (this.renewing = undefined))
    }, clampDelay(ms))
    // The mapping alone does not keep a process alive; its owner's server does.
    this.timer.unref()
  }

  /** Asks again for the same external port; on failure retries with back-off, forever. */
  private async renew(): Promise<void> {
    const { log } = this.s
    const before = this.lost ? undefined : this.externalUrl
    const got = await attemptMapping(this.s, this.grant.externalPort, this.stop.signal)
    if (got.ok) {
      // Kept even when closing began meanwhile: close() waits for us and releases this grant.
      this.grant = got.grant
      this.leaseEnds = Date.now() + this.s.leaseMs
      this.failures = 0
      this.lost = false
      log.log('debug', 'portmap.renewed', { url: this.externalUrl, protocol: this.protocol })
      if (!this.closed && this.externalUrl !== before) this.notify(this.externalUrl)
      this.schedule(this.s.leaseMs / 2)
      return
    }
    if (this.closed) return
    this.failures++
    const retryInMs = Math.min(this.retryMaxMs, this.retryMinMs * 2 ** (this.failures - 1))
    log.log('warn', 'portmap.renew-failed', {
      reason: got.reason,
      ...(got.detail ? { detail: got.detail } : {}),
      failures: this.failures,
      retryInMs,
    })
    if (!this.lost && Date.now() >= this.leaseEnds) {
      this.lost = true
      log.log('warn', 'portmap.lost', { url: this.externalUrl })
      this.notify(undefined)
    }
    this.schedule(retryInMs)
  }

  private notify(url: string | undefined): void {
    try {
      this.opts.onChange?.(url)
    } catch (err) {
      this.s.log.log('error', 'portmap.on-change-failed', { detail: message(err) })
    }
  }
}
