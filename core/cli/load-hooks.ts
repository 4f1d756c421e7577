// What a daemon's start loads, trimmed where two libraries load more than they use:
//
// - @atproto-labs/fetch-node (the SSRF guard @atproto/identity and the OAuth client use) imports
//   an undici of every major Node may bundle (6, 7 and 8) and uses only the one whose major
//   matches the undici inside this Node, since its dispatcher must speak that version's
//   interface. All three are pointed at lazy-undici.mjs, which loads the matching one when a
//   dispatcher is first built: the daemon's guarded requests go over node:http (core/net), so
//   it never loads that second undici; the app's OAuth client gets the genuine class.
// - dockerode requires its BuildKit session helper, and with it gRPC and protobuf, when it is
//   loaded, though only a BuildKit image build uses it, and a meshlet never builds. The helper is
//   loaded on its first use instead (lazy-docker-session.cjs), with the same behaviour.
// - docker-modem requires its SSH transport, and with it ssh2 and its crypto, when it is loaded,
//   though only a docker host given as ssh:// uses it. Loaded on first use too (lazy-docker-ssh.cjs).
//
// Together they were some 700 ms of CPU at each start of `meshlet run`.
import { registerHooks } from 'node:module'

const UNDICI_ALIAS = /^undici_v\d+$/
const UNDICI_SHIM = new URL('./lazy-undici.mjs', import.meta.url).href
const SESSION_SHIM = new URL('./lazy-docker-session.cjs', import.meta.url).href
const SSH_SHIM = new URL('./lazy-docker-ssh.cjs', import.meta.url).href

/** Installs the hooks; a no-op where Node lacks in-thread module hooks. */
export function installLoadHooks(): void {
  if (typeof registerHooks !== 'function') return
  const major = process.versions.undici?.split('.')[0]
  const undici = major ? `undici_v${major}` : undefined
  registerHooks({
    resolve(specifier, context, next) {
      const parent = context.parentURL ?? ''
      if (
        undici !== undefined &&
        UNDICI_ALIAS.test(specifier) &&
        parent.includes('/node_modules/@atproto-labs/fetch-node/')
      ) {
        return { url: `${UNDICI_SHIM}?alias=${undici}`, shortCircuit: true }
      }
      if (specifier === './session' && parent.includes('/node_modules/dockerode/lib/docker.js')) {
        return { url: SESSION_SHIM, shortCircuit: true }
      }
      if (specifier === './ssh' && parent.includes('/node_modules/docker-modem/lib/modem.js')) {
        return { url: SSH_SHIM, shortCircuit: true }
      }
      return next(specifier, context)
    },
  })
}
