// The hooks every screen uses: the client, the dashboard, the connection, and calls with their
// pending and error state.
import {
  createContext,
  useCallback,
  useContext,
  useEffect,
  useRef,
  useState,
  useSyncExternalStore,
} from 'react'
import type { DashboardState } from '../../../core/api.js'
import { ApiError, toApiError } from '../api/errors.js'
import type { ConnectionState, Transport } from '../api/transport.js'
import type { DashboardStore } from './dashboard-store.js'

export interface ApiContextValue {
  client: Transport
  store: DashboardStore
}

export const ApiContext = createContext<ApiContextValue | null>(null)

function useApiContext(): ApiContextValue {
  const value = useContext(ApiContext)
  if (!value) throw new Error('useApi needs an <ApiContext.Provider> above it')
  return value
}

export function useApi(): Transport {
  return useApiContext().client
}

/** The latest DashboardState the core pushed; undefined until the first one arrives. */
export function useDashboard(): DashboardState | undefined {
  const { store } = useApiContext()
  return useSyncExternalStore(store.subscribe, store.get)
}

export function useConnection(): ConnectionState {
  const client = useApi()
  const subscribe = useCallback((l: () => void) => client.onConnection(l), [client])
  const get = useCallback(() => client.connection(), [client])
  return useSyncExternalStore(subscribe, get)
}

export type Outcome<R> = { ok: true; value: R } | { ok: false }

export interface Action<A extends unknown[], R> {
  /** Runs the call; never rejects: a failure resolves { ok: false } and sets `error`. */
  run: (...args: A) => Promise<Outcome<R>>
  pending: boolean
  error: ApiError | undefined
  clearError: () => void
}

/** Wraps one kind of call so a form can show that it is busy and why it failed. */
export function useAction<A extends unknown[], R>(fn: (...args: A) => Promise<R>): Action<A, R> {
  const [pending, setPending] = useState(false)
  const [error, setError] = useState<ApiError>()
  const fnRef = useRef(fn)
  const mounted = useRef(true)
  useEffect(() => {
    fnRef.current = fn
  })
  useEffect(() => {
    mounted.current = true
    return () => {
      mounted.current = false
    }
  }, [])
  const run = useCallback(async (...args: A): Promise<Outcome<R>> => {
    setPending(true)
    setError(undefined)
    try {
      return { ok: true, value: await fnRef.current(...args) }
    } catch (err) {
      if (mounted.current) setError(toApiError(err))
      return { ok: false }
    } finally {
      if (mounted.current) setPending(false)
    }
  }, [])
  const clearError = useCallback(() => setError(undefined), [])
  return { run, pending, error, clearError }
}

/** The current time, refreshed every `intervalMs`, for durations that tick. */
export function useNow(intervalMs = 1000): number {
  const [now, setNow] = useState(() => Date.now())
  useEffect(() => {
    const timer = window.setInterval(() => setNow(Date.now()), intervalMs)
    return () => window.clearInterval(timer)
  }, [intervalMs])
  return now
}

/**
 * A value the user changes and the core confirms: shows what the user chose until the core's
 * next state arrives after the call settles, then whatever the core says — so a value the core
 * clamps or refuses springs back instead of lying. T is compared with Object.is: pass a
 * primitive, since every push brings fresh objects.
 */
export function useConfirmed<T>(
  confirmed: T,
  send: (value: T) => Promise<unknown>,
): { value: T; set: (value: T) => void; error: ApiError | undefined; busy: boolean } {
  const [draft, setDraft] = useState<{ value: T } | undefined>()
  const [error, setError] = useState<ApiError>()
  const [busy, setBusy] = useState(false)
  const inFlight = useRef(0)
  /** The core's value changed since the last call was sent: its answer may already be here. */
  const changedSinceSend = useRef(false)
  const lastConfirmed = useRef(confirmed)
  const sendRef = useRef(send)
  useEffect(() => {
    sendRef.current = send
  })

  useEffect(() => {
    if (Object.is(lastConfirmed.current, confirmed)) return
    lastConfirmed.current = confirmed
    changedSinceSend.current = true
    if (inFlight.current === 0) setDraft(undefined)
  }, [confirmed])

  // If the core confirms by changing nothing, no new value comes; stop waiting after a moment.
  useEffect(() => {
    if (busy || !draft) return
    const timer = window.setTimeout(() => setDraft(undefined), 1500)
    return () => window.clearTimeout(timer)
  }, [busy, draft])

  const set = useCallback((value: T) => {
    setDraft({ value })
    setError(undefined)
    changedSinceSend.current = false
    inFlight.current++
    setBusy(true)
    const settle = () => {
      inFlight.current--
      if (inFlight.current > 0) return
      setBusy(false)
      if (changedSinceSend.current) setDraft(undefined)
    }
    sendRef.current(value).then(settle, (err: unknown) => {
      setError(toApiError(err))
      changedSinceSend.current = true
      settle()
    })
  }, [])

  return { value: draft ? draft.value : confirmed, set, error, busy }
}
