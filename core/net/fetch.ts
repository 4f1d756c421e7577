// WHATWG `fetch` for URLs that records and DID documents name, sent over Node's own HTTP stack
// (`node:http`/`node:https`) instead of undici. See README.md for why: the SSRF-guarded fetch of
// @atproto-labs/fetch-node needs a second undici (its own Agent, whose HTTP parser is WebAssembly)
// beside the one inside Node, some 11 MiB of a daemon's memory for a few requests a minute.
//
// The policy is the library's, unchanged: the same request transforms, the same URL checks on
// every redirect hop, the same connect-time DNS guard (`unicastLookup`), the same timeout and
// response size limit. Only the transport differs.
import http from 'node:http'
import https from 'node:https'
import type { LookupFunction } from 'node:net'
import { pipeline, Readable, type Transform } from 'node:stream'
import zlib from 'node:zlib'
import {
  DEFAULT_FORBIDDEN_DOMAIN_NAMES,
  asRequest,
  checkForbiddenDomainNamePolicy,
  checkHostHeaderPolicy,
  checkProtocolPolicy,
  checkUnicastPolicy,
  explicitRedirectCheckRequestTransform,
  fetchMaxSizeProcessor,
  forbiddenDomainNameRequestTransform,
  protocolCheckRequestTransform,
  requireHostHeaderTransform,
  timedFetch,
  unicastLookup,
  type ProtocolConfig,
} from '@atproto-labs/fetch-node'

type Fetch = typeof globalThis.fetch

/** A URL policy: the reason a URL may not be fetched, or undefined. */
export type UrlCheck = (url: URL) => string | undefined

export interface HttpFetchOptions {
  /** Judged on the URL of every request sent, redirect hops included. */
  checkUrl?: UrlCheck
  /** DNS look-up for every new connection (default `dns.lookup`). */
  lookup?: LookupFunction
  /** Redirects followed before the fetch fails (`fetch` allows 20). */
  maxRedirects?: number
}

const REDIRECTS = new Set([301, 302, 303, 307, 308])
const NULL_BODY = new Set([101, 103, 204, 205, 304])
// Idle keep-alive connections close after this long: a daemon that reads a record every few
// minutes keeps no sockets open between reads.
const IDLE_SOCKET_MS = 15_000

/** `fetch` over `node:http`/`node:https`, with keep-alive connections of its own. */
export function httpFetch(opts: HttpFetchOptions = {}): Fetch {
  const maxRedirects = opts.maxRedirects ?? 20
  const agents = {
    'http:': new http.Agent({ keepAlive: true, timeout: IDLE_SOCKET_MS }),
    'https:': new https.Agent({ keepAlive: true, timeout: IDLE_SOCKET_MS }),
  }
  return async function fetchOverNodeHttp(input, init) {
    const request = asRequest(input, init)
    let body: Buffer | undefined = request.body
      ? Buffer.from(await request.arrayBuffer())
      : undefined
    let method = request.method
    let url = new URL(request.url)
    const headers = new Headers(request.headers)
    for (let hop = 0; ; hop++) {
      const reason = opts.checkUrl?.(url)
      if (reason) {
        // The origin only: a path or query may carry a token that must not reach a log.
        const cause = new Error(`Blocked by url policy (${url.origin}): ${reason}`)
        throw new TypeError('fetch failed', { cause })
      }
      const response = await send(url, method, headers, body, request.signal, agents, opts.lookup)
      const location = response.headers.get('location')
      if (!REDIRECTS.has(response.status) || location === null || request.redirect === 'manual') {
        return finish(response, url, hop > 0)
      }
      await response.body?.cancel()
      if (request.redirect === 'error') {
        throw new TypeError('fetch failed', {
          cause: new Error(`redirect to ${location} refused (redirect: "error")`),
        })
      }
      if (hop >= maxRedirects) {
        throw new TypeError('fetch failed', { cause: new Error('redirect count exceeded') })
      }
      const next = new URL(location, url)
      // As fetch does (WHATWG Fetch, HTTP-redirect fetch): 303 turns anything but HEAD into a
      // GET without a body, and so do 301 and 302 a POST; credentials stay on their origin.
      if (
        (response.status === 303 && method !== 'HEAD') ||
        ((response.status === 301 || response.status === 302) && method === 'POST')
      ) {
        method = 'GET'
        body = undefined
        for (const h of ['content-type', 'content-length', 'content-encoding']) headers.delete(h)
      }
      if (next.origin !== url.origin) headers.delete('authorization')
      url = next
    }
  }
}

