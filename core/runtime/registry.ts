// How much an image download weighs, asked of its registry before pulling (the lender's maximum
// image size): the Distribution API's manifest lists every layer with its compressed size, so a
// too-large image is refused without a byte of it on disk. Anonymous access only (private
// registries are not supported yet); Docker Hub's token challenge is answered like the engine
// does. Registries on loopback are spoken to over plain HTTP, as the engine does by default
// (its `InsecureRegistryCIDRs` is 127.0.0.0/8); every other one over HTTPS.
import type { ImageRef } from './image-ref.js'

const MANIFEST_TYPES = [
  'application/vnd.oci.image.index.v1+json',
  'application/vnd.docker.distribution.manifest.list.v2+json',
  'application/vnd.oci.image.manifest.v1+json',
  'application/vnd.docker.distribution.manifest.v2+json',
].join(', ')
/** Manifests are small; a larger answer is not one. */
const MAX_MANIFEST_BYTES = 4 * 1024 * 1024
const TIMEOUT_MS = 15_000

/** The registry's answer could not be had or read; the size stays unknown. */
export class RegistryLookupError extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options)
    this.name = 'RegistryLookupError'
  }
}

export interface SizeLookupOptions {
  /** Docker's name for the platform's architecture, to pick from a multi-platform index. */
  arch: string
  signal?: AbortSignal
  fetch?: typeof fetch
}

interface Descriptor {
  mediaType?: string
  digest?: string
  size?: number
  platform?: { os?: string; architecture?: string }
}

interface Manifest {
  mediaType?: string
  manifests?: Descriptor[]
  config?: Descriptor
  layers?: Descriptor[]
}

function isLoopback(host: string): boolean {
  const name = host.replace(/:\d+$/, '').replace(/^\[|\]$/g, '')
  return name === 'localhost' || name === '::1' || /^127\.\d+\.\d+\.\d+$/.test(name)
}

/** The base URL of a registry's Distribution API. */
export function registryBase(registry: string): string {
  if (registry === 'docker.io') return 'https://registry-1.docker.io'
  return `${isLoopback(registry) ? 'http' : 'https'}://${registry}`
}

/** `Bearer realm="…",service="…",scope="…"` → its parameters. */
export function parseChallenge(header: string): Record<string, string> | undefined {
  const m = /^\s*Bearer\s+(.*)$/i.exec(header)
  if (!m) return undefined
  const out: Record<string, string> = {}
  for (const p of m[1]!.matchAll(/([a-zA-Z_]+)="([^"]*)"/g)) out[p[1]!.toLowerCase()] = p[2]!
  return out.realm ? out : undefined
}

/**
 * The bytes `docker pull` would download for `ref` on `opts.arch` (config plus layers, as the
 * manifest states them, compressed). RegistryLookupError when the registry cannot tell.
 */
export async function imageDownloadBytes(ref: ImageRef, opts: SizeLookupOptions): Promise<number> {
  const doFetch = opts.fetch ?? fetch
  const base = registryBase(ref.registry)
  let token: string | undefined
  const signal = opts.signal
    ? AbortSignal.any([opts.signal, AbortSignal.timeout(TIMEOUT_MS)])
    : AbortSignal.timeout(TIMEOUT_MS)

  const get = async (reference: string): Promise<Manifest> => {
    const url = `${base}/v2/${ref.repository}/manifests/${reference}`
    const ask = (auth?: string) =>
      doFetch(url, {
        headers: { accept: MANIFEST_TYPES, ...(auth ? { authorization: `Bearer ${auth}` } : {}) },
        signal,
        redirect: 'follow',
      })
    let res: Response
    try {
      res = await ask(token)
      if (res.status === 401 && token === undefined) {
        const challenge = parseChallenge(res.headers.get('www-authenticate') ?? '')
        await res.body?.cancel()
        if (!challenge) throw new RegistryLookupError(`${ref.registry} asks for credentials`)
        token = await anonymousToken(challenge, doFetch, signal)
        res = await ask(token)
      }
    } catch (err) {
      if (err instanceof RegistryLookupError) throw err
      throw new RegistryLookupError(`cannot reach registry ${ref.registry}`, { cause: err })
    }
    if (!res.ok) {
      await res.body?.cancel()
      throw new RegistryLookupError(`${ref.registry} answered ${res.status} for ${url}`)
    }
    return (await readJson(res, url)) as Manifest
  }

  let manifest = await get(ref.digest ?? ref.tag ?? 'latest')
  if (Array.isArray(manifest.manifests)) {
    const pick = manifest.manifests.find(
      (d) =>
        (d.platform?.os ?? 'linux') === 'linux' &&
        d.platform?.architecture === opts.arch &&
        typeof d.digest === 'string',
    )
    if (!pick) throw new RegistryLookupError(`no linux/${opts.arch} image in ${ref.name}`)
    manifest = await get(pick.digest!)
  }
  const parts = [manifest.config, ...(manifest.layers ?? [])]
  if (!Array.isArray(manifest.layers) || parts.some((d) => !validSize(d?.size))) {
    throw new RegistryLookupError(`the manifest of ${ref.name} states no layer sizes`)
  }
  return parts.reduce((sum, d) => sum + d!.size!, 0)
}

function validSize(n: unknown): n is number {
  return typeof n === 'number' && Number.isSafeInteger(n) && n >= 0
}

async function anonymousToken(
  challenge: Record<string, string>,
  doFetch: typeof fetch,
  signal: AbortSignal,
): Promise<string> {
  const url = new URL(challenge.realm!)
  if (url.protocol !== 'https:' && !isLoopback(url.host)) {
    throw new RegistryLookupError(`refusing a token realm over plain HTTP: ${url.origin}`)
  }
  if (challenge.service) url.searchParams.set('service', challenge.service)
  if (challenge.scope) url.searchParams.set('scope', challenge.scope)
  const res = await doFetch(url, { signal })
  if (!res.ok) {
    await res.body?.cancel()
    throw new RegistryLookupError(`the token service answered ${res.status}`)
  }
  const body = (await readJson(res, url.toString())) as { token?: unknown; access_token?: unknown }
  const token = body.token ?? body.access_token
  if (typeof token !== 'string' || token.length === 0) {
    throw new RegistryLookupError('the token service gave no token')
  }
  return token
}

async function readJson(res: Response, url: string): Promise<unknown> {
  const declared = Number(res.headers.get('content-length') ?? 0)
  if (declared > MAX_MANIFEST_BYTES) {
    await res.body?.cancel()
    throw new RegistryLookupError(`answer from ${url} is larger than a manifest can be`)
  }
  const text = await res.text()
  if (text.length > MAX_MANIFEST_BYTES) {
    throw new RegistryLookupError(`answer from ${url} is larger than a manifest can be`)
  }
  try {
    return JSON.parse(text) as unknown
  } catch (err) {
    throw new RegistryLookupError(`answer from ${url} is not JSON`, { cause: err })
  }
}
