// core/net: fetch over node:http, and the SSRF guard of @atproto-labs/fetch-node over it, against
// real HTTP servers on loopback. The guard's own rules are the library's; what is tested here is
// that each is applied by this transport: to the first request, to every redirect hop, and at
// connect time, before any request reaches a server it refuses.
import { execFile } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import http from 'node:http'
import type { AddressInfo } from 'node:net'
import { promisify } from 'node:util'
import { gzipSync } from 'node:zlib'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { guardedFetch, httpFetch } from '../../../core/net/fetch.js'

interface Seen {
  method: string
  url: string
  headers: http.IncomingHttpHeaders
  body: string
}

/** A server that records what it receives and answers with `handler`. */
async function serve(handler: (req: http.IncomingMessage, res: http.ServerResponse) => void) {
  const seen: Seen[] = []
  const server = http.createServer((req, res) => {
    let body = ''
    req.on('data', (d: Buffer) => (body += d.toString()))
    req.on('end', () => {
      seen.push({ method: req.method!, url: req.url!, headers: req.headers, body })
      handler(req, res)
    })
  })
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
  const port = (server.address() as AddressInfo).port
  return {
    seen,
    port,
    url: (path = '/') => `http://127.0.0.1:${port}${path}`,
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections()
        server.close(() => r())
      }),
  }
}

type Server = Awaited<ReturnType<typeof serve>>

let main: Server
let other: Server
/** Bytes that compress (half zeros), served gzipped by /gzip-bytes. */
const BYTES = Buffer.concat([randomBytes(48 * 1024), Buffer.alloc(48 * 1024)])

beforeAll(async () => {
  other = await serve((req, res) => {
    res.setHeader('content-type', 'application/json')
    res.end(JSON.stringify({ other: true, path: req.url }))
  })
  main = await serve((req, res) => {
    const u = new URL(req.url!, 'http://x')
    switch (u.pathname) {
      case '/json':
        res.setHeader('content-type', 'application/json')
        res.setHeader('x-many', ['a', 'b'])
        res.end(JSON.stringify({ ok: true }))
        return
      case '/echo':
        res.setHeader('content-type', 'application/octet-stream')
        req.resume()
        res.end('echoed')
        return
      case '/redirect': {
        res.statusCode = Number(u.searchParams.get('status') ?? 302)
        res.setHeader('location', u.searchParams.get('to')!)
        res.end()
        return
      }
      case '/loop':
        res.statusCode = 302
        res.setHeader('location', '/loop')
        res.end()
        return
      case '/gzip':
        res.setHeader('content-encoding', 'gzip')
        res.end(gzipSync(Buffer.from('{"zipped":true}')))
        return
      case '/big':
        res.end(Buffer.alloc(64 * 1024, 120))
        return
      case '/gzip-bytes': {
        // A blob as a compressing PDS may send it: the length is the compressed one.
        const zipped = gzipSync(BYTES)
        res.setHeader('content-type', 'application/octet-stream')
        res.setHeader('content-encoding', 'gzip')
        res.setHeader('content-length', String(zipped.length))
        res.end(zipped)
        return
      }
      case '/gzip-bomb':
        res.setHeader('content-encoding', 'gzip')
        res.end(gzipSync(Buffer.alloc(64 * 1024)))
        return
      case '/gzip-cut':
      case '/gzip-stall': {
        // Half of a compressed body, then the connection drops (or nothing more comes).
        const zipped = gzipSync(randomBytes(32 * 1024))
        res.setHeader('content-encoding', 'gzip')
        res.setHeader('content-length', String(zipped.length))
        res.write(zipped.subarray(0, zipped.length >> 1))
        if (u.pathname === '/gzip-cut') setTimeout(() => res.destroy(), 20)
        return
      }
      case '/cut':
        res.setHeader('content-length', '1000')
        res.write('partial')
        setTimeout(() => res.destroy(), 20)
        return
      case '/silent':
        return // never answers
      case '/empty':
        res.statusCode = 204
        res.end()
        return
      default:
        res.statusCode = 404
        res.end('no')
    }
  })
})

afterAll(async () => {
  await main.close()
  await other.close()
})

