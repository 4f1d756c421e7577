import { describe, expect, it } from 'vitest'
import {
  checkExternalUrl,
  isAppUrl,
  isLoopbackHost,
  isRendererRequestAllowed,
  MAX_EXTERNAL_URL_LENGTH,
  type ExternalUrlRefusal,
} from '../../electron/trusted-url.js'

const PUBLIC = { allowLoopback: false }
const LOCAL = { allowLoopback: true }

describe('checkExternalUrl', () => {
  // [input, what is opened]: the opened URL is the parsed one, never the raw string.
  it.each([
    ['https://bsky.app/profile/alice.bsky.social', 'https://bsky.app/profile/alice.bsky.social'],
    ['https://BSKY.APP/x', 'https://bsky.app/x'],
    ['  https://bsky.social/oauth/authorize?request_uri=urn%3Aietf', undefined],
    [
      'https://pds.example.org:8443/oauth/authorize',
      'https://pds.example.org:8443/oauth/authorize',
    ],
    ['https://bsky.app:443/x?y#z', 'https://bsky.app/x?y#z'],
    ['https://bsky.app./', 'https://bsky.app./'],
    // Fullwidth letters are folded to ASCII by the parser: what opens is plain bsky.app.
    ['https://ｂｓｋｙ.app', 'https://bsky.app/'],
    // Percent-encoded host letters decode to the real host, which is what gets opened.
    ['https://%65vil.com', 'https://evil.com/'],
    // An empty user part is dropped by the parser; the host is evil.com and says so.
    ['https://@evil.com', 'https://evil.com/'],
  ])('opens %j', (input, opened) => {
    const check = checkExternalUrl(input, PUBLIC)
    expect(check.ok).toBe(true)
    if (check.ok) expect(check.url).toBe(opened ?? new URL(input).href)
  })

  it.each<[string, ExternalUrlRefusal]>([
    // Not the web: other programs, the disk, the app's own internals.
    ['javascript:alert(1)', 'scheme'],
    ['JavaScript:alert(1)', 'scheme'],
    ['data:text/html,<script>alert(1)</script>', 'scheme'],
    ['file:///etc/passwd', 'scheme'],
    ['file://server/share/x.exe', 'scheme'],
    ['smb://evil.com/share', 'scheme'],
    ['vbscript:msgbox(1)', 'scheme'],
    ['blob:https://bsky.app/uuid', 'scheme'],
    ['ms-msdt:/id PCWDiagnostic', 'scheme'],
    ['vscode://file/etc/passwd', 'scheme'],
    ['app://meshlet/index.html', 'scheme'],
    ['about:blank', 'scheme'],
    ['ftp://bsky.app/x', 'scheme'],
    ['ws://bsky.app/', 'scheme'],
    // Credentials: the host is what follows the @, not what precedes it.
    ['https://bsky.social@evil.com', 'credentials'],
    ['https://bsky.social:password@evil.com/', 'credentials'],
    ['https://bsky.app\n@evil.com', 'credentials'],
    ['https://bsky.app\t@evil.com', 'credentials'],
    // Plain http to anything but loopback.
    ['http://bsky.app/', 'insecure-http'],
    ['http://127.0.0.1.evil.com/', 'insecure-http'],
    ['http://localhost.evil.com/', 'insecure-http'],
    ['http://localhost./', 'insecure-http'],
    // Loopback is off unless the network is local.
    ['http://127.0.0.1:2583/oauth/authorize', 'loopback'],
    ['http://localhost:2583/', 'loopback'],
    ['https://localhost/', 'loopback'],
    ['http://127.1/', 'loopback'],
    ['http://0x7f000001/', 'loopback'],
    ['http://[::1]:2583/', 'loopback'],
    // Addresses: the LAN and whatever else a page should not be pointed at.
    ['https://192.168.1.1/', 'ip-address'],
    ['https://10.0.0.1/admin', 'ip-address'],
    ['https://1.1.1.1/', 'ip-address'],
    ['https://3232235777/', 'ip-address'],
    ['https://[::ffff:127.0.0.1]/', 'ip-address'],
    ['https://[fe80::1]/', 'ip-address'],
    // Look-alike hosts: Cyrillic "ѕ" for Latin "s", typed or pre-encoded.
    ['https://bѕky.app/', 'international-host'],
    ['https://xn--bky-fhd.app/', 'international-host'],
    ['https://bsky.xn--80ak6aa92e/', 'international-host'],
    // Names that resolve inside the LAN.
    ['https://intranet/', 'not-a-public-host'],
    ['https://router./', 'not-a-public-host'],
    // Not URLs at all.
    ['', 'not-a-url'],
    ['bsky.app', 'not-a-url'],
    ['//evil.com/x', 'not-a-url'],
    ['\\\\evil.com\\share', 'not-a-url'],
    ['https://', 'not-a-url'],
    ['https://bsky.social%40evil.com', 'not-a-url'],
  ])('refuses %j (%s)', (input, reason) => {
    expect(checkExternalUrl(input, PUBLIC)).toEqual({ ok: false, reason })
  })

  it('refuses what is not a string', () => {
    for (const input of [undefined, null, 42, { href: 'https://bsky.app' }, ['https://bsky.app']]) {
      expect(checkExternalUrl(input, PUBLIC)).toEqual({ ok: false, reason: 'not-a-url' })
    }
  })

  it('refuses URLs longer than Windows hands on whole', () => {
    const base = 'https://bsky.app/?q='
    const fits = base + 'a'.repeat(MAX_EXTERNAL_URL_LENGTH - base.length)
    expect(checkExternalUrl(fits, PUBLIC).ok).toBe(true)
    expect(checkExternalUrl(fits + 'a', PUBLIC)).toEqual({ ok: false, reason: 'too-long' })
  })

  describe('on a local network', () => {
    it.each([
      ['http://127.0.0.1:2583/oauth/authorize?x=1', 'http://127.0.0.1:2583/oauth/authorize?x=1'],
      ['http://localhost:2583/', 'http://localhost:2583/'],
      ['http://127.1/', 'http://127.0.0.1/'],
      ['http://[0:0::1]:8080/', 'http://[::1]:8080/'],
      ['https://localhost/', 'https://localhost/'],
    ])('opens loopback %j', (input, opened) => {
      expect(checkExternalUrl(input, LOCAL)).toEqual({ ok: true, url: opened })
    })

    it.each<[string, ExternalUrlRefusal]>([
      ['http://127.0.0.1.evil.com/', 'insecure-http'],
      ['http://localhost.evil.com:2583/', 'insecure-http'],
      ['http://192.168.1.20:2583/', 'insecure-http'],
      ['http://0.0.0.0:2583/', 'insecure-http'],
      ['http://user@127.0.0.1:2583/', 'credentials'],
      ['file:///tmp/x', 'scheme'],
    ])('still refuses %j (%s)', (input, reason) => {
      expect(checkExternalUrl(input, LOCAL)).toEqual({ ok: false, reason })
    })
  })
})

