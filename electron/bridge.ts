// What the preload exposes as `window.meshletApi`: two functions and nothing of Electron. The
// renderer never sees ipcRenderer or an IPC event object (whose `sender` would hand it the whole
// IPC surface); it gets plain results and payloads. Kept apart from preload.ts, which only calls
// contextBridge, so that it can be tested in Node.
import type { IpcRenderer } from 'electron'
import type { PreloadBridge, WireResult } from '../core/api.js'
import { CALL_CHANNEL, EVENT_CHANNELS, isEventName } from './channels.js'

export type BridgeIpc = Pick<IpcRenderer, 'invoke' | 'on' | 'removeListener'>

export function createBridge(ipc: BridgeIpc): PreloadBridge {
  return {
    async call(method: string, args: unknown): Promise<WireResult> {
      try {
        return (await ipc.invoke(CALL_CHANNEL, method, args)) as WireResult
      } catch (err) {
        // invoke rejects when the arguments cannot be cloned or main has no handler (yet); the
        // contract promises a WireResult either way.
        const message = err instanceof Error ? err.message : String(err)
        return { ok: false, error: { code: 'unavailable', message: message.slice(0, 500) } }
      }
    },
    on(event: string, listener: (payload: unknown) => void): () => void {
      if (!isEventName(event)) throw new TypeError(`no such event: ${String(event).slice(0, 80)}`)
      if (typeof listener !== 'function') throw new TypeError('listener must be a function')
      const channel = EVENT_CHANNELS[event]
      const forward = (_event: unknown, payload: unknown) => listener(payload)
      ipc.on(channel, forward)
      return () => {
        ipc.removeListener(channel, forward)
      }
    },
  }
}
