// Chooses the transport once, at startup: the preload's bridge inside Electron, otherwise the
// daemon's WebSocket bridge on the page's own origin.
import type { ApiEvents, EventName, PreloadBridge } from '../../../core/api.js'
import { ApiError } from './errors.js'
import { IpcClient } from './ipc-client.js'
import type { ConnectionState, Transport } from './transport.js'
import { takeToken } from './token.js'
import { WebSocketClient } from './ws-client.js'

declare global {
  interface Window {
    /** Set by the Electron preload (contextBridge); absent in a browser. */
    meshletApi?: PreloadBridge
  }
}

export function createTransport(): Transport {
  if (window.meshletApi) return new IpcClient(window.meshletApi)
  const token = takeToken()
  if (!token) return new NoTokenClient()
  const scheme = window.location.protocol === 'https:' ? 'wss:' : 'ws:'
  const client = new WebSocketClient({ url: `${scheme}//${window.location.host}/api`, token })
  client.start()
  return client
}

/** A browser tab opened without the daemon's link: nothing to connect to, and it says so. */
class NoTokenClient implements Transport {
  readonly kind = 'none'
  private readonly state: ConnectionState = { status: 'no-token' }

  call(): Promise<never> {
    return Promise.reject(
      new ApiError('unavailable', 'Open the dashboard from the link your meshlet printed.'),
    )
  }

  on<E extends EventName>(_event: E, _listener: (payload: ApiEvents[E]) => void): () => void {
    return () => {}
  }

  connection(): ConnectionState {
    return this.state
  }

  onConnection(): () => void {
    return () => {}
  }

  retryNow(): void {}
}
