// A port on the home router's public address that forwards to our XRPC endpoint, so peers in
// other homes can ping us (core/liveness) instead of our rewriting presence every 20 s. The
// router is asked with UPnP IGD first, then NAT-PMP, through @achingbrain/nat-port-mapper, in a
// short-lived child process per exchange (exchange.ts, child.ts) so that this process never
// loads the library; the lease is renewed here at half its length and removed on close. See
// README.md.
import { isIPv4 } from 'node:net'
import { pathToFileURL } from 'node:url'
import { clampDelay } from '../clock/index.js'
import type { Logger } from '../log.js'
import { runExchange, type ChildOutcome } from './child.js'
import type {
  Grant,
  GrantRequest,
  GrantResult,
  PortmapProtocol,
  PortmapUnavailable,
  ReleaseRequest,
} from './exchange.js'

export { isPublicIPv4 } from './address.js'

export type { PortmapProtocol, PortmapUnavailable } from './exchange.js'
export { MAPPING_DESCRIPTION } from './exchange.js'

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
  /** Tests only: the module the child process of each exchange runs (a file path). */
  exchangeEntry?: string
}

interface Settings {
  internalPort: number
  log: Logger
  gateway?: string
  leaseMs: number
  timeoutMs: number
  entry?: URL
}

/** What starting a child and loading the library may take, beyond the exchange's own timeouts
 *  (a loaded machine, a cold compile cache); the child is killed past it. */
export const CHILD_START_MS = 5_000
/** A grant's worst case: discovery, then the external address and the mapping from UPnP, then
 *  the mapping from NAT-PMP, each bounded by the timeout. */
const GRANT_STEPS = 4

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
    entry: opts.exchangeEntry === undefined ? undefined : pathToFileURL(opts.exchangeEntry),
  }
}

function unavailable(log: Logger, reason: PortmapUnavailable, detail?: string): undefined {
  log.log('info', 'portmap.unavailable', { reason, ...(detail ? { detail } : {}) })
  return undefined
}

async function releaseQuietly(s: Settings, grant: Grant): Promise<void> {
  try {
    await release(s, grant)
  } catch (err) {
    s.log.log('warn', 'portmap.release-failed', { protocol: grant.protocol, detail: message(err) })
  }
}

/**
 * One round with the router, in a child process (exchange.ts has the protocol). Never throws:
 * a child that does not answer in time is `no-router` (silence), one that fails otherwise
 * (does not start, crashes, prints nonsense) is `refused`, with what happened as the detail.
 */
async function attemptMapping(
  s: Settings,
  externalPort: number,
  signal?: AbortSignal,
): Promise<GrantResult> {
  const request: GrantRequest = {
    op: 'grant',
    internalPort: s.internalPort,
    externalPort,
    ...(s.gateway === undefined ? {} : { gateway: s.gateway }),
    leaseMs: s.leaseMs,
    timeoutMs: s.timeoutMs,
  }
  const out = await runExchange(request, {
    killAfterMs: GRANT_STEPS * s.timeoutMs + CHILD_START_MS,
    graceMs: s.timeoutMs,
    log: s.log,
    signal,
    entry: s.entry,
  })
  if (out.ok) {
    const result = grantResultOf(out.value)
    if (result) return result
    return { ok: false, reason: 'refused', detail: 'exchange: not a result' }
  }
  if (out.failure === 'aborted') return { ok: false, reason: 'aborted' }
  const reason = out.failure === 'timeout' ? 'no-router' : 'refused'
  return { ok: false, reason, detail: `exchange: ${out.detail}` }
}

/** Removes the mapping: a child asks the router (bounded by the timeout); throws what failed. */
async function release(s: Settings, grant: Grant): Promise<void> {
  // The library's UPnP removal deletes the external port equal to the internal one (and we
  // keep to that). When the router gave us another port, that one may be another machine's
  // mapping: leave ours to its lease instead.
  if (grant.protocol === 'upnp' && grant.externalPort !== s.internalPort) {
    s.log.log('info', 'portmap.left-to-lease', {
      protocol: grant.protocol,
      externalPort: grant.externalPort,
      leaseMs: s.leaseMs,
    })
    return
  }
  const request: ReleaseRequest = {
    op: 'release',
    protocol: grant.protocol,
    gatewayHost: grant.gatewayHost,
    internalPort: s.internalPort,
    externalPort: grant.externalPort,
    timeoutMs: s.timeoutMs,
  }
  const out: ChildOutcome = await runExchange(request, {
    killAfterMs: s.timeoutMs + CHILD_START_MS,
    graceMs: s.timeoutMs,
    log: s.log,
    entry: s.entry,
  })
  if (!out.ok) throw new Error(`exchange: ${out.detail}`)
  const v = out.value as { ok?: unknown; detail?: unknown } | null
  if (v?.ok === true) return
  throw new Error(typeof v?.detail === 'string' ? v.detail : 'exchange: not a result')
}

const PROTOCOLS: readonly string[] = ['upnp', 'natpmp'] satisfies PortmapProtocol[]
const REASONS: readonly string[] = [
  'no-router',
  'refused',
  'external-not-public',
  'aborted',
] satisfies PortmapUnavailable[]

/** The child's answer to a grant, checked (it crossed a process boundary), or undefined. */
export function grantResultOf(v: unknown): GrantResult | undefined {
  if (typeof v !== 'object' || v === null) return undefined
  const r = v as Record<string, unknown>
  if (r.ok === false) {
    if (typeof r.reason !== 'string' || !REASONS.includes(r.reason)) return undefined
    if (r.detail !== undefined && typeof r.detail !== 'string') return undefined
    return {
      ok: false,
      reason: r.reason as PortmapUnavailable,
      ...(r.detail ? { detail: r.detail } : {}),
    }
  }
  if (r.ok !== true || typeof r.grant !== 'object' || r.grant === null) return undefined
  const g = r.grant as Record<string, unknown>
  if (
    typeof g.protocol !== 'string' ||
    !PROTOCOLS.includes(g.protocol) ||
    typeof g.externalIp !== 'string' ||
    !isIPv4(g.externalIp) ||
    typeof g.externalPort !== 'number' ||
    !Number.isInteger(g.externalPort) ||
    g.externalPort < 1 ||
    g.externalPort > 65535 ||
    typeof g.gatewayHost !== 'string' ||
    !isIPv4(g.gatewayHost)
  ) {
    return undefined
  }
  return {
    ok: true,
    grant: {
      protocol: g.protocol as PortmapProtocol,
      externalIp: g.externalIp,
      externalPort: g.externalPort,
      gatewayHost: g.gatewayHost,
    },
  }
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
