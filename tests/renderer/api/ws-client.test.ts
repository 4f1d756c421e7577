// The browser transport against the daemon's real bridge (core/ui-server.ts) hosting a real
// MeshletApp on the local network, over Node's own WebSocket (the WHATWG API a browser has; see
// below for where it falls short). What the page relies on: the pushed state, calls that resolve
// or reject with the core's ApiError codes, a refusal it does not retry, and a reconnect when the
// meshlet comes back.
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest'
import { WebSocket as WsWebSocket } from 'ws'
import type { DashboardState } from '../../../core/api.js'
import { type MeshletApp } from '../../../core/app.js'
import { jsonLogger, type Logger } from '../../../core/log.js'
import {
  CLOSE_UNAUTHORIZED as SERVER_CLOSE_UNAUTHORIZED,
  serveUi,
  TOKEN_PROTOCOL_PREFIX,
  WIRE_PROTOCOL,
  type UiServer,
} from '../../../core/ui-server.js'
import { ApiError } from '../../../renderer/src/api/errors.js'
import type { ConnectionState } from '../../../renderer/src/api/transport.js'
import {
  CLOSE_UNAUTHORIZED,
  SUBPROTOCOL,
  TOKEN_PREFIX,
  WebSocketClient,
  type WebSocketClientOptions,
} from '../../../renderer/src/api/ws-client.js'
import {
  eventually,
  startNetwork,
  type Member,
  type Network,
  placeholderPage,
  memberDashboard,
} from '../../_util.js'
import { openTab, type Browser } from '../_browser.js'

let net: Network
let alice: Member
let app: MeshletApp
let ui: UiServer
let port: number
let staticDir: string
let log: Logger
const logLines: string[] = []

beforeAll(async () => {
  net = await startNetwork()
  log = jsonLogger((l) => logLines.push(l), { level: 'debug' })
  ;({ alice, app, ui } = await memberDashboard(net, { log }))
  // For bringing the server back on the same port.
  staticDir = await placeholderPage()
  port = Number(new URL(ui.origin).port)
})

afterAll(async () => {
  await ui?.close()
  await app?.close()
  await net?.close()
})

let uiUp = true

async function stopUi(): Promise<void> {
  uiUp = false
  await ui.close()
}

/** The meshlet restarted: a new bridge on the same port, with the same token. */
async function restartUi(): Promise<void> {
  ui = await serveUi({ host: app, port, staticDir, token: ui.token, log })
  uiUp = true
}

/** ws's client, with the browser's rule that an error event nobody listens for is dropped (an
 *  EventEmitter would throw it). */
class BrowserWebSocket extends WsWebSocket {
  constructor(url: string, protocols?: string | string[]) {
    super(url, protocols)
    this.on('error', () => {})
  }
}

const clients: WebSocketClient[] = []

afterEach(() => {
  for (const c of clients.splice(0)) c.dispose()
  vi.unstubAllGlobals()
  vi.restoreAllMocks()
})

interface Tab extends Browser {
  client: WebSocketClient
  /** Every state the client went through, in order (onConnection). */
  statuses: ConnectionState['status'][]
  states: DashboardState[]
}

/** A page opened from the printed link, with its client started. */
function openDashboard(opts: Partial<WebSocketClientOptions> = {}): Tab {
  const browser = openTab(ui.url)
  const client = new WebSocketClient({
    url: `ws://127.0.0.1:${port}/api`,
    token: ui.token,
    ...opts,
  })
  clients.push(client)
  const statuses: ConnectionState['status'][] = []
  const states: DashboardState[] = []
  client.onConnection(() => statuses.push(client.connection().status))
  client.on('state', (s) => states.push(s))
  client.start()
  return { ...browser, client, statuses, states }
}

const status = (tab: Tab) => tab.client.connection().status
const opened = (tab: Tab) => eventually('the connection to open', () => status(tab) === 'open')
const refusals = () => logLines.filter((l) => l.includes('ui.refused')).length

const NOT_CONNECTED = {
  name: 'ApiError',
  code: 'unavailable',
  message: 'Not connected to the meshlet. Reconnecting — try again soon.',
}

