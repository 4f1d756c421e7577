// Serves the built renderer (dist/renderer) on app://meshlet instead of file://. A file:// page
// may read other local files and shares one origin with every file on disk; a custom standard
// scheme gives the renderer an origin of its own, lets the IPC sender check compare against it,
// and puts the Content-Security-Policy in a response header the page cannot remove
// (Electron security checklist, item 18). Only files under the renderer root are served.
import { readFile } from 'node:fs/promises'
import nodePath from 'node:path'
import { APP_ORIGIN, isAppUrl } from './trusted-url.js'

export const APP_INDEX_URL = `${APP_ORIGIN}/index.html`

/**
 * The renderer talks to the app only over IPC, so it needs no network at all: every fetch,
 * frame, form and plugin is refused, and scripts and styles come only from the app's own files
 * (no inline script, no eval). React's style props set styles through the CSSOM, which
 * `style-src 'self'` does not block; `data:` images cover inlined SVG icons.
 */
export const CONTENT_SECURITY_POLICY = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "font-src 'self'",
  "connect-src 'self'",
  "manifest-src 'self'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
  "object-src 'none'",
].join('; ')

const SECURITY_HEADERS: Record<string, string> = {
  'Content-Security-Policy': CONTENT_SECURITY_POLICY,
  'X-Content-Type-Options': 'nosniff',
  'Referrer-Policy': 'no-referrer',
  'Cross-Origin-Opener-Policy': 'same-origin',
  'Cross-Origin-Resource-Policy': 'same-origin',
  // The files change only with the app; caching buys nothing and would outlive an update.
  'Cache-Control': 'no-store',
}

const CONTENT_TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
  '.map': 'application/json; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.webp': 'image/webp',
  '.woff2': 'font/woff2',
  '.woff': 'font/woff',
  '.txt': 'text/plain; charset=utf-8',
}

type PathApi = Pick<typeof nodePath, 'resolve' | 'relative' | 'isAbsolute' | 'extname'>

export function contentTypeFor(file: string, path: PathApi = nodePath): string {
  return CONTENT_TYPES[path.extname(file).toLowerCase()] ?? 'application/octet-stream'
}

/**
 * The file under `root` that an app:// URL names, or undefined when the URL is not the app's or
 * would leave `root`. The URL parser already folds `/../`; this also refuses what decoding can
 * reintroduce (`%2e%2e`, `%5c`, NUL) and drive letters, on POSIX and Windows paths alike.
 */
export function resolveAppFile(
  rawUrl: string,
  root: string,
  path: PathApi = nodePath,
): string | undefined {
  if (!isAppUrl(rawUrl)) return undefined
  let decoded: string
  try {
    decoded = decodeURIComponent(new URL(rawUrl).pathname)
  } catch {
    return undefined
  }
  if (/[\0\\:]/.test(decoded)) return undefined
  const segments = decoded.split('/').filter((s) => s !== '')
  if (segments.some((s) => s === '.' || s === '..')) return undefined
  if (segments.length === 0) segments.push('index.html')
  const file = path.resolve(root, ...segments)
  const inside = path.relative(path.resolve(root), file)
  if (inside === '' || inside.startsWith('..') || path.isAbsolute(inside)) return undefined
  return file
}

/** The protocol handler: a Fetch Request in, a Response out (protocol.handle's contract). */
export async function serveAppRequest(request: Request, root: string): Promise<Response> {
  if (request.method !== 'GET' && request.method !== 'HEAD') {
    return new Response(null, { status: 405, headers: { ...SECURITY_HEADERS, Allow: 'GET, HEAD' } })
  }
  const file = resolveAppFile(request.url, root)
  if (!file) return notFound()
  let body: Buffer
  try {
    body = await readFile(file)
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code
    if (code === 'ENOENT' || code === 'EISDIR' || code === 'ENOTDIR') return notFound()
    throw err
  }
  const headers = { ...SECURITY_HEADERS, 'Content-Type': contentTypeFor(file) }
  return new Response(request.method === 'HEAD' ? null : new Uint8Array(body), {
    status: 200,
    headers,
  })
}

function notFound(): Response {
  return new Response('not found', {
    status: 404,
    headers: { ...SECURITY_HEADERS, 'Content-Type': 'text/plain; charset=utf-8' },
  })
}
