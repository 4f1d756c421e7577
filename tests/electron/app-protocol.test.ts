import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import {
  APP_INDEX_URL,
  CONTENT_SECURITY_POLICY,
  contentTypeFor,
  resolveAppFile,
  serveAppRequest,
} from '../../electron/app-protocol.js'

describe('resolveAppFile', () => {
  const posixRoot = '/opt/meshlet/dist/renderer'
  it.each([
    ['app://meshlet/', 'index.html'],
    ['app://meshlet', 'index.html'],
    ['app://meshlet/index.html', 'index.html'],
    ['app://meshlet/index.html?x=1#top', 'index.html'],
    ['app://meshlet/assets/index-Dx3k.js', 'assets/index-Dx3k.js'],
    ['app://meshlet/assets//a.css', 'assets/a.css'],
    ['app://meshlet/a%20b.png', 'a b.png'],
    // The parser folds dot segments before we see them: this stays inside.
    ['app://meshlet/assets/../index.html', 'index.html'],
    ['app://meshlet/../../etc/passwd', 'etc/passwd'],
    // So does %2e, which the URL standard reads as a dot in a path segment.
    ['app://meshlet/%2e%2e/%2e%2e/etc/passwd', 'etc/passwd'],
    ['app://meshlet/assets/%2E%2E/%2E%2E/secrets.json', 'secrets.json'],
    ['app://meshlet/%2e/index.html', 'index.html'],
  ])('serves %j from %j', (url, file) => {
    expect(resolveAppFile(url, posixRoot, path.posix)).toBe(path.posix.join(posixRoot, file))
  })

  it.each([
    'app://meshlet/..%2f..%2fsecrets.json',
    // A decoded `..` is refused even where it would land inside: only a crafted URL has one.
    'app://meshlet/assets/..%2findex.html',
    'app://meshlet/..%5c..%5csecrets.json',
    'app://meshlet/index.html%00.png',
    'app://meshlet/%E0%A4%A',
    'app://meshlet/C:/Windows/win.ini',
    'app://meshlet/C%3A%5CWindows%5Cwin.ini',
    'app://evil/index.html',
    'app://meshlet.evil/index.html',
    'app://user@meshlet/index.html',
    'file:///opt/meshlet/dist/renderer/index.html',
    'https://meshlet/index.html',
    'not a url',
  ])('refuses %j', (url) => {
    expect(resolveAppFile(url, posixRoot, path.posix)).toBeUndefined()
  })

  it('keeps Windows paths inside the root too', () => {
    const root = 'C:\\Program Files\\Commune meshlet\\resources\\app.asar\\dist\\renderer'
    expect(resolveAppFile('app://meshlet/assets/a.js', root, path.win32)).toBe(
      `${root}\\assets\\a.js`,
    )
    for (const url of [
      'app://meshlet/..%5C..%5C..%5Cwin.ini',
      'app://meshlet/D:/x',
      'app://meshlet/%5C%5Cserver%5Cshare',
    ]) {
      expect(resolveAppFile(url, root, path.win32), url).toBeUndefined()
    }
  })
})

describe('contentTypeFor', () => {
  it.each([
    ['index.html', 'text/html; charset=utf-8'],
    ['assets/index-abc.js', 'text/javascript; charset=utf-8'],
    ['assets/index-abc.CSS', 'text/css; charset=utf-8'],
    ['logo.svg', 'image/svg+xml'],
    ['font.woff2', 'font/woff2'],
    ['blob.bin', 'application/octet-stream'],
    ['README', 'application/octet-stream'],
  ])('%s → %s', (file, type) => {
    expect(contentTypeFor(file)).toBe(type)
  })
})

describe('CONTENT_SECURITY_POLICY', () => {
  const directives = new Map(
    CONTENT_SECURITY_POLICY.split(';').map((d) => {
      const [name = '', ...values] = d.trim().split(/\s+/)
      return [name, values] as const
    }),
  )

  it('denies by default and allows scripts only from the app itself', () => {
    expect(directives.get('default-src')).toEqual(["'none'"])
    expect(directives.get('script-src')).toEqual(["'self'"])
    expect(directives.get('object-src')).toEqual(["'none'"])
    expect(directives.get('base-uri')).toEqual(["'none'"])
    expect(directives.get('frame-ancestors')).toEqual(["'none'"])
  })

  it('has no inline script, eval or remote source anywhere', () => {
    expect(CONTENT_SECURITY_POLICY).not.toMatch(/unsafe-|https?:|wss?:|\*/)
  })
})

describe('serveAppRequest', () => {
  let root: string
  beforeAll(async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'meshlet-protocol-'))
    root = path.join(dir, 'renderer')
    await mkdir(path.join(root, 'assets'), { recursive: true })
    await writeFile(path.join(root, 'index.html'), '<!doctype html><title>meshlet</title>')
    await writeFile(path.join(root, 'assets', 'app.js'), 'console.log(1)')
    // A file beside the root, which no URL may reach.
    await writeFile(path.join(dir, 'secrets.json'), '{"token":"x"}')
  })
  afterAll(async () => {
    await rm(path.dirname(root), { recursive: true, force: true })
  })

  it('serves the index with the CSP and security headers', async () => {
    const res = await serveAppRequest(new Request(APP_INDEX_URL), root)
    expect(res.status).toBe(200)
    expect(await res.text()).toContain('<title>meshlet</title>')
    expect(res.headers.get('content-type')).toBe('text/html; charset=utf-8')
    expect(res.headers.get('content-security-policy')).toBe(CONTENT_SECURITY_POLICY)
    expect(res.headers.get('x-content-type-options')).toBe('nosniff')
  })

  it('serves assets with their type', async () => {
    const res = await serveAppRequest(new Request('app://meshlet/assets/app.js'), root)
    expect(res.status).toBe(200)
    expect(res.headers.get('content-type')).toBe('text/javascript; charset=utf-8')
    expect(await res.text()).toBe('console.log(1)')
  })

  it('answers HEAD without a body', async () => {
    const res = await serveAppRequest(new Request(APP_INDEX_URL, { method: 'HEAD' }), root)
    expect(res.status).toBe(200)
    expect(await res.text()).toBe('')
  })

  it.each([
    'app://meshlet/missing.js',
    'app://meshlet/assets/',
    'app://meshlet/%2e%2e/secrets.json',
    'app://other/index.html',
  ])('answers 404 for %j', async (url) => {
    const res = await serveAppRequest(new Request(url), root)
    expect(res.status).toBe(404)
    expect(await res.text()).not.toContain('token')
  })

  it('refuses methods other than GET and HEAD', async () => {
    const res = await serveAppRequest(
      new Request(APP_INDEX_URL, { method: 'POST', body: 'x' }),
      root,
    )
    expect(res.status).toBe(405)
  })
})