describe('WebSocketClient with the right token', () => {
  it('receives the pushed state, and its calls resolve', async () => {
    const tab = openDashboard()
    expect(tab.client.kind).toBe('websocket')
    expect(status(tab)).toBe('connecting')
    await expect(tab.client.call('state.get')).rejects.toMatchObject(NOT_CONNECTED)

    await opened(tab)
    const first = await eventually('the pushed state', () => tab.states[0])
    expect(first.meshlet?.did).toBe(alice.meshlet.did)
    expect(first.ownerDid).toBe(alice.owner.did)

    const state = await tab.client.call('state.get')
    expect(state.ownerDid).toBe(alice.owner.did)
    const pause = !state.settings.pauseOnBattery
    await expect(tab.client.call('settings.set', { pauseOnBattery: pause })).resolves.toBeFalsy()
    await eventually('the change pushed', () =>
      tab.states.some((s) => s.settings.pauseOnBattery === pause),
    )
    expect(tab.statuses).toEqual(['open'])
    // Answered calls leave no timeout behind.
    expect(tab.window.timers.size).toBe(0)
  })

  it('rejects a call with bad arguments with the core’s code, and the connection lives on', async () => {
    const tab = openDashboard()
    await opened(tab)
    const bad = tab.client.call('lending.set', { lending: 'yes' } as never)
    await expect(bad).rejects.toBeInstanceOf(ApiError)
    await expect(bad).rejects.toMatchObject({
      code: 'invalid-args',
      message: 'lending must be true or false',
    })
    await expect(
      tab.client.call('capacity.set', { cpuMillis: -1, memoryMiB: 64, storageMiB: 0 }),
    ).rejects.toMatchObject({ code: 'invalid-args' })
    await expect(tab.client.call('no.such.method' as 'state.get')).rejects.toMatchObject({
      code: 'unknown-method',
    })
    await expect(tab.client.call('state.get')).resolves.toMatchObject({
      ownerDid: alice.owner.did,
    })
    expect(tab.statuses).toEqual(['open'])
  })

  it('gives each event to every listener even when one throws, until it unsubscribes', async () => {
    const errors = vi.spyOn(console, 'error').mockImplementation(() => {})
    const tab = openDashboard()
    await opened(tab)
    await eventually('the pushed state', () => tab.states[0])
    tab.client.on('state', () => {
      throw new Error('a broken view')
    })
    const seen: DashboardState[] = []
    const unsubscribe = tab.client.on('state', (s) => seen.push(s))

    const flip = async () => {
      const { settings } = await tab.client.call('state.get')
      const pause = !settings.pauseOnBattery
      const pushes = tab.states.length
      await tab.client.call('settings.set', { pauseOnBattery: pause })
      await eventually('the change pushed', () =>
        tab.states.slice(pushes).some((s) => s.settings.pauseOnBattery === pause),
      )
    }
    await flip()
    expect(seen.length).toBeGreaterThan(0)
    expect(errors).toHaveBeenCalledWith('meshlet: a listener for "state" threw', expect.any(Error))

    unsubscribe()
    const before = seen.length
    const pushes = tab.states.length
    await flip()
    expect(tab.states.length).toBeGreaterThan(pushes)
    expect(seen.length).toBe(before)
  })

  it('stops for good when disposed: the call in flight fails, nothing reconnects', async () => {
    const tab = openDashboard({ backoffMs: { initial: 10, max: 10 } })
    await opened(tab)
    const inFlight = tab.client.call('state.get')
    tab.client.dispose()
    await expect(inFlight).rejects.toMatchObject({ code: 'unavailable' })
    await expect(tab.client.call('state.get')).rejects.toMatchObject({ code: 'unavailable' })
    tab.window.dispatchEvent(new Event('online'))
    tab.client.retryNow()
    expect(tab.window.timers.size).toBe(0)
    expect(tab.statuses).toEqual(['open'])
  })
})

describe('WebSocketClient with a token the meshlet does not accept', () => {
  it('reports the refusal with the meshlet’s reason, and never retries', async () => {
    const before = refusals()
    const tab = openDashboard({ token: 'not-the-token', backoffMs: { initial: 10, max: 10 } })
    await eventually('the refusal', () => status(tab) === 'refused')
    expect(tab.client.connection()).toEqual({
      status: 'refused',
      reason: 'the dashboard link is out of date: open the printed one',
    })
    // The bridge completes the upgrade and then closes (so a browser can tell a refusal from a
    // meshlet that is not running): the page is 'open' for that moment, and never reconnecting.
    expect(tab.statuses).toEqual(['open', 'refused'])
    expect(tab.states).toEqual([])
    // Nothing scheduled, and nothing that would otherwise retry at once does.
    expect(tab.window.timers.size).toBe(0)
    tab.client.retryNow()
    tab.window.dispatchEvent(new Event('online'))
    tab.document.setVisibility('hidden')
    tab.document.setVisibility('visible')
    // Ten backoff periods: a client that retried would have been refused again by now.
    await new Promise((r) => setTimeout(r, 100))
    expect(refusals() - before).toBe(1)
    expect(tab.statuses).toEqual(['open', 'refused'])
    await expect(tab.client.call('state.get')).rejects.toMatchObject({ code: 'unavailable' })
  })

  it('speaks the bridge’s handshake: its subprotocol, token prefix and refusal code', () => {
    // The renderer cannot import core/ui-server.ts (it is Node code), so it keeps copies.
    expect(SUBPROTOCOL).toBe(WIRE_PROTOCOL)
    expect(TOKEN_PREFIX).toBe(TOKEN_PROTOCOL_PREFIX)
    expect(CLOSE_UNAUTHORIZED).toBe(SERVER_CLOSE_UNAUTHORIZED)
    expect(CLOSE_UNAUTHORIZED).toBe(4401)
  })

  it('refuses at once a token the browser cannot send as a WebSocket subprotocol', async () => {
    const errors = vi.spyOn(console, 'error').mockImplementation(() => {})
    const before = refusals()
    const tab = openDashboard({ token: 'has spaces, and a comma' })
    expect(tab.client.connection()).toEqual({
      status: 'refused',
      reason: 'The link this page was opened with carries a token this browser cannot send.',
    })
    expect(errors).toHaveBeenCalledOnce()
    expect(tab.window.timers.size).toBe(0)
    expect(refusals()).toBe(before)
  })
})

