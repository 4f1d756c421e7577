// Every failure a screen shows is an ApiError with a code and a sentence, whether the core
// refused the call or the transport could not carry it.
import { describe, expect, it } from 'vitest'
import { ApiError, toErrorPayload, type ApiErrorCode, type WireResult } from '../../../core/api.js'
import { toApiError, unwrap } from '../../../renderer/src/api/errors.js'

const CODES: ApiErrorCode[] = [
  'invalid-args',
  'unknown-method',
  'not-signed-in',
  'not-found',
  'conflict',
  'unavailable',
  'internal',
]

describe('unwrap', () => {
  it('gives the result of a call that succeeded, a void one included', () => {
    expect(unwrap({ ok: true, result: { url: 'https://pds.test/authorize' } })).toEqual({
      url: 'https://pds.test/authorize',
    })
    expect(unwrap(JSON.parse('{"ok":true}') as WireResult)).toBeUndefined()
  })

  it.each(CODES)('throws the core’s %s error with its code and message', (code) => {
    const wire: WireResult = { ok: false, error: toErrorPayload(new ApiError(code, 'why')) }
    let thrown: unknown
    try {
      unwrap(wire)
    } catch (err) {
      thrown = err
    }
    expect(thrown).toBeInstanceOf(ApiError)
    expect(thrown).toMatchObject({ code, message: 'why' })
  })

  it('reads a code this build does not know as internal, and keeps the message', () => {
    const wire = { ok: false, error: { code: 'quota-exceeded', message: 'over quota' } }
    expect(() => unwrap(wire as unknown as WireResult)).toThrow(
      expect.objectContaining({ name: 'ApiError', code: 'internal', message: 'over quota' }),
    )
  })
})

describe('toApiError', () => {
  it('keeps an ApiError as it is', () => {
    const err = new ApiError('not-found', 'no such workload')
    expect(toApiError(err)).toBe(err)
  })

  it('makes anything else internal, with its message and the original as the cause', () => {
    const boom = new TypeError('boom')
    expect(toApiError(boom)).toMatchObject({ code: 'internal', message: 'boom', cause: boom })
    expect(toApiError('plain string')).toMatchObject({ code: 'internal', message: 'plain string' })
    expect(toApiError(undefined)).toBeInstanceOf(ApiError)
  })
})
