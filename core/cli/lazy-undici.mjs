// The undici that @atproto-labs/fetch-node builds its SSRF-guarded dispatcher with, loaded when a
// dispatcher is first built rather than when fetch-node is imported (see load-hooks.ts). The
// daemon's guarded requests go over node:http (core/net), so a daemon never builds one and never
// loads this second undici (95 modules and a WebAssembly HTTP parser); the app's OAuth client
// does, and gets the genuine class. The alias (undici_v6, _v7, _v8) comes in the URL's query.
/* global URL */
import { createRequire } from 'node:module'
import { dirname } from 'node:path'

const alias = new URL(import.meta.url).searchParams.get('alias')
let real

function undici() {
  if (real) return real
  // Resolved from this file (so the load hook, which redirects only fetch-node's imports, lets it
  // through), looking where fetch-node would.
  const require = createRequire(import.meta.url)
  const fetchNode = dirname(require.resolve('@atproto-labs/fetch-node'))
  real = require(require.resolve(alias, { paths: [fetchNode] }))
  return real
}

export class Agent {
  constructor(...args) {
    // A constructor that returns an object yields that object: callers get the real Agent.
    return new (undici().Agent)(...args)
  }
}
