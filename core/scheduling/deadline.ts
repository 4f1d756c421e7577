// Max runtime (workload.maxRuntimeMs): the moment a replica this meshlet runs has run too long.
// Its host judges by its own clock from the container's start; the replica then ends as a
// failure with a named reason, and the restart policy decides as for any other failure.
import type { LocalReplica, WorkloadView } from './types.js'

/** The status reason a replica stopped for running past its limit publishes. */
export const MAX_RUNTIME_EXCEEDED = 'max-runtime-exceeded'

/** When `replica` passes its workload's max runtime; undefined without a limit or a start time. */
export function runtimeDeadline(workload: WorkloadView, replica: LocalReplica): number | undefined {
  const max = workload.record.maxRuntimeMs
  const started = replica.startedAt
  if (max === undefined || started === undefined || !Number.isFinite(started)) return undefined
  if (!Number.isSafeInteger(max) || max <= 0) return undefined
  return started + max
}

/** What the status of a replica stopped for running too long says, besides `failed`. */
export function overrunStatus(workload: WorkloadView | undefined): {
  reason: typeof MAX_RUNTIME_EXCEEDED
  message: string
} {
  const max = workload?.record.maxRuntimeMs
  return {
    reason: MAX_RUNTIME_EXCEEDED,
    message:
      max === undefined
        ? 'stopped: it ran past its maximum runtime'
        : `stopped: it ran past its maximum runtime of ${Math.round(max / 1000)} s`,
  }
}