describe('WebSocketClient when the meshlet goes away', () => {
  // Node 22's own WebSocket (undici 6) fires no close event after a connection that failed — a
  // meshlet not running — so a client would wait for ever, where every browser fires error and
  // then close (nodejs/undici#3546, fixed in undici 7 / Node 24). The ws package's client keeps
  // the standard's order, so these tests run on it.
  beforeEach(() => {
    vi.stubGlobal('WebSocket', BrowserWebSocket)
  })

  afterEach(async () => {
    if (!uiUp) await restartUi() // a failed test must not take the bridge from the next one
  })

  it('fails calls with unavailable, keeps retrying, and reconnects when it is back on the same port', async () => {
    const tab = openDashboard({ backoffMs: { initial: 20, max: 100 } })
    await opened(tab)
    await eventually('the pushed state', () => tab.states[0])

    // The bridge starts closing before it can read the call, and answers nothing while closing.
    const inFlight = tab.client.call('state.get')
    const closing = stopUi()
    await expect(inFlight).rejects.toMatchObject({
      name: 'ApiError',
      code: 'unavailable',
      message: 'The connection to the meshlet was lost before it answered.',
    })
    await closing
    await eventually('reconnecting', () => status(tab) === 'reconnecting')
    await expect(tab.client.call('state.get')).rejects.toMatchObject(NOT_CONNECTED)
    await eventually('a few attempts', () => {
      const s = tab.client.connection()
      return s.status === 'reconnecting' && s.attempt >= 3
    })

    const pushes = tab.states.length
    await restartUi()
    await opened(tab)
    await eventually('the state pushed again', () => tab.states.length > pushes)
    await expect(tab.client.call('state.get')).resolves.toMatchObject({
      ownerDid: alice.owner.did,
    })
    expect(tab.statuses[0]).toBe('open')
    expect(tab.statuses.at(-1)).toBe('open')
    expect(tab.statuses).toContain('reconnecting')
    expect(tab.statuses).not.toContain('refused')
  })

  it('backs off with jitter, and retries at once on Retry now, on coming online, or on coming to the foreground', async () => {
    // Long enough that nothing but the client's own wake-ups can retry during the test, and
    // chosen so each attempt's ±20 % window is apart from the one a wrong rule would give.
    const backoffMs = { initial: 100_000, max: 250_000 }
    const tab = openDashboard({ backoffMs })
    await opened(tab)
    /** The connection was lost after `since`: the next attempt is `base` ± 20 % after that. */
    const lost = async (since: number, attempt: number, base: number) => {
      const s = await eventually(`attempt ${attempt} scheduled`, () => {
        const c = tab.client.connection()
        return c.status === 'reconnecting' && c.attempt === attempt ? c : undefined
      })
      expect(s.retryAt).toBeGreaterThanOrEqual(since + 0.8 * base)
      expect(s.retryAt).toBeLessThanOrEqual(Date.now() + 1.2 * base)
      expect(tab.window.timers.size).toBe(1)
    }

    let since = Date.now()
    await stopUi()
    await lost(since, 1, 100_000)
    // Retry now, while the meshlet is still away: each failure doubles the delay, up to the max.
    since = Date.now()
    tab.client.retryNow()
    await lost(since, 2, 200_000)
    since = Date.now()
    tab.client.retryNow()
    await lost(since, 3, 250_000)

    // A hidden tab waits, even when the browser comes online; it retries when shown again.
    await restartUi()
    const waiting = tab.client.connection()
    tab.document.setVisibility('hidden')
    tab.window.dispatchEvent(new Event('online'))
    expect(tab.client.connection()).toBe(waiting)
    tab.document.setVisibility('visible')
    await opened(tab)

    since = Date.now()
    await stopUi()
    await lost(since, 1, 100_000) // an open connection starts the backoff again
    await restartUi()
    tab.window.dispatchEvent(new Event('online'))
    await opened(tab)
    await expect(tab.client.call('state.get')).resolves.toMatchObject({
      ownerDid: alice.owner.did,
    })
  })
})
