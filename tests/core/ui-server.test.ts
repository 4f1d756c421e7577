// The daemon's browser bridge against a real app on the local network: only our own page, on our
// loopback address, with the token, may call the contract; everything else is refused with a
// status that says why, and a bad frame never takes the connection down.
import { mkdtemp, readFile, writeFile } from 'node:fs/promises'
import { request } from 'node:http'
import { tmpdir } from 'node:os'
import { basename, dirname, join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import WebSocket from 'ws'
import type { DashboardState, WireServerFrame } from '../../core/api.js'
import { type MeshletApp } from '../../core/app.js'
import { jsonLogger } from '../../core/log.js'
import {
  CLOSE_UNAUTHORIZED,
  TOKEN_PROTOCOL_PREFIX,
  WIRE_PROTOCOL,
  type UiServer,
} from '../../core/ui-server.js'
import { eventually, startNetwork, type Member, type Network, memberDashboard } from '../_util.js'

let net: Network
let alice: Member
let app: MeshletApp
let ui: UiServer
let dataDir: string
let secret: string
const logLines: string[] = []

beforeAll(async () => {
  net = await startNetwork()
  dataDir = await mkdtemp(join(tmpdir(), 'meshlet-ui-'))
  const log = jsonLogger((l) => logLines.push(l), { level: 'debug' })
  let staticDir: string
  ;({ alice, app, ui, staticDir } = await memberDashboard(net, { dataDir, log }))
  // A real file just outside the served folder: what a traversal would reach.
  secret = `${basename(staticDir)}.secret`
  await writeFile(join(dirname(staticDir), secret), 'not for the web')
})

afterAll(async () => {
  await ui?.close()
  await app?.close()
  await net?.close()
})

const port = () => Number(new URL(ui.origin).port)

function get(path: string, headers: Record<string, string> = {}) {
  return new Promise<{ status: number; headers: Record<string, unknown>; body: string }>(
    (done, fail) => {
      const req = request(
        {
          host: '127.0.0.1',
          port: port(),
          path,
          headers: { host: `127.0.0.1:${port()}`, ...headers },
        },
        (res) => {
          let body = ''
          res.on('data', (d: Buffer) => (body += d.toString()))
          res.on('end', () => done({ status: res.statusCode!, headers: res.headers, body }))
        },
      )
      req.on('error', fail)
      req.end()
    },
  )
}

interface Client {
  ws: WebSocket
  frames: WireServerFrame[]
  call(method: string, args?: unknown): Promise<WireServerFrame>
}

function connect(opts: { token?: string; origin?: string; host?: string } = {}): Promise<Client> {
  const token = opts.token ?? ui.token
  const ws = new WebSocket(
    `ws://127.0.0.1:${port()}/api`,
    [WIRE_PROTOCOL, `${TOKEN_PROTOCOL_PREFIX}${token}`],
    { headers: { host: opts.host ?? `127.0.0.1:${port()}` }, origin: opts.origin ?? ui.origin },
  )
  const frames: WireServerFrame[] = []
  let next = 0
  ws.on('message', (d) => frames.push(JSON.parse(d.toString()) as WireServerFrame))
  return new Promise((done, fail) => {
    ws.once('close', (code) => fail(new Error(`closed ${code}`)))
    ws.once('open', () =>
      done({
        ws,
        frames,
        async call(method, args) {
          const id = ++next
          ws.send(JSON.stringify({ id, method, args }))
          return eventually(`answer to ${method}`, () =>
            frames.find((f) => 'id' in f && f.id === id),
          )
        },
      }),
    )
    ws.once('unexpected-response', (_req, res) => fail(new Error(`HTTP ${res.statusCode}`)))
    ws.once('error', fail)
  })
}

describe('dashboard server', () => {
  it('listens on loopback only and serves the page with a strict policy', async () => {
    expect(ui.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/#token=[A-Za-z0-9_-]{43}$/)
    const res = await get('/')
    expect(res.status).toBe(200)
    expect(res.body).toContain('dashboard')
    expect(String(res.headers['content-security-policy'])).toContain("frame-ancestors 'none'")
    expect(res.headers['x-content-type-options']).toBe('nosniff')
  })

  it('refuses another Host name (DNS rebinding), other methods, and paths outside the page', async () => {
    expect((await get('/', { host: `evil.example:${port()}` })).status).toBe(421)
    expect((await get(`/../${secret}`)).status).toBe(404)
    expect((await get(`/%2e%2e/${secret}`)).status).toBe(404)
    expect((await get(`/..%2f${secret}`)).status).toBe(404)
    expect((await get('/nope.js')).status).toBe(404)
  })

  it('answers a malformed upgrade with 400 and keeps serving', async () => {
    const { connect: dial } = await import('node:net')
    const reply = await new Promise<string>((done, fail) => {
      const sock = dial(port(), '127.0.0.1', () =>
        sock.write(
          `GET http://%zz/api HTTP/1.1\r\nHost: 127.0.0.1:${port()}\r\nUpgrade: websocket\r\n` +
            'Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n' +
            'Sec-WebSocket-Version: 13\r\n\r\n',
        ),
      )
      let got = ''
      sock.on('data', (d) => (got += d.toString()))
      sock.on('close', () => done(got))
      sock.on('error', fail)
    })
    expect(reply).toMatch(/^HTTP\/1\.1 400/)
    expect((await get('/')).status).toBe(200)
  })

  it('refuses a WebSocket without the token, with a wrong one, from another site, or to another Host', async () => {
    // Without the right token the socket opens only to be closed at once, before any state.
    for (const token of ['wrong', ui.token.slice(1), '']) {
      const ws = new WebSocket(
        `ws://127.0.0.1:${port()}/api`,
        [WIRE_PROTOCOL, `${TOKEN_PROTOCOL_PREFIX}${token}`],
        { origin: ui.origin },
      )
      const got: string[] = []
      ws.on('message', (d) => got.push(d.toString()))
      const code = await new Promise<number>((r) => ws.once('close', (c) => r(c)))
      expect(code).toBe(CLOSE_UNAUTHORIZED)
      expect(got).toEqual([])
    }
    await expect(connect({ origin: 'https://evil.example' })).rejects.toThrow('HTTP 403')
    await expect(connect({ origin: `http://127.0.0.1:${port() + 1}` })).rejects.toThrow('HTTP 403')
    await expect(connect({ host: `evil.example:${port()}` })).rejects.toThrow('HTTP 421')
  })

  it('pushes the state on connect, answers calls, and keeps the token out of the log', async () => {
    const c = await connect()
    const first = await eventually('first state', () => c.frames.find((f) => 'event' in f))
    expect(first).toMatchObject({ event: 'state' })
    const state = (first as { payload: DashboardState }).payload
    expect(state.meshlet?.did).toBe(alice.meshlet.did)
    expect(state.ownerDid).toBe(alice.owner.did)
    const res = await c.call('state.get')
    expect(res).toMatchObject({ ok: true, result: { ownerDid: alice.owner.did } })
    c.ws.close()
    expect(logLines.join('\n')).not.toContain(ui.token)
  })

  it('answers bad calls with a code and a message, and the connection lives on', async () => {
    const c = await connect()
    expect(await c.call('no.such.method')).toMatchObject({
      ok: false,
      error: { code: 'unknown-method' },
    })
    expect(await c.call('lending.set', { lending: 'yes' })).toMatchObject({
      ok: false,
      error: { code: 'invalid-args', message: 'lending must be true or false' },
    })
    expect(
      await c.call('capacity.set', { cpuMillis: 100, memoryMiB: 64, storageMiB: 0, x: 1 }),
    ).toMatchObject({ ok: false, error: { code: 'invalid-args', message: 'unexpected field: x' } })
    expect(
      await c.call('capacity.set', { cpuMillis: 10_000_000, memoryMiB: 64, storageMiB: 0 }),
    ).toMatchObject({ ok: false, error: { code: 'invalid-args' } })
    c.ws.send('not json at all')
    c.ws.send(JSON.stringify({ method: 'state.get' })) // no id: nothing to answer to
    expect(await c.call('state.get')).toMatchObject({ ok: true })
    c.ws.close()
  })

  it('closes a connection that sends an oversized frame', async () => {
    const c = await connect()
    const closed = new Promise<number>((r) => c.ws.once('close', (code) => r(code)))
    c.ws.send(
      JSON.stringify({ id: 1, method: 'members.add', args: { handle: 'a'.repeat(70_000) } }),
    )
    expect(await closed).toBe(1009)
  })

  it('applies a capacity change at once, pushes it, and keeps it across a restart', async () => {
    const c = await connect()
    const offer = { cpuMillis: 700, memoryMiB: 300, storageMiB: 100 }
    expect(await c.call('capacity.set', offer)).toMatchObject({ ok: true })
    await eventually('pushed offer', () =>
      c.frames.some(
        (f) =>
          'event' in f &&
          f.event === 'state' &&
          (f.payload as DashboardState).settings.offer.cpuMillis === 700,
      ),
    )
    const saved = JSON.parse(await readFile(join(dataDir, 'settings.json'), 'utf8')) as {
      settings: { offer: unknown }
    }
    expect(saved.settings.offer).toEqual(offer)
    const membership = await alice.meshlet.session.agent.com.atproto.repo.getRecord({
      repo: alice.meshlet.did,
      collection: 'commune.scheduler.membership',
      rkey: 'self',
    })
    expect((membership.data.value as { offer: unknown }).offer).toEqual(offer)
    c.ws.close()
  })
})
