// Inside Electron: the preload's bridge. IPC is never "offline", so the connection is always open.
import type {
  ApiEvents,
  Args,
  EventName,
  MethodName,
  PreloadBridge,
  Result,
} from '../../../core/api.js'
import { ApiError, unwrap } from './errors.js'
import { OPEN, type ConnectionState, type Transport } from './transport.js'

export class IpcClient implements Transport {
  readonly kind = 'ipc'

  constructor(private readonly bridge: PreloadBridge) {}

  async call<M extends MethodName>(
    method: M,
    ...args: Args<M> extends void ? [] : [Args<M>]
  ): Promise<Result<M>> {
    let wire
    try {
      wire = await this.bridge.call(method, args[0])
    } catch (err) {
      // The bridge resolves with a WireResult for every answer; a rejection means IPC itself
      // broke (the main process is going away).
      throw new ApiError('unavailable', 'The app could not reach its background service.', {
        cause: err,
      })
    }
    return unwrap<Result<M>>(wire)
  }

  on<E extends EventName>(event: E, listener: (payload: ApiEvents[E]) => void): () => void {
    return this.bridge.on(event, listener as (payload: unknown) => void)
  }

  connection(): ConnectionState {
    return OPEN
  }

  onConnection(): () => void {
    return () => {}
  }

  retryNow(): void {}
}
