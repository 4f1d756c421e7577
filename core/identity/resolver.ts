import { IdResolver, type DidDocument } from '@atproto/identity'
import { Coalescer, DiskDidCache } from './cache.js'
import { guardedFetch } from '../net/fetch.js'
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
  /** Where DID documents are kept between runs (a file in the data directory); absent: memory
   *  only. */
  cacheFile?: string
  /** How long a DID document is used before it is refreshed; default an hour (stale) and a
   *  day (expired). */
  didStaleMs?: number
  didMaxMs?: number
}

/** A DID that did not resolve: kept as a failure (with back-off) like a network error. */
class DidMissing extends Error {}

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
  /** DID documents in memory and on disk (TTL); the resolver refreshes a stale one itself. */
  readonly didCache: DiskDidCache
  private readonly didFetches = new Coalescer<DidDocument>({ ttlMs: 0 })
  private readonly handles = new Coalescer<string>({ ttlMs: 60 * 60 * 1000 })
  private loaded?: Promise<void>

  constructor(opts: IdentityOptions = {}) {
    this.fetchFn = globalThis.fetch
    // Over node:http with the SSRF guard of @atproto-labs/fetch-node (core/net): not the
    // library's own wrapper, whose second undici costs a daemon some 11 MiB. On an explicitly
    // local network the guard's private-address rules are off, the rest stays.
    const local = opts.allowPrivateNetwork ?? false
    this.fetch = guardedFetch({
      ssrfProtection: !local,
      allowImplicitRedirect: true,
      allowCustomPort: true,
      responseMaxSize: 8 * 1024 * 1024,
      timeout: opts.timeoutMs ?? 10_000,
    })
    this.didCache = new DiskDidCache(opts.cacheFile, {
      ...(opts.didStaleMs !== undefined ? { staleMs: opts.didStaleMs } : {}),
      ...(opts.didMaxMs !== undefined ? { maxMs: opts.didMaxMs } : {}),
    })
    this.idResolver = new IdResolver({
      plcUrl: opts.plcUrl ?? 'https://plc.directory',
      timeout: opts.timeoutMs ?? 10_000,
      didCache: this.didCache,
      // What @atproto/identity would use by default (its createDefaultFetch), over core/net.
      fetch: guardedFetch({ ssrfProtection: !local, allowIpHost: local }),
    })
    // The library's cache answers repeat look-ups, but a burst of records from a DID not yet
    // cached would fetch once per record: every network fetch of a DID document goes through
    // one in-flight promise per DID, and a DID that fails is retried with back-off.
    const did = this.idResolver.did
    const fetchDoc = did.resolveNoCache.bind(did)
    did.resolveNoCache = (d: string) =>
      this.didFetches
        .get(d, async () => {
          const doc = await fetchDoc(d)
          if (doc === null) throw new DidMissing(d)
          return doc
        })
        .catch((err: unknown) => {
          if (err instanceof DidMissing) return null
          throw err
        })
    this.handleResolverUrl = opts.handleResolverUrl
  }

  /** Reads the DID documents an earlier run kept (once); look-ups before it simply miss. */
  load(): Promise<void> {
    return (this.loaded ??= this.didCache.load())
  }

  /** Writes the cache now (on stop). */
  flush(): Promise<void> {
    return this.didCache.flush()
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

  /** Handle → DID, kept for an hour; a handle that does not resolve is asked again only after
   *  a back-off. */
  resolveHandle(handle: string): Promise<string> {
    return this.handles.get(handle.toLowerCase(), () => this.lookUpHandle(handle))
  }

  private async lookUpHandle(handle: string): Promise<string> {
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
