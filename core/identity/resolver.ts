import { safeFetchWrap } from '@atproto-labs/fetch-node'
import { IdResolver } from '@atproto/identity'
import { isValidHandle, ensureValidDid } from '@atproto/syntax'

export class IdentityError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options)
    this.name = 'IdentityError'
  }
}

/** The text is neither a DID nor a handle: a mistake of whoever typed it, not of the network. */
export class InvalidActorError extends IdentityError {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options)
    this.name = 'InvalidActorError'
  }
}

export interface IdentityOptions {
  /** PLC directory; default https://plc.directory. */
  plcUrl?: string
  /** A service answering com.atproto.identity.resolveHandle, asked when DNS and the
   *  well-known lookup do not resolve a handle (dev-env handles resolve only this way). */
  handleResolverUrl?: string
  /** Only for a local network: lets resolution reach loopback and private addresses, which the
   *  default SSRF-guarded fetch refuses. Never set it for the real network. */
  allowPrivateNetwork?: boolean
  timeoutMs?: number
}

export interface ResolvedIdentity {
  did: string
  handle?: string
  /** The PDS that hosts the repo. */
  pds: string
  signingKey: string
}

/** Resolves handles and DIDs (did:plc, did:web) to the repo's PDS. */
export class IdentityResolver {
  readonly idResolver: IdResolver
  /** Fetch for requests to addresses that records and DID documents name (a repo's PDS): with
   *  the SSRF guard on, unless this resolver is for an explicitly local network. */
  readonly fetch: typeof globalThis.fetch
  private readonly handleResolverUrl?: string
  private readonly fetchFn: typeof globalThis.fetch

  constructor(opts: IdentityOptions = {}) {
    this.fetchFn = globalThis.fetch
    this.fetch = opts.allowPrivateNetwork
      ? globalThis.fetch
      : (safeFetchWrap({
          allowImplicitRedirect: true,
          allowCustomPort: true,
          responseMaxSize: 8 * 1024 * 1024,
          timeout: opts.timeoutMs ?? 10_000,
        }) as typeof globalThis.fetch)
    this.idResolver = new IdResolver({
      plcUrl: opts.plcUrl ?? 'https://plc.directory',
      timeout: opts.timeoutMs ?? 10_000,
      ...(opts.allowPrivateNetwork ? { fetch: globalThis.fetch } : {}),
    })
    this.handleResolverUrl = opts.handleResolverUrl
  }

  /** A DID as given, or the DID a handle resolves to. */
  async resolveActor(actor: string): Promise<string> {
    const value = actor.trim().replace(/^@/, '')
    if (value.startsWith('did:')) {
      try {
        ensureValidDid(value)
      } catch (err) {
        throw new InvalidActorError(`not a valid DID: ${value}`, { cause: err })
      }
      return value
    }
    if (!isValidHandle(value)) throw new InvalidActorError(`not a valid handle or DID: ${actor}`)
    return this.resolveHandle(value)
  }

  async resolveHandle(handle: string): Promise<string> {
    let did: string | undefined
    try {
      did = await this.idResolver.handle.resolve(handle)
    } catch {
      did = undefined // fall through to the resolver service
    }
    if (!did && this.handleResolverUrl) {
      const url = new URL('/xrpc/com.atproto.identity.resolveHandle', this.handleResolverUrl)
      url.searchParams.set('handle', handle)
      try {
        const res = await this.fetchFn(url, { signal: AbortSignal.timeout(10_000) })
        if (res.ok) {
          const body = (await res.json()) as { did?: unknown }
          if (typeof body.did === 'string' && body.did.startsWith('did:')) did = body.did
        }
      } catch (err) {
        throw new IdentityError(`could not reach handle resolver for ${handle}`, { cause: err })
      }
    }
    if (!did) throw new IdentityError(`handle does not resolve: ${handle}`)
    return did
  }

  async resolveDid(did: string, forceRefresh = false): Promise<ResolvedIdentity> {
    let data
    try {
      data = await this.idResolver.did.resolveAtprotoData(did, forceRefresh)
    } catch (err) {
      throw new IdentityError(`could not resolve ${did}`, { cause: err })
    }
    return {
      did: data.did,
      pds: data.pds,
      signingKey: data.signingKey,
      ...(data.handle && data.handle !== 'handle.invalid' ? { handle: data.handle } : {}),
    }
  }
}