describe('isLoopbackHost', () => {
  it.each([
    ['localhost', true],
    ['127.0.0.1', true],
    ['127.255.255.254', true],
    ['[::1]', true],
    ['localhost.evil.com', false],
    ['127.0.0.1.evil.com', false],
    ['0.0.0.0', false],
    ['128.0.0.1', false],
    ['[::ffff:7f00:1]', false],
    ['', false],
  ])('%j → %s', (host, loopback) => {
    expect(isLoopbackHost(host)).toBe(loopback)
  })
})

describe('isAppUrl', () => {
  it.each([
    ['app://meshlet/index.html', true],
    ['app://meshlet/', true],
    ['app://meshlet', true],
    ['app://meshlet/assets/index-abc123.js?v=1#x', true],
    ['app://meshlet.evil.com/', false],
    ['app://evil/', false],
    ['app://meshlet:8080/', false],
    ['app://user@meshlet/', false],
    ['app://user:pw@meshlet/', false],
    ['app://MESHLET/', false],
    ['https://meshlet/', false],
    ['https://evil.com/?next=app://meshlet/', false],
    ['file:///app/meshlet/index.html', false],
    ['apps://meshlet/', false],
    ['', false],
    [undefined, false],
  ])('%j → %s', (url, own) => {
    expect(isAppUrl(url)).toBe(own)
  })
})

describe('isRendererRequestAllowed', () => {
  it.each([
    ['app://meshlet/assets/index.js', true],
    ['data:image/png;base64,iVBORw0KGgo=', true],
    ['blob:app://meshlet/0b6d1c2e', true],
    ['devtools://devtools/bundled/devtools_app.html', true],
    ['https://bsky.app/', false],
    ['http://127.0.0.1:2583/xrpc/com.atproto.sync.getRepo', false],
    ['wss://bsky.network/xrpc/com.atproto.sync.subscribeRepos', false],
    ['file:///etc/passwd', false],
    ['app://evil/x.js', false],
    ['chrome-extension://abc/x.js', false],
    ['', false],
  ])('%j → %s', (url, allowed) => {
    expect(isRendererRequestAllowed(url)).toBe(allowed)
  })
})
