import { describe, expect, it } from 'vitest'
import { createBridge, type BridgeIpc } from '../../electron/bridge.js'
import { CALL_CHANNEL } from '../../electron/channels.js'

type Listener = Parameters<BridgeIpc['on']>[1]

function fakeIpc(invoke: BridgeIpc['invoke']) {
  const added: [string, Listener][] = []
  const removed: [string, Listener][] = []
  const ipc: BridgeIpc = {
    invoke,
    on(channel: string, listener: Listener) {
      added.push([channel, listener])
      return this as never
    },
    removeListener(channel: string, listener: Listener) {
      removed.push([channel, listener])
      return this as never
    },
  }
  return { ipc, added, removed }
}

describe('createBridge', () => {
  it('sends the method and arguments on the call channel', async () => {
    const sent: unknown[][] = []
    const { ipc } = fakeIpc(async (...args: unknown[]) => {
      sent.push(args)
      return { ok: true, result: { url: 'https://x' } }
    })
    expect(await createBridge(ipc).call('auth.signIn', { role: 'owner', handle: 'a' })).toEqual({
      ok: true,
      result: { url: 'https://x' },
    })
    expect(sent).toEqual([[CALL_CHANNEL, 'auth.signIn', { role: 'owner', handle: 'a' }]])
  })

  it('answers a failed invoke with a WireResult, not a rejection', async () => {
    const { ipc } = fakeIpc(async () => {
      throw new Error("No handler registered for 'meshlet:call'")
    })
    expect(await createBridge(ipc).call('state.get', undefined)).toEqual({
      ok: false,
      error: { code: 'unavailable', message: "No handler registered for 'meshlet:call'" },
    })
  })

  it('hands listeners the payload alone, never the IPC event', () => {
    const { ipc, added } = fakeIpc(async () => undefined)
    const got: unknown[][] = []
    createBridge(ipc).on('state', (...args: unknown[]) => got.push(args))
    const [channel, forward] = added[0]!
    expect(channel).toBe('meshlet:event:state')
    forward({ sender: {}, ports: [] } as never, { phase: 'lending' })
    expect(got).toEqual([[{ phase: 'lending' }]])
  })

  it('removes exactly the listener it added', () => {
    const { ipc, added, removed } = fakeIpc(async () => undefined)
    const off = createBridge(ipc).on('signIn', () => undefined)
    off()
    expect(removed).toEqual(added)
  })

  it.each(['nope', '__proto__', 'constructor', 'hasOwnProperty', ''])(
    'refuses to subscribe to %j',
    (event) => {
      const { ipc, added } = fakeIpc(async () => undefined)
      expect(() => createBridge(ipc).on(event, () => undefined)).toThrow(TypeError)
      expect(added).toEqual([])
    },
  )

  it('refuses a listener that is not a function', () => {
    const { ipc } = fakeIpc(async () => undefined)
    expect(() => createBridge(ipc).on('state', 'alert(1)' as never)).toThrow(TypeError)
  })
})
