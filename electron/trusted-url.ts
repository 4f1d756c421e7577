// Which URLs the shell treats as its own page, and which it hands to the system browser. Small and
// pure so that table tests can cover every misleading form (docs/style.md, after actualbudget's
// trusted-url.ts). Every decision is made on the parsed URL, and what gets opened is that parsed
// URL's href, never the raw string: what was checked is exactly what is opened.
//
// External pages are not allow-listed by host: the sign-in page lives on whichever server hosts
// the user's account (self-hosted PDSes included), and members' handles are their own domains.
// The system browser is the sandbox for those pages. What this refuses is what the browser cannot
// protect against: schemes that reach other programs or the disk (`file:`, `smb:`, registered
// protocol handlers), credentials in the URL (`https://bsky.social@evil.com` goes to evil.com),
// look-alike international host names, and requests aimed at this machine or its LAN (a page
// opened by us must not be a way to poke local services), except loopback on a local network.

/** The renderer is served from this origin by app-protocol.ts, never from file://. */
export const APP_SCHEME = 'app'
export const APP_HOST = 'meshlet'
export const APP_ORIGIN = `${APP_SCHEME}://${APP_HOST}`

/** Windows hands URLs to ShellExecute, which truncates long ones; sign-in URLs are short (PAR). */
export const MAX_EXTERNAL_URL_LENGTH = 4096

/** Why a URL was not opened; named so that logs and tests can say which rule applied. */
export type ExternalUrlRefusal =
  | 'not-a-url'
  | 'too-long'
  | 'scheme'
  | 'credentials'
  | 'insecure-http'
  | 'loopback'
  | 'ip-address'
  | 'international-host'
  | 'not-a-public-host'

export type ExternalUrlCheck = { ok: true; url: string } | { ok: false; reason: ExternalUrlRefusal }

export interface ExternalUrlPolicy {
  /** A local network (demo, tests): its PDS and OAuth pages live on http://127.0.0.1. */
  allowLoopback: boolean
}

function parse(raw: unknown): URL | undefined {
  if (typeof raw !== 'string') return undefined
  try {
    return new URL(raw)
  } catch {
    return undefined
  }
}

/** The app's own page: exactly app://meshlet, with no port and no credentials. */
export function isAppUrl(raw: unknown): boolean {
  const url = parse(raw)
  return (
    url !== undefined &&
    url.protocol === `${APP_SCHEME}:` &&
    url.hostname === APP_HOST &&
    url.port === '' &&
    url.username === '' &&
    url.password === ''
  )
}

const IPV4 = /^\d{1,3}(\.\d{1,3}){3}$/

/** Takes a parsed (so canonical) host name: `http://127.1` and `http://0x7f000001` arrive here as
 *  127.0.0.1, and `[0:0::1]` as [::1]. */
export function isLoopbackHost(hostname: string): boolean {
  if (hostname === 'localhost' || hostname === '[::1]') return true
  return IPV4.test(hostname) && hostname.startsWith('127.')
}

function isIpLiteral(hostname: string): boolean {
  return IPV4.test(hostname) || hostname.startsWith('[')
}

/** Whether a URL may be opened in the system browser, and the exact URL to open if so. */
export function checkExternalUrl(raw: unknown, policy: ExternalUrlPolicy): ExternalUrlCheck {
  if (typeof raw === 'string' && raw.length > MAX_EXTERNAL_URL_LENGTH) {
    return { ok: false, reason: 'too-long' }
  }
  const url = parse(raw)
  if (!url) return { ok: false, reason: 'not-a-url' }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') return { ok: false, reason: 'scheme' }
  if (url.username !== '' || url.password !== '') return { ok: false, reason: 'credentials' }

  const host = url.hostname
  const loopback = isLoopbackHost(host)
  if (loopback) {
    // Both schemes on loopback, but only for a local network; elsewhere a page we open has no
    // business on this machine.
    return policy.allowLoopback ? { ok: true, url: url.href } : { ok: false, reason: 'loopback' }
  }
  if (url.protocol === 'http:') return { ok: false, reason: 'insecure-http' }
  if (isIpLiteral(host)) return { ok: false, reason: 'ip-address' }
  // The URL parser has already turned any Unicode host into punycode, so one check covers the
  // Cyrillic-for-Latin look-alikes and their pre-encoded forms alike.
  if (host.split('.').some((label) => label.startsWith('xn--'))) {
    return { ok: false, reason: 'international-host' }
  }
  // Single-label names (`https://intranet`, `https://router`) resolve inside the LAN.
  if (!host.replace(/\.$/, '').includes('.')) return { ok: false, reason: 'not-a-public-host' }
  return { ok: true, url: url.href }
}

/** What the dashboard may load at all: its own files and in-memory URLs. The CSP says the same
 *  inside the page; this says it again in the network stack, below anything the page controls.
 *  DevTools (development builds only) loads its own front end over devtools:. */
export function isRendererRequestAllowed(raw: string): boolean {
  if (isAppUrl(raw)) return true
  const scheme = /^([a-z][a-z0-9+.-]*):/i.exec(raw)?.[1]?.toLowerCase()
  return scheme === 'data' || scheme === 'blob' || scheme === 'devtools'
}