describe('httpFetch', () => {
  const fetch = httpFetch()

  it('returns a WHATWG Response: status, headers (repeated ones joined), body and url', async () => {
    const res = await fetch(main.url('/json'))
    expect(res).toBeInstanceOf(Response)
    expect(res.status).toBe(200)
    expect(res.headers.get('content-type')).toBe('application/json')
    expect(res.headers.get('x-many')).toBe('a, b')
    expect(await res.json()).toEqual({ ok: true })
    expect(res.url).toBe(main.url('/json'))
    expect(res.redirected).toBe(false)
    const missing = await fetch(main.url('/nothing'))
    expect(missing.status).toBe(404)
    expect(await missing.text()).toBe('no')
    const empty = await fetch(main.url('/empty'))
    expect(empty.status).toBe(204)
    expect(empty.body).toBeNull()
  })

  it('sends the method, headers and body as given', async () => {
    const before = main.seen.length
    const body = new TextEncoder().encode('{"record":1}')
    const res = await fetch(main.url('/echo?x=1'), {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: 'Bearer t' },
      body,
    })
    expect(await res.text()).toBe('echoed')
    const got = main.seen[before]!
    expect(got).toMatchObject({ method: 'POST', url: '/echo?x=1', body: '{"record":1}' })
    expect(got.headers['content-type']).toBe('application/json')
    expect(got.headers.authorization).toBe('Bearer t')
    expect(got.headers['content-length']).toBe(String(body.length))
  })

  it('follows redirects as fetch does: 303 becomes a GET, 307 keeps the body, credentials stay home', async () => {
    const to = encodeURIComponent(other.url('/there'))
    const before = other.seen.length
    const res = await fetch(main.url(`/redirect?to=${to}`), { headers: { authorization: 'x' } })
    expect(await res.json()).toEqual({ other: true, path: '/there' })
    expect(res.redirected).toBe(true)
    expect(res.url).toBe(other.url('/there'))
    expect(other.seen[before]!.headers.authorization).toBeUndefined()

    await (
      await fetch(main.url(`/redirect?status=303&to=${to}`), { method: 'POST', body: 'b' })
    ).text()
    expect(other.seen[before + 1]).toMatchObject({ method: 'GET', body: '' })
    await (
      await fetch(main.url(`/redirect?status=307&to=${to}`), { method: 'POST', body: 'b' })
    ).text()
    expect(other.seen[before + 2]).toMatchObject({ method: 'POST', body: 'b' })
  })

  it('honours redirect: manual and error, and gives up on a loop', async () => {
    const to = encodeURIComponent(other.url('/there'))
    const manual = await fetch(main.url(`/redirect?to=${to}`), { redirect: 'manual' })
    expect(manual.status).toBe(302)
    await expect(fetch(main.url(`/redirect?to=${to}`), { redirect: 'error' })).rejects.toThrow(
      TypeError,
    )
    const loop = await fetch(main.url('/loop')).catch((err: Error) => err)
    expect(loop).toBeInstanceOf(TypeError)
    expect(String((loop as TypeError).cause)).toMatch(/redirect count exceeded/)
  })

  it('asks for a compressed body, as fetch does, and decodes it', async () => {
    const before = main.seen.length
    expect(await (await fetch(main.url('/gzip'))).json()).toEqual({ zipped: true })
    expect(main.seen[before]!.headers['accept-encoding']).toBe('gzip, deflate, br')
    // A caller's own choice is kept.
    await (await fetch(main.url('/json'), { headers: { 'accept-encoding': 'identity' } })).text()
    expect(main.seen[before + 1]!.headers['accept-encoding']).toBe('identity')
    // Binary content comes out byte for byte, whatever length the header gave.
    const bytes = await fetch(main.url('/gzip-bytes'))
    expect(Number(bytes.headers.get('content-length'))).toBeLessThan(BYTES.length)
    expect(Buffer.from(await bytes.arrayBuffer()).equals(BYTES)).toBe(true)
  })

  it('rejects on abort, on a refused connection and on a body cut short, without hanging', async () => {
    const ctl = new AbortController()
    const pending = fetch(main.url('/silent'), { signal: ctl.signal })
    setTimeout(() => ctl.abort(), 50)
    await expect(pending).rejects.toMatchObject({ name: 'AbortError' })
    const pre = new AbortController()
    pre.abort()
    await expect(fetch(main.url('/json'), { signal: pre.signal })).rejects.toMatchObject({
      name: 'AbortError',
    })
    await expect(fetch('http://127.0.0.1:1/')).rejects.toThrow(TypeError)
    const cut = await fetch(main.url('/cut'))
    await expect(cut.text()).rejects.toThrow()
    // The same for a compressed body: the decoder hears of the lost connection and of an abort
    // after the headers, instead of waiting forever for the rest.
    const zipCut = await fetch(main.url('/gzip-cut'))
    await expect(zipCut.arrayBuffer()).rejects.toThrow()
    const late = new AbortController()
    const stalled = await fetch(main.url('/gzip-stall'), { signal: late.signal })
    setTimeout(() => late.abort(), 50)
    await expect(stalled.arrayBuffer()).rejects.toThrow()
  })

  it('judges every hop with checkUrl before connecting to it', async () => {
    const blocked = other.port
    const guarded = httpFetch({
      checkUrl: (u) => (u.port === String(blocked) ? 'that port is off limits' : undefined),
    })
    const before = other.seen.length
    const to = encodeURIComponent(other.url('/secret'))
    const err = await guarded(main.url(`/redirect?to=${to}`)).catch((e: Error) => e)
    expect(err).toBeInstanceOf(TypeError)
    expect(String((err as TypeError).cause)).toMatch(/Blocked by url policy .*off limits/)
    // The origin only: the path may hold a token.
    expect(String((err as TypeError).cause)).not.toMatch(/secret/)
    expect(other.seen.length).toBe(before)
  })
})

