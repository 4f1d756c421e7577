import type { IpcMainInvokeEvent } from 'electron'
import { describe, expect, it } from 'vitest'
import { ApiError, EVENT_NAMES, type WireResult } from '../../core/api.js'
import { createBridge, type BridgeIpc } from '../../electron/bridge.js'
import { CALL_CHANNEL, EVENT_CHANNELS } from '../../electron/channels.js'
import {
  checkSender,
  forwardEvents,
  handleCall,
  REFUSED,
  registerIpc,
  senderFacts,
  type IpcOptions,
  type SenderFacts,
  type SenderRefusal,
} from '../../electron/ipc.js'
import { dashboardState } from './_state.js'
import { FakeHost, RecordingLogger } from './_host.js'

type Listener = Parameters<BridgeIpc['on']>[1]

const DASHBOARD = 7
const OWN = { webContentsId: DASHBOARD, frameUrl: 'app://meshlet/index.html', isMainFrame: true }

describe('checkSender', () => {
  it('accepts the dashboard top frame on the app origin', () => {
    expect(checkSender(OWN, DASHBOARD)).toEqual({ ok: true })
    expect(checkSender({ ...OWN, frameUrl: 'app://meshlet/#/settings' }, DASHBOARD)).toEqual({
      ok: true,
    })
  })

  it.each<[string, Partial<SenderFacts>, number | undefined, SenderRefusal]>([
    ['no dashboard open', {}, undefined, 'no-window'],
    ['another window', { webContentsId: 8 }, DASHBOARD, 'other-webcontents'],
    ['a frame that is gone', { frameUrl: undefined }, DASHBOARD, 'frame-gone'],
    ['a subframe', { isMainFrame: false }, DASHBOARD, 'subframe'],
    ['a page navigated elsewhere', { frameUrl: 'https://evil.com/' }, DASHBOARD, 'origin'],
    ['file://', { frameUrl: 'file:///tmp/index.html' }, DASHBOARD, 'origin'],
    ['a look-alike origin', { frameUrl: 'app://meshlet.evil.com/' }, DASHBOARD, 'origin'],
    ['credentials', { frameUrl: 'app://x@meshlet/' }, DASHBOARD, 'origin'],
    ['about:blank', { frameUrl: 'about:blank' }, DASHBOARD, 'origin'],
    ['data:', { frameUrl: 'data:text/html,hi' }, DASHBOARD, 'origin'],
    ['an empty URL', { frameUrl: '' }, DASHBOARD, 'origin'],
  ])('refuses %s', (_name, facts, dashboard, reason) => {
    expect(checkSender({ ...OWN, ...facts }, dashboard)).toEqual({ ok: false, reason })
  })
})

function invokeEvent(opts: {
  id?: number
  frame?: { url: string; parent: unknown } | null | 'disposed'
}): IpcMainInvokeEvent {
  const event = { sender: { id: opts.id ?? DASHBOARD } } as unknown as IpcMainInvokeEvent
  Object.defineProperty(event, 'senderFrame', {
    get() {
      if (opts.frame === 'disposed') throw new Error('Render frame was disposed')
      return opts.frame === undefined ? { url: OWN.frameUrl, parent: null } : opts.frame
    },
  })
  return event
}

describe('senderFacts', () => {
  it('reads the sender and its frame', () => {
    expect(senderFacts(invokeEvent({}))).toEqual(OWN)
    expect(senderFacts(invokeEvent({ frame: { url: 'app://meshlet/', parent: {} } }))).toEqual({
      webContentsId: DASHBOARD,
      frameUrl: 'app://meshlet/',
      isMainFrame: false,
    })
  })

  it('treats a missing or disposed frame as gone', () => {
    for (const frame of [null, 'disposed'] as const) {
      expect(senderFacts(invokeEvent({ frame }))).toEqual({
        webContentsId: DASHBOARD,
        frameUrl: undefined,
        isMainFrame: false,
      })
    }
  })
})