function send(
  url: URL,
  method: string,
  headers: Headers,
  body: Buffer | undefined,
  signal: AbortSignal,
  agents: Record<'http:' | 'https:', http.Agent>,
  lookup: LookupFunction | undefined,
): Promise<Response> {
  const protocol = url.protocol
  if (protocol !== 'http:' && protocol !== 'https:') {
    return Promise.reject(
      new TypeError('fetch failed', { cause: new Error(`unsupported protocol ${protocol}`) }),
    )
  }
  if (signal.aborted) return Promise.reject(signal.reason)
  const outgoing: Record<string, string> = {}
  headers.forEach((value, name) => (outgoing[name] = value))
  // As fetch does: a compressed answer where the server offers one (a repo read's CAR shrinks by
  // about half), decoded below.
  outgoing['accept-encoding'] ??= 'gzip, deflate, br'
  if (body !== undefined) outgoing['content-length'] = String(body.length)
  return new Promise<Response>((resolve, reject) => {
    const req = (protocol === 'https:' ? https : http).request(url, {
      method,
      headers: outgoing,
      agent: agents[protocol],
      signal,
      ...(lookup ? { lookup } : {}),
    })
    req.once('error', (err) =>
      reject(signal.aborted ? signal.reason : new TypeError('fetch failed', { cause: err })),
    )
    req.once('response', (res) => {
      const responseHeaders = new Headers()
      for (let i = 0; i < res.rawHeaders.length; i += 2) {
        responseHeaders.append(res.rawHeaders[i]!, res.rawHeaders[i + 1]!)
      }
      const status = res.statusCode ?? 500
      if (method === 'HEAD' || NULL_BODY.has(status)) {
        res.resume()
        resolve(
          new Response(null, { status, statusText: res.statusMessage, headers: responseHeaders }),
        )
        return
      }
      const stream = decoded(res, responseHeaders.get('content-encoding'))
      stream.once('error', () => res.destroy())
      resolve(
        new Response(Readable.toWeb(stream) as ReadableStream<Uint8Array>, {
          status,
          statusText: res.statusMessage,
          headers: responseHeaders,
        }),
      )
    })
    req.end(body)
  })
}

/** The body as sent, decoded as fetch decodes it. Joined with `pipeline`, not `pipe`: a connection
 *  that drops, or a request aborted after the headers (guardedFetch's timeout), reaches the
 *  decoder as an error, where `pipe` would leave it waiting forever for the rest. */
function decoded(res: http.IncomingMessage, encoding: string | null): Readable {
  const decoder = decoderFor(encoding)
  return decoder ? pipeline(res, decoder, () => undefined) : res
}

function decoderFor(encoding: string | null): Transform | undefined {
  switch (encoding?.trim().toLowerCase()) {
    case 'gzip':
    case 'x-gzip':
      return zlib.createGunzip()
    case 'deflate':
      return zlib.createInflate()
    case 'br':
      return zlib.createBrotliDecompress()
    default:
      return undefined
  }
}

/** `url` and `redirected` as fetch sets them. */
function finish(response: Response, url: URL, redirected: boolean): Response {
  Object.defineProperty(response, 'url', { value: url.href })
  Object.defineProperty(response, 'redirected', { value: redirected })
  return response
}

export interface GuardedFetchOptions {
  /** Bytes a response body may have (default 512 kB). */
  responseMaxSize?: number
  /** Off only for an explicitly local network: it relaxes the defaults below. */
  ssrfProtection?: boolean
  allowCustomPort?: boolean
  allowHttp?: boolean
  allowIpHost?: boolean
  allowPrivateIps?: boolean
  /** For the whole redirect chain (default 10 s). */
  timeout?: number
  forbiddenDomainNames?: Iterable<string>
  allowImplicitRedirect?: boolean
}

/** `safeFetchWrap` of @atproto-labs/fetch-node, option for option and check for check, over
 *  `httpFetch`: the initial request passes the library's transforms; every hop, redirects
 *  included, the library's URL policy; every connection, its unicast DNS guard. */
export function guardedFetch({
  responseMaxSize = 512 * 1024,
  ssrfProtection = true,
  allowCustomPort = !ssrfProtection,
  allowHttp = !ssrfProtection,
  allowIpHost = true,
  allowPrivateIps = !ssrfProtection,
  timeout = 10_000,
  forbiddenDomainNames = DEFAULT_FORBIDDEN_DOMAIN_NAMES,
  allowImplicitRedirect = false,
}: GuardedFetchOptions = {}): Fetch {
  const protocols: ProtocolConfig = {
    'about:': false,
    'data:': false,
    'file:': false,
    'http:': allowHttp && { allowCustomPort },
    'https:': { allowCustomPort },
  }
  const forbidden = new Set(forbiddenDomainNames)
  const checkUrl: UrlCheck = (url) =>
    checkProtocolPolicy(url, protocols) ??
    (allowIpHost ? undefined : checkHostHeaderPolicy(url)) ??
    checkForbiddenDomainNamePolicy(url, forbidden) ??
    (allowPrivateIps ? undefined : checkUnicastPolicy(url))
  const transport = timedFetch(
    timeout,
    httpFetch({
      checkUrl,
      ...(allowPrivateIps ? {} : { lookup: unicastLookup as LookupFunction }),
    }),
  )
  const transforms = [
    allowImplicitRedirect ? asRequest : explicitRedirectCheckRequestTransform(),
    allowIpHost ? asRequest : requireHostHeaderTransform(),
    protocolCheckRequestTransform(protocols),
    forbiddenDomainNameRequestTransform(forbidden),
  ]
  const limit = fetchMaxSizeProcessor(responseMaxSize)
  return async (input, init) => {
    let request: Request = await transforms[0]!(input, init)
    for (const t of transforms.slice(1)) request = await t(request)
    return limit(await transport(request))
  }
}
