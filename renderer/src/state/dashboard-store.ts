// The one copy of DashboardState in the renderer. The core pushes it whole on every change, so
// there is nothing to merge: the latest push wins, and views read it through useDashboard().
import type { DashboardState } from '../../../core/api.js'
import { ApiError } from '../api/errors.js'
import type { Transport } from '../api/transport.js'

export class DashboardStore {
  private state: DashboardState | undefined
  private pushes = 0
  private readonly listeners = new Set<() => void>()

  constructor(private readonly client: Transport) {}

  /** Returns a function that stops listening. */
  start(): () => void {
    const offState = this.client.on('state', (state) => {
      this.pushes++
      this.set(state)
    })
    // The WebSocket bridge pushes a state right after connecting, but an IPC window may open
    // before anything changes; ask once per connection, and let a push that overtakes the
    // answer win, since it is newer.
    const fetchIfOpen = () => {
      if (this.client.connection().status !== 'open') return
      const before = this.pushes
      this.client.call('state.get').then(
        (state) => {
          if (this.pushes === before) this.set(state)
        },
        (err: unknown) => {
          // Losing the connection mid-call is what the banner is for; anything else is a bug.
          if (!(err instanceof ApiError && err.code === 'unavailable')) {
            console.error('meshlet: state.get failed', err)
          }
        },
      )
    }
    const offConnection = this.client.onConnection(fetchIfOpen)
    fetchIfOpen()
    return () => {
      offState()
      offConnection()
    }
  }

  get = (): DashboardState | undefined => this.state

  subscribe = (listener: () => void): (() => void) => {
    this.listeners.add(listener)
    return () => this.listeners.delete(listener)
  }

  private set(state: DashboardState): void {
    this.state = state
    for (const listener of this.listeners) listener()
  }
}