describe('handleCall', () => {
  it('forwards a valid call with the validated arguments and returns its result', async () => {
    const host = new FakeHost().on('auth.signIn', ({ handle }) => ({
      url: `https://x.test/${handle}`,
    }))
    const result = await handleCall(host, 'auth.signIn', { role: 'owner', handle: 'alice.test' })
    expect(result).toEqual({ ok: true, result: { url: 'https://x.test/alice.test' } })
    expect(host.calls).toEqual([
      { method: 'auth.signIn', args: { role: 'owner', handle: 'alice.test' } },
    ])
  })

  it('accepts methods without arguments', async () => {
    const host = new FakeHost().on('state.get', () => dashboardState())
    const result = await handleCall(host, 'state.get', undefined)
    expect(result.ok && result.result).toEqual(dashboardState())
  })

  it.each([
    ['lending.set', { lending: 'yes' }],
    ['lending.set', { lending: true, extra: 1 }],
    ['lending.set', undefined],
    ['auth.signIn', { role: 'admin', handle: 'alice.test' }],
    ['auth.signIn', { role: 'owner', handle: 'alice test' }],
    ['guests.stop', { containerId: '../../etc' }],
    ['workloads.submit', { image: 'x', cpuMillis: 1.5, memoryMiB: 64, replicas: 1, command: [] }],
    ['state.get', { anything: true }],
    ['capacity.set', []],
  ])('refuses %s with %j before the core sees it', async (method, args) => {
    const host = new FakeHost()
    const result = await handleCall(host, method, args)
    expect(result.ok).toBe(false)
    expect(!result.ok && result.error.code).toBe('invalid-args')
    expect(host.calls).toEqual([])
  })

  it.each([['nope'], ['__proto__'], ['toString'], ['constructor'], [42], [undefined], [{}]])(
    'refuses the unknown method %j',
    async (method) => {
      const host = new FakeHost()
      const result = await handleCall(host, method, undefined)
      expect(!result.ok && result.error.code).toBe('unknown-method')
      expect(host.calls).toEqual([])
    },
  )

  it("keeps the core's ApiError code and message", async () => {
    const host = new FakeHost().on('meshlet.link', () => {
      throw new ApiError('not-signed-in', 'Sign in this computer first.')
    })
    const log = new RecordingLogger()
    expect(await handleCall(host, 'meshlet.link', undefined, log)).toEqual({
      ok: false,
      error: { code: 'not-signed-in', message: 'Sign in this computer first.' },
    })
    // Expected outcomes are the UI's to show, not the log's.
    expect(log.lines).toEqual([])
  })

  it('turns anything else thrown into an internal error, and logs it', async () => {
    const log = new RecordingLogger()
    const boom = new TypeError('cannot read properties of undefined', { cause: new Error('deep') })
    const host = new FakeHost().on('meshlet.link', () => {
      throw boom
    })
    expect(await handleCall(host, 'meshlet.link', undefined, log)).toEqual({
      ok: false,
      error: { code: 'internal', message: 'cannot read properties of undefined' },
    })
    expect(log.lines).toEqual([
      { level: 'error', event: 'ipc.call.failed', fields: { method: 'meshlet.link', error: boom } },
    ])

    const strings = new FakeHost().on('meshlet.link', () => {
      throw 'a string'
    })
    expect(await handleCall(strings, 'meshlet.link', undefined)).toEqual({
      ok: false,
      error: { code: 'internal', message: 'a string' },
    })
  })
})

/** ipcMain as registerIpc uses it, holding the one handler. */
class FakeIpcMain {
  handler?: (event: IpcMainInvokeEvent, ...args: unknown[]) => unknown
  removed = 0
  handle(channel: string, handler: (event: IpcMainInvokeEvent, ...args: unknown[]) => unknown) {
    expect(channel).toBe(CALL_CHANNEL)
    if (this.handler) throw new Error('Attempted to register a second handler')
    this.handler = handler
  }
  removeHandler(channel: string) {
    expect(channel).toBe(CALL_CHANNEL)
    this.removed++
    this.handler = undefined
  }
  invoke(event: IpcMainInvokeEvent, method: unknown, args?: unknown): Promise<WireResult> {
    if (!this.handler) throw new Error('no handler')
    return Promise.resolve(this.handler(event, method, args) as WireResult)
  }
}

function setup({ dashboardOpen = true } = {}) {
  const dashboard = dashboardOpen ? DASHBOARD : undefined
  const ipcMain = new FakeIpcMain()
  const host = new FakeHost().on('lending.set', () => undefined)
  const log = new RecordingLogger()
  const opts: IpcOptions = {
    ipcMain: ipcMain as unknown as IpcOptions['ipcMain'],
    host,
    dashboardId: () => dashboard,
    log,
  }
  const unregister = registerIpc(opts)
  return { ipcMain, host, log, unregister }
}

