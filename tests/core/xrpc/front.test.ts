// The server's front: farm.meshlet.ping is answered on plain node:http, every other method by
// @atproto/xrpc-server, which loads on the first request for one. Run in a fresh process with a
// module hook that records what loads, so the test sees exactly what an idle meshlet carries.
import { execFile } from 'node:child_process'
import { promisify } from 'node:util'
import { describe, expect, it } from 'vitest'

const SCRIPT = `
import { registerHooks } from 'node:module'
const loaded = new Set()
registerHooks({ resolve(s, c, next) { const r = next(s, c); if (r.url.includes('/node_modules/@atproto/xrpc-server/')) loaded.add('xrpc-server'); return r } })
const { installTypeScriptLoader } = await import('./bin/ts-loader.js')
installTypeScriptLoader()
const { serveXrpc } = await import('./core/xrpc/server.ts')
let running = false
const host = { self: () => (running ? { meshlet: 'did:plc:meshlet', owner: 'did:plc:owner' } : undefined) }
const server = await serveXrpc({ host, identity: { resolveDid: async () => undefined }, port: 0 })
const ask = async (path, init) => {
  const res = await fetch(server.url + path, init)
  return { status: res.status, body: init?.method === 'HEAD' ? null : await res.json() }
}
const out = {}
out.notRunning = await ask('/xrpc/farm.meshlet.ping')
running = true
out.ping = await ask('/xrpc/farm.meshlet.ping?ignored=1')
out.head = await ask('/xrpc/farm.meshlet.ping', { method: 'HEAD' })
out.post = await ask('/xrpc/farm.meshlet.ping', { method: 'POST', body: '{}' })
out.afterPings = loaded.has('xrpc-server')
out.capacity = await ask('/xrpc/farm.meshlet.getCapacity')
out.afterCapacity = loaded.has('xrpc-server')
out.unknown = await ask('/xrpc/farm.meshlet.nothingHere')
await server.close()
console.log(JSON.stringify(out))
`

describe('the XRPC server’s front', () => {
  it('answers ping without loading the library, which loads for the first other method', async () => {
    const { stdout } = await promisify(execFile)(
      process.execPath,
      ['--input-type=module', '-e', SCRIPT],
      { cwd: new URL('../../../', import.meta.url).pathname },
    )
    const out = JSON.parse(stdout.trim().split('\n').pop()!)
    expect(out.notRunning).toEqual({
      status: 503,
      body: { error: 'NotEnoughResources', message: 'this meshlet is not running yet' },
    })
    expect(out.ping).toEqual({ status: 200, body: { meshlet: 'did:plc:meshlet' } })
    expect(out.head).toEqual({ status: 200, body: null })
    expect(out.post.status).toBe(400)
    expect(out.post.body.error).toBe('InvalidRequest')
    expect(out.afterPings).toBe(false)
    // The library's own answer: no token.
    expect(out.capacity.status).toBe(401)
    expect(out.capacity.body.error).toBe('AuthMissing')
    expect(out.afterCapacity).toBe(true)
    expect(out.unknown.status).toBe(501)
  })
})
