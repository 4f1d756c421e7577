// Every failure the UI shows is an ApiError with a code and a sentence, whether the core refused
// the call or the transport could not carry it; screens never have to tell the two apart.
import { ApiError, type ApiErrorCode, type WireResult } from '../../../core/api.js'

export { ApiError }

const CODES: readonly ApiErrorCode[] = [
  'invalid-args',
  'unknown-method',
  'not-signed-in',
  'not-found',
  'conflict',
  'unavailable',
  'internal',
]

/** The result of a call as it came over the wire, or the error it carries. */
export function unwrap<T>(wire: WireResult): T {
  if (wire.ok) return wire.result as T
  const { code, message } = wire.error
  // A payload from a newer core may carry a code this build does not know; keep its message.
  throw new ApiError(CODES.includes(code) ? code : 'internal', message)
}

export function toApiError(err: unknown): ApiError {
  if (err instanceof ApiError) return err
  const message = err instanceof Error ? err.message : String(err)
  return new ApiError('internal', message, { cause: err })
}
