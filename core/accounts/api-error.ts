// How a machine account's refusal crosses the UI contract: the message stays (it says what to
// do), the code says whether the user can fix it here.
import { ApiError, type ApiErrorCode } from '../api.js'
import { MachineAccountError, type MachineAccountProblem } from './machine-account.js'

const CODE_OF: Record<MachineAccountProblem, ApiErrorCode> = {
  'invite-required': 'invalid-args',
  'invite-invalid': 'invalid-args',
  'email-required': 'invalid-args',
  'email-taken': 'conflict',
  'email-unsupported': 'invalid-args',
  'handle-taken': 'conflict',
  'handle-invalid': 'invalid-args',
  'insecure-pds': 'invalid-args',
  'verification-required': 'unavailable',
  'rate-limited': 'unavailable',
  unreachable: 'unavailable',
  'other-machine': 'conflict',
  refused: 'unavailable',
}

export function machineAccountApiError(err: unknown): Error {
  if (err instanceof MachineAccountError) {
    return new ApiError(CODE_OF[err.problem], err.message, { cause: err })
  }
  return err instanceof Error ? err : new Error(String(err))
}
