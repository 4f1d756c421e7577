// The bounds of every workload field, with no imports: core/api.ts (which the renderer loads,
// without Node's Buffer or the lexicon code) checks the app's drafts against the same numbers
// that core/spec builds records with.

/** Bounds of every field: the lexicon's, narrowed to what Docker and the runtime accept. */
export const SPEC_LIMITS = Object.freeze({
  image: 512,
  name: 64,
  commandArgs: 64,
  commandArg: 4096,
  /** Docker refuses less than 0.01 CPU. */
  minCpuMillis: 10,
  maxCpuMillis: 1_024_000,
  /** Docker refuses a memory limit under 6 MiB. */
  minMemoryMiB: 6,
  maxMemoryMiB: 1_048_576,
  minStorageMiB: 1,
  maxStorageMiB: 1_048_576,
  maxReplicas: 64,
  minBidWindowMs: 1_000,
  maxBidWindowMs: 300_000,
  envVars: 64,
  envValue: 4096,
  /** All names and values together: a workload record must stay small (core/lexicon). */
  envBytes: 32 * 1024,
  arch: 8,
  maxRestartAttempts: 100,
  maxRestartDelayMs: 86_400_000,
  minRuntimeMs: 1_000,
  maxRuntimeMs: 30 * 86_400_000,
  secrets: 16,
})
