// Liveness off the repo for reachable hosts (see README.md).
export { LivenessWatch, DEFAULT_PROBE_MS, DEFAULT_SILENCE_MS, challengeWaitMs } from './watch.js'
export type { LivenessWatchOptions } from './watch.js'
export { Prober, ping, type Ping, type ProberOptions } from './prober.js'
export {
  challengeToAnswer,
  FALLBACK_ANSWERS,
  FALLBACK_MS,
  FALLBACK_WINDOW_MS,
  probeTargets,
  shouldFallBack,
  spentChallenges,
  type LivenessRecords,
} from './targets.js'
