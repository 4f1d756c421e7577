// What the renderer holds: the contract's ApiClient, plus the state of the link that carries it,
// so the UI can say "offline — reconnecting" instead of failing calls without a word.
import type { ApiClient } from '../../../core/api.js'

export type ConnectionState =
  /** The first attempt, before anything was heard from the meshlet. */
  | { status: 'connecting' }
  | { status: 'open' }
  /** Lost (or never made); the next attempt starts at `retryAt` (ms since the epoch). */
  | { status: 'reconnecting'; attempt: number; retryAt: number }
  /** The meshlet refused us (a wrong or expired token); retrying would not help. */
  | { status: 'refused'; reason: string }
  /** Opened in a browser without the link that carries the token. */
  | { status: 'no-token' }

export interface Transport extends ApiClient {
  readonly kind: 'ipc' | 'websocket' | 'none'
  connection(): ConnectionState
  /** Returns an unsubscribe function. */
  onConnection(listener: () => void): () => void
  /** Skips the rest of the backoff wait. */
  retryNow(): void
}

export const OPEN: ConnectionState = { status: 'open' }
