// The transport is chosen once, at startup: the preload's bridge inside Electron; otherwise the
// daemon's WebSocket on the page's own origin, with the token from the link; and without a
// token, a client that says where to get one. The WebSocket case runs against the real bridge.
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest'
import type { DashboardState, PreloadBridge, WireResult } from '../../../core/api.js'
import { type MeshletApp } from '../../../core/app.js'
import { type UiServer } from '../../../core/ui-server.js'
import { createTransport } from '../../../renderer/src/api/client.js'
import type { Transport } from '../../../renderer/src/api/transport.js'
import { WebSocketClient } from '../../../renderer/src/api/ws-client.js'
import {
  eventually,
  startNetwork,
  type Member,
  type Network,
  memberDashboard,
} from '../../_util.js'
import { openTab } from '../_browser.js'

let net: Network
let alice: Member
let app: MeshletApp
let ui: UiServer

beforeAll(async () => {
  net = await startNetwork()
  ;({ alice, app, ui } = await memberDashboard(net))
})

afterAll(async () => {
  await ui?.close()
  await app?.close()
  await net?.close()
})

const transports: Transport[] = []

afterEach(() => {
  for (const t of transports.splice(0)) if (t instanceof WebSocketClient) t.dispose()
  vi.unstubAllGlobals()
})

function start(): Transport {
  const t = createTransport()
  transports.push(t)
  return t
}

describe('createTransport', () => {
  it('in a tab opened from the printed link: the WebSocket to its own origin, with the token', async () => {
    const { window } = openTab(ui.url)
    const t = start()
    expect(t.kind).toBe('websocket')
    expect(window.location.href).toBe(`${ui.origin}/`)
    const states: DashboardState[] = []
    t.on('state', (s) => states.push(s))
    await eventually('the connection to open', () => t.connection().status === 'open')
    await eventually('the pushed state', () => states[0])
    expect(states[0]?.meshlet?.did).toBe(alice.meshlet.did)
    await expect(t.call('state.get')).resolves.toMatchObject({ ownerDid: alice.owner.did })
  })

  it('after a reload of that tab: the same, with the token the tab kept', async () => {
    const first = openTab(ui.url)
    start()
    const reloaded = openTab(first.window.location.href, first.window.sessionStorage)
    expect(reloaded.window.location.hash).toBe('')
    const t = start()
    await eventually('the connection to open', () => t.connection().status === 'open')
    await expect(t.call('state.get')).resolves.toMatchObject({ ownerDid: alice.owner.did })
  })

  it('in a tab opened without the link: nothing to connect to, and it says where to look', async () => {
    openTab(`${ui.origin}/`)
    const t = start()
    expect(t.kind).toBe('none')
    expect(t.connection()).toEqual({ status: 'no-token' })
    await expect(t.call('state.get')).rejects.toMatchObject({
      name: 'ApiError',
      code: 'unavailable',
      message: 'Open the dashboard from the link your meshlet printed.',
    })
    expect(typeof t.on('state', () => {})).toBe('function')
    expect(typeof t.onConnection(() => {})).toBe('function')
    t.retryNow()
    expect(t.connection()).toEqual({ status: 'no-token' })
  })

  it('inside Electron: the preload’s bridge, even when the address carries a token', async () => {
    const { window } = openTab(ui.url)
    const calls: [string, unknown][] = []
    const bridge: PreloadBridge = {
      call: (method, args) => {
        calls.push([method, args])
        return Promise.resolve({ ok: true, result: undefined } as WireResult)
      },
      on: () => () => {},
    }
    Object.assign(window, { meshletApi: bridge })
    const t = start()
    expect(t.kind).toBe('ipc')
    expect(t.connection()).toEqual({ status: 'open' })
    await expect(t.call('auth.cancelSignIn')).resolves.toBeUndefined()
    expect(calls).toEqual([['auth.cancelSignIn', undefined]])
    // The token was not taken: Electron pages are not opened from the daemon's link.
    expect(window.location.hash).toBe(`#token=${ui.token}`)
  })
})