describe('guardedFetch', () => {
  it('refuses loopback and private addresses, by literal or by name, before any request is sent', async () => {
    const fetch = guardedFetch({ allowHttp: true, allowCustomPort: true })
    const before = main.seen.length
    await expect(fetch(main.url('/json'))).rejects.toThrow()
    await expect(fetch(`http://localhost:${main.port}/json`)).rejects.toThrow()
    await expect(fetch(`http://[::1]:${main.port}/json`)).rejects.toThrow()
    await expect(fetch(`http://10.0.0.1:${main.port}/json`)).rejects.toThrow()
    expect(main.seen.length).toBe(before)
  })

  it('refuses plain http, custom ports and other schemes with the protection on', async () => {
    const fetch = guardedFetch()
    await expect(fetch('http://plc.example.org/')).rejects.toThrow()
    await expect(fetch('https://pds.invalid:8443/')).rejects.toThrow()
    await expect(fetch('file:///etc/passwd')).rejects.toThrow()
    await expect(fetch('data:text/plain,hi')).rejects.toThrow()
  })

  it('on a local network, reaches loopback but still checks every hop and caps the body', async () => {
    const fetch = guardedFetch({
      ssrfProtection: false,
      allowImplicitRedirect: true,
      responseMaxSize: 1024,
    })
    expect(await (await fetch(main.url('/json'))).json()).toEqual({ ok: true })
    // A redirect towards a forbidden domain or a file is refused at the hop, not followed.
    for (const to of ['http://example.com/x', 'file:///etc/passwd']) {
      const err = await fetch(main.url(`/redirect?to=${encodeURIComponent(to)}`)).catch(
        (e: Error) => e,
      )
      expect(err).toBeInstanceOf(TypeError)
    }
    // 64 KiB against a 1 KiB cap; compressed to far less, the decoded bytes count.
    await expect(fetch(main.url('/big')).then((r) => r.arrayBuffer())).rejects.toThrow()
    await expect(fetch(main.url('/gzip-bomb')).then((r) => r.arrayBuffer())).rejects.toThrow()
  })

  it('requires an explicit redirect mode unless told otherwise, as the library does', async () => {
    const strict = guardedFetch({ ssrfProtection: false })
    await expect(strict(main.url('/json'))).rejects.toThrow()
    expect((await strict(main.url('/json'), { redirect: 'follow' })).status).toBe(200)
  })

  it('times out a server that never answers', async () => {
    const fetch = guardedFetch({ ssrfProtection: false, allowImplicitRedirect: true, timeout: 200 })
    await expect(fetch(main.url('/silent'))).rejects.toThrow()
    // And one that stops half way through a compressed body.
    await expect(fetch(main.url('/gzip-stall')).then((r) => r.arrayBuffer())).rejects.toThrow()
  })
})

// In a fresh process with the CLI's load hooks: resolving identities and reading a repo loads
// no second undici; a library that does build the SSRF dispatcher gets the genuine class.
const SCRIPT = `
import { installTypeScriptLoader } from './bin/ts-loader.js'
installTypeScriptLoader()
const { installLoadHooks } = await import('./core/cli/load-hooks.ts')
installLoadHooks()
const { createRequire } = await import('node:module')
const require = createRequire(import.meta.url)
const undiciLoaded = () => Object.keys(require.cache).some((k) => k.includes('/node_modules/undici'))
const { IdentityResolver } = await import('./core/identity/resolver.ts')
const identity = new IdentityResolver({ plcUrl: 'http://127.0.0.1:1' })
const refused = await identity.fetch('http://127.0.0.1:' + process.argv[1] + '/json').then(() => 'sent', () => 'refused')
const local = new IdentityResolver({ plcUrl: 'http://127.0.0.1:1', allowPrivateNetwork: true })
const body = await (await local.fetch('http://127.0.0.1:' + process.argv[1] + '/json')).json()
const afterDaemonPaths = undiciLoaded()
const { safeFetchWrap } = await import('@atproto-labs/fetch-node')
const lib = safeFetchWrap({ ssrfProtection: false, allowImplicitRedirect: true })
const viaLibrary = await (await lib('http://127.0.0.1:' + process.argv[1] + '/json')).json()
console.log(JSON.stringify({ refused, body, afterDaemonPaths, viaLibrary, afterLibrary: undiciLoaded() }))
`

describe('one HTTP stack in a daemon', () => {
  it('loads the SSRF dispatcher’s undici only when a library builds one', async () => {
    const { stdout } = await promisify(execFile)(
      process.execPath,
      ['--input-type=module', '-e', SCRIPT, String(main.port)],
      { cwd: new URL('../../../', import.meta.url).pathname },
    )
    expect(JSON.parse(stdout.trim().split('\n').pop()!)).toEqual({
      refused: 'refused',
      body: { ok: true },
      afterDaemonPaths: false,
      viaLibrary: { ok: true },
      afterLibrary: true,
    })
  })
})
