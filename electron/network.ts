// Which atproto network the app talks to: the real one by default, or a local one (the demo's
// PLC and PDS on 127.0.0.1) named by environment variables. Checked before anything starts, so a
// typo is an error dialog at launch rather than a meshlet that quietly resolves nothing.
import type { NetworkConfig } from '../core/app.js'
import { isLoopbackHost } from './trusted-url.js'

// The daemon's defaults (core/cli/main.ts), repeated rather than imported: importing the CLI
// module would pull its whole command set into the app's bundle. A test keeps the two equal.
export const DEFAULT_PLC = 'https://plc.directory'
export const DEFAULT_HANDLE_RESOLVER = 'https://public.api.bsky.app'
export const DEFAULT_FIREHOSE = 'wss://bsky.network'

export const NETWORK_ENV = {
  plc: 'MESHLET_PLC',
  handleResolver: 'MESHLET_HANDLE_RESOLVER',
  firehose: 'MESHLET_FIREHOSE',
} as const

export class NetworkConfigError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options)
    this.name = 'NetworkConfigError'
  }
}

function checkUrl(name: string, value: string, schemes: [secure: string, plain: string]): URL {
  let url: URL
  try {
    url = new URL(value)
  } catch (err) {
    throw new NetworkConfigError(`${name} is not a URL: ${value}`, { cause: err })
  }
  const [secure, plain] = schemes
  if (url.protocol === secure) return url
  if (url.protocol === plain && isLoopbackHost(url.hostname)) return url
  throw new NetworkConfigError(
    `${name} must be ${secure}// (or ${plain}// on this machine for a local network): ${value}`,
  )
}

/** The network from `MESHLET_PLC`, `MESHLET_HANDLE_RESOLVER` and `MESHLET_FIREHOSE`, each
 *  defaulting to the real network's. A PLC on loopback makes it a local network (as the daemon's
 *  --plc does), which lets identity and OAuth reach loopback services over http. */
export function networkFromEnv(env: Record<string, string | undefined>): NetworkConfig {
  const value = (key: string, fallback: string) => {
    const v = env[key]?.trim()
    return v ? v : fallback
  }
  const plc = checkUrl(NETWORK_ENV.plc, value(NETWORK_ENV.plc, DEFAULT_PLC), ['https:', 'http:'])
  const handleResolver = checkUrl(
    NETWORK_ENV.handleResolver,
    value(NETWORK_ENV.handleResolver, DEFAULT_HANDLE_RESOLVER),
    ['https:', 'http:'],
  )
  const firehose = checkUrl(NETWORK_ENV.firehose, value(NETWORK_ENV.firehose, DEFAULT_FIREHOSE), [
    'wss:',
    'ws:',
  ])
  const local = isLoopbackHost(plc.hostname)
  return {
    plcUrl: stripSlash(plc.href),
    handleResolverUrl: stripSlash(handleResolver.href),
    firehose: stripSlash(firehose.href),
    // Jetstream on the real network (the settings may choose another); a firehose named in
    // the environment means a relay, as the daemon's --firehose does.
    source: env[NETWORK_ENV.firehose]?.trim() ? 'relay' : 'jetstream',
    ...(local ? { local: true } : {}),
  }
}

/** `new URL('https://plc.directory').href` adds a slash the defaults do not have. */
function stripSlash(href: string): string {
  return href.endsWith('/') ? href.slice(0, -1) : href
}