describe('registerIpc', () => {
  it('serves calls from the dashboard', async () => {
    const { ipcMain, host } = setup()
    expect(await ipcMain.invoke(invokeEvent({}), 'lending.set', { lending: false })).toEqual({
      ok: true,
      result: undefined,
    })
    expect(host.calls).toEqual([{ method: 'lending.set', args: { lending: false } }])
  })

  it('refuses other senders without reaching the core, and logs why', async () => {
    const { ipcMain, host, log } = setup()
    const foreign = invokeEvent({ frame: { url: 'https://evil.com/', parent: null } })
    expect(await ipcMain.invoke(foreign, 'lending.set', { lending: false })).toEqual(REFUSED)
    expect(await ipcMain.invoke(invokeEvent({ id: 99 }), 'state.get')).toEqual(REFUSED)
    expect(host.calls).toEqual([])
    expect(log.lines.map((l) => l.fields?.reason)).toEqual(['origin', 'other-webcontents'])
  })

  it('refuses everyone while no dashboard is open', async () => {
    const { ipcMain, host } = setup({ dashboardOpen: false })
    expect(await ipcMain.invoke(invokeEvent({}), 'state.get')).toEqual(REFUSED)
    expect(host.calls).toEqual([])
  })

  it('replaces an earlier registration and can be removed', () => {
    const { ipcMain, unregister } = setup()
    expect(ipcMain.removed).toBe(1)
    unregister()
    expect(ipcMain.handler).toBeUndefined()
  })
})

describe('forwardEvents', () => {
  it('sends every event on its channel to the open dashboard', () => {
    const host = new FakeHost()
    const sent: [string, unknown][] = []
    let open = true
    const target = { isDestroyed: () => !open, send: (c: string, p: unknown) => sent.push([c, p]) }
    const stop = forwardEvents(host, () => target, EVENT_NAMES)

    const state = dashboardState()
    host.emit('state', state)
    host.emit('signIn', { role: 'owner', ok: true })
    expect(sent).toEqual([
      ['meshlet:event:state', state],
      ['meshlet:event:signIn', { role: 'owner', ok: true }],
    ])

    open = false
    host.emit('state', state)
    expect(sent).toHaveLength(2)

    stop()
    expect(EVENT_NAMES.map((e) => host.listenerCount(e))).toEqual([0, 0])
  })

  it('drops events while no dashboard is open', () => {
    const host = new FakeHost()
    forwardEvents(host, () => undefined, EVENT_NAMES)
    expect(() => host.emit('state', dashboardState())).not.toThrow()
  })
})

describe('channels', () => {
  it('has one channel per event of the contract', () => {
    expect(Object.keys(EVENT_CHANNELS).sort()).toEqual([...EVENT_NAMES].sort())
    expect(new Set(Object.values(EVENT_CHANNELS)).size).toBe(EVENT_NAMES.length)
    expect(Object.values(EVENT_CHANNELS)).not.toContain(CALL_CHANNEL)
  })
})

/**
 * The preload's bridge and main's manager joined by a pretend IPC that clones every message the
 * way Electron does (structured clone): a call made in the renderer's terms reaches the core and
 * comes back as the renderer sees it, and pushed events arrive as bare payloads.
 */
describe('bridge ↔ main', () => {
  function wire() {
    const { ipcMain, host, log } = setup()
    const listeners = new Map<string, Set<Listener>>()
    const ipcRenderer: BridgeIpc = {
      invoke: async (channel: string, ...args: unknown[]) => {
        expect(channel).toBe(CALL_CHANNEL)
        const [method, callArgs] = structuredClone(args)
        return structuredClone(await ipcMain.invoke(invokeEvent({}), method, callArgs))
      },
      on(channel: string, listener: Listener) {
        const set = listeners.get(channel) ?? new Set()
        listeners.set(channel, set)
        set.add(listener)
        return this as never
      },
      removeListener(channel: string, listener: Listener) {
        listeners.get(channel)?.delete(listener)
        return this as never
      },
    }
    const webContents = {
      isDestroyed: () => false,
      send(channel: string, payload: unknown) {
        const fakeEvent = { sender: 'ipcRenderer: must never reach the page' }
        for (const l of listeners.get(channel) ?? [])
          l(fakeEvent as never, structuredClone(payload))
      },
    }
    forwardEvents(host, () => webContents, EVENT_NAMES)
    return { bridge: createBridge(ipcRenderer), host, log, listeners }
  }

  it('carries calls and their results', async () => {
    const { bridge, host } = wire()
    expect(await bridge.call('lending.set', { lending: true })).toEqual({
      ok: true,
      result: undefined,
    })
    expect(await bridge.call('lending.set', { lending: 1 })).toMatchObject({
      ok: false,
      error: { code: 'invalid-args' },
    })
    expect(host.calls).toHaveLength(1)
  })

  it('carries events as bare payloads, until unsubscribed', () => {
    const { bridge, host, listeners } = wire()
    const got: unknown[] = []
    const off = bridge.on('signIn', (payload) => got.push(payload))
    host.emit('signIn', { role: 'meshlet', ok: false, error: 'denied' })
    expect(got).toEqual([{ role: 'meshlet', ok: false, error: 'denied' }])
    off()
    host.emit('signIn', { role: 'meshlet', ok: true })
    expect(got).toHaveLength(1)
    expect(listeners.get(EVENT_CHANNELS.signIn)?.size).toBe(0)
  })
})
