// The start-up load hooks of `meshlet`, in a fresh Node process (the hooks act on Node's own
// loader, which the test runner's module graph does not go through): one undici instead of
// three, and that one only once an SSRF dispatcher is built, gRPC only once a BuildKit session is asked for, ssh2 only once an ssh:// docker host
// is, and those helpers unchanged.
import { execFile } from 'node:child_process'
import { promisify } from 'node:util'
import { describe, expect, it } from 'vitest'

const ROOT = new URL('../../../', import.meta.url).pathname

const SCRIPT = `
import { register } from 'tsx/esm/api'
import { createRequire } from 'node:module'
register()
if (process.argv[1] === 'hooks') (await import('./core/cli/load-hooks.ts')).installLoadHooks()
await import('@atproto/identity')
const { default: Docker } = await import('dockerode')
const require = createRequire(import.meta.url)
const loaded = () => Object.keys(require.cache)
const undiciLoaded = () => [...new Set(loaded().map((k) => /node_modules\\/(undici[^/]*)\\//.exec(k)?.[1]).filter(Boolean))]
const undiciAtStart = undiciLoaded()
// @atproto/identity's default fetch builds fetch-node's guarded dispatcher: the undici it needs.
const { safeFetchWrap } = await import('@atproto-labs/fetch-node')
safeFetchWrap()
const undici = undiciLoaded()
const grpcAtStart = loaded().some((k) => k.includes('/@grpc/grpc-js/'))
const ssh2AtStart = loaded().some((k) => k.includes('/node_modules/ssh2/'))
// A BuildKit session over a modem that cannot dial: the helper must load and report the error.
const withSession = require(require.resolve('./core/cli/lazy-docker-session.cjs'))
const dialError = await new Promise((resolve) =>
  withSession({ modem: { dial: (_opts, cb) => cb(new Error('no docker here')) } }, undefined, (err) => resolve(err.message)),
)
// An ssh:// docker host: the transport loads ssh2 then and hands back an agent that dials over it.
const sshAgent = require(require.resolve('./core/cli/lazy-docker-ssh.cjs'))({ host: '127.0.0.1', port: 1 })
console.log(JSON.stringify({ undiciAtStart, undici, grpcAtStart, dialError, grpcAfter: loaded().some((k) => k.includes('/@grpc/grpc-js/')), docker: typeof Docker, ssh2AtStart, ssh2After: loaded().some((k) => k.includes('/node_modules/ssh2/')), sshAgent: typeof sshAgent.createConnection }))
`

async function run(mode: 'hooks' | 'plain') {
  const { stdout } = await promisify(execFile)(
    process.execPath,
    ['--input-type=module', '-e', SCRIPT, mode],
    { cwd: ROOT },
  )
  return JSON.parse(stdout.trim().split('\n').pop()!) as {
    undiciAtStart: string[]
    undici: string[]
    grpcAtStart: boolean
    dialError: string
    grpcAfter: boolean
    docker: string
    ssh2AtStart: boolean
    ssh2After: boolean
    sshAgent: string
  }
}

describe('start-up load hooks', () => {
  it('load no undici, gRPC or ssh2 at start, and each once it is asked for', async () => {
    const major = process.versions.undici!.split('.')[0]
    const [plain, hooked] = await Promise.all([run('plain'), run('hooks')])
    // Without them, what the libraries load on their own (the hooks would be pointless if not).
    expect(plain.undici.sort()).toEqual(['undici_v6', 'undici_v7', 'undici_v8'])
    expect(plain.grpcAtStart).toBe(true)
    expect(plain.ssh2AtStart).toBe(true)
    expect(hooked.undiciAtStart).toEqual([])
    expect(hooked.undici).toEqual([`undici_v${major}`])
    expect(hooked.grpcAtStart).toBe(false)
    expect(hooked.docker).toBe('function')
    expect(hooked.dialError).toBe('no docker here')
    expect(hooked.grpcAfter).toBe(true)
    expect(hooked.ssh2AtStart).toBe(false)
    expect(hooked.ssh2After).toBe(true)
    expect(hooked.sshAgent).toBe('function')
  }, 120_000)
})
