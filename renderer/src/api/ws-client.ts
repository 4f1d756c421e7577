// In a browser: the daemon's bridge at ws(s)://<host>/api. The token rides in the WebSocket
// subprotocol list (see renderer/README.md), so no frame is ever sent before the bridge has
// checked it, and it never appears in a URL the server might log.
import type {
  ApiEvents,
  Args,
  EventName,
  MethodName,
  Result,
  WireClientFrame,
  WireResult,
  WireServerFrame,
} from '../../../core/api.js'
import { ApiError, unwrap } from './errors.js'
import { OPEN, type ConnectionState, type Transport } from './transport.js'

/** The protocol the bridge selects; offered beside the token so the token is never echoed. */
export const SUBPROTOCOL = 'meshlet.v1'
export const TOKEN_PREFIX = 'meshlet.token.'
/** The bridge closes with this code when the token is missing or wrong. */
export const CLOSE_UNAUTHORIZED = 4401

export interface WebSocketClientOptions {
  url: string
  token: string
  /** A call that gets no answer in this time fails (default 60 s: sign-in and handle
   *  resolution talk to a PDS and can be slow, but never this slow). */
  callTimeoutMs?: number
  /** First reconnect delay and the most it grows to (defaults 500 ms, 15 s). */
  backoffMs?: { initial: number; max: number }
}

interface Pending {
  resolve: (wire: WireResult) => void
  reject: (err: ApiError) => void
  timer: number
}

export class WebSocketClient implements Transport {
  readonly kind = 'websocket'
  private readonly url: string
  private readonly token: string
  private readonly callTimeoutMs: number
  private readonly backoff: { initial: number; max: number }
  private socket: WebSocket | undefined
  private state: ConnectionState = { status: 'connecting' }
  private nextId = 1
  private attempt = 0
  private retryTimer: number | undefined
  private disposed = false
  private readonly pending = new Map<number, Pending>()
  private readonly listeners = new Map<string, Set<(payload: unknown) => void>>()
  private readonly connectionListeners = new Set<() => void>()
  private readonly wake = () => {
    if (document.visibilityState !== 'hidden') this.retryNow()
  }

  constructor(options: WebSocketClientOptions) {
    this.url = options.url
    this.token = options.token
    this.callTimeoutMs = options.callTimeoutMs ?? 60_000
    this.backoff = options.backoffMs ?? { initial: 500, max: 15_000 }
  }

  start(): void {
    // Coming back online or to the foreground is the moment a retry is most likely to work;
    // waiting out a long backoff then would only look broken.
    window.addEventListener('online', this.wake)
    document.addEventListener('visibilitychange', this.wake)
    this.connect()
  }

  dispose(): void {
    this.disposed = true
    window.removeEventListener('online', this.wake)
    document.removeEventListener('visibilitychange', this.wake)
    window.clearTimeout(this.retryTimer)
    this.socket?.close(1000)
  }

  call<M extends MethodName>(
    method: M,
    ...args: Args<M> extends void ? [] : [Args<M>]
  ): Promise<Result<M>> {
    const socket = this.socket
    if (this.state.status !== 'open' || !socket || socket.readyState !== WebSocket.OPEN) {
      return Promise.reject(
        new ApiError('unavailable', 'Not connected to the meshlet. Reconnecting — try again soon.'),
      )
    }
    const id = this.nextId++
    const frame: WireClientFrame = args.length > 0 ? { id, method, args: args[0] } : { id, method }
    return new Promise<WireResult>((resolve, reject) => {
      const timer = window.setTimeout(() => {
        this.pending.delete(id)
        reject(new ApiError('unavailable', 'The meshlet did not answer in time.'))
      }, this.callTimeoutMs)
      this.pending.set(id, { resolve, reject, timer })
      socket.send(JSON.stringify(frame))
    }).then((wire) => unwrap<Result<M>>(wire))
  }

  on<E extends EventName>(event: E, listener: (payload: ApiEvents[E]) => void): () => void {
    let set = this.listeners.get(event)
    if (!set) this.listeners.set(event, (set = new Set()))
    const l = listener as (payload: unknown) => void
    set.add(l)
    return () => set.delete(l)
  }

  connection(): ConnectionState {
    return this.state
  }

  onConnection(listener: () => void): () => void {
    this.connectionListeners.add(listener)
    return () => this.connectionListeners.delete(listener)
  }

  retryNow(): void {
    if (this.disposed || this.state.status !== 'reconnecting' || this.socket) return
    window.clearTimeout(this.retryTimer)
    this.connect()
  }

  private connect(): void {
    this.retryTimer = undefined
    if (this.state.status === 'reconnecting') {
      this.setState({ ...this.state, retryAt: Date.now() })
    }
    let socket: WebSocket
    try {
      socket = new WebSocket(this.url, [SUBPROTOCOL, TOKEN_PREFIX + this.token])
    } catch (err) {
      // The constructor throws only for a URL or a protocol it cannot send: the token has
      // characters outside the subprotocol alphabet. No retry fixes that.
      console.error('meshlet: cannot open the WebSocket', err)
      this.setState({
        status: 'refused',
        reason: 'The link this page was opened with carries a token this browser cannot send.',
      })
      return
    }
    this.socket = socket
    socket.onopen = () => {
      this.attempt = 0
      this.setState(OPEN)
    }
    socket.onmessage = (ev: MessageEvent) => this.receive(ev.data)
    socket.onclose = (ev: CloseEvent) => this.closed(socket, ev.code, ev.reason)
  }

  private receive(data: unknown): void {
    if (typeof data !== 'string') return
    let frame: WireServerFrame
    try {
      frame = JSON.parse(data) as WireServerFrame
    } catch (err) {
      console.error('meshlet: a frame that is not JSON', err)
      return
    }
    if ('id' in frame && typeof frame.id === 'number') {
      const p = this.pending.get(frame.id)
      if (!p) return // answered after its timeout
      this.pending.delete(frame.id)
      window.clearTimeout(p.timer)
      p.resolve(frame)
    } else if ('event' in frame && typeof frame.event === 'string') {
      for (const listener of this.listeners.get(frame.event) ?? []) {
        try {
          listener(frame.payload)
        } catch (err) {
          // One broken view must not starve the others of the event.
          console.error(`meshlet: a listener for "${frame.event}" threw`, err)
        }
      }
    }
  }

  private closed(socket: WebSocket, code: number, reason: string): void {
    if (this.socket !== socket) return
    this.socket = undefined
    for (const [id, p] of this.pending) {
      window.clearTimeout(p.timer)
      p.reject(
        new ApiError('unavailable', 'The connection to the meshlet was lost before it answered.'),
      )
      this.pending.delete(id)
    }
    if (this.disposed) return
    if (code === CLOSE_UNAUTHORIZED) {
      this.setState({
        status: 'refused',
        reason:
          reason ||
          'The meshlet did not accept this page’s token. Open the dashboard again from the link the meshlet printed.',
      })
      return
    }
    // Exponential backoff with jitter, so a restarted daemon is not hit by every tab at once.
    const base = Math.min(this.backoff.max, this.backoff.initial * 2 ** this.attempt)
    const delay = Math.round(base * (0.8 + Math.random() * 0.4))
    this.attempt++
    this.setState({ status: 'reconnecting', attempt: this.attempt, retryAt: Date.now() + delay })
    this.retryTimer = window.setTimeout(() => this.connect(), delay)
  }

  private setState(state: ConnectionState): void {
    this.state = state
    for (const listener of this.connectionListeners) listener()
  }
}
