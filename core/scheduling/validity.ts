// What Docker would refuse, refused before anyone bids: a workload that asks for less than the
// engine's minimums, or names an image the engine cannot parse, would only fail on whichever
// meshlet won it. Pure, so every peer (and `meshlet status`) finds the same problems.
import type { WorkloadRecord } from '../lexicon/index.js'
// The parser is pure (no dockerode); it lives beside the runtime, which uses it before pulling.
import { normalizeRegistry, parseImageRef } from '../runtime/image-ref.js'

/** Docker's NanoCPUs floor: 0.01 CPU. */
export const MIN_CPU_MILLIS = 10
/** Docker refuses memory limits under 6 MiB. */
export const MIN_MEMORY_MIB = 6

const isInt = (n: unknown): n is number => typeof n === 'number' && Number.isSafeInteger(n)

/** Why Docker would refuse to run this workload; empty when it would not. */
export function workloadProblems(record: WorkloadRecord): string[] {
  const problems: string[] = []
  const r = record.resources as Partial<WorkloadRecord['resources']> | undefined
  if (!isInt(r?.cpuMillis) || r.cpuMillis < MIN_CPU_MILLIS) {
    problems.push(
      `resources.cpuMillis must be at least ${MIN_CPU_MILLIS} (Docker's minimum of 0.01 CPU); got ${String(r?.cpuMillis)}`,
    )
  }
  if (!isInt(r?.memoryMiB) || r.memoryMiB < MIN_MEMORY_MIB) {
    problems.push(
      `resources.memoryMiB must be at least ${MIN_MEMORY_MIB} (Docker's minimum); got ${String(r?.memoryMiB)}`,
    )
  }
  try {
    parseImageRef(record.image)
  } catch (err) {
    problems.push((err as Error).message)
  }
  return problems
}

/** The registry Docker would pull `image` from (`docker.io` for Hub names); undefined when the
 *  reference cannot be parsed. */
export function registryOf(image: string): string | undefined {
  try {
    return parseImageRef(image).registry
  } catch {
    return undefined
  }
}

/** Whether the lender's allow-list admits `image` (no list: every registry). */
export function registryAdmitted(image: string, allowList: readonly string[] | undefined): boolean {
  if (allowList === undefined) return true
  const registry = registryOf(image)
  return registry !== undefined && allowList.some((e) => normalizeRegistry(e) === registry)
}
