// Scheduling: pure decisions from records and `now` (see README.md).
export {
  DEFAULT_CONFIG,
  ENDING_STATES,
  type Action,
  type BidAudit,
  type BidAction,
  type BidCheck,
  type BidSummary,
  type CapacityView,
  type DeclineAction,
  type BidView,
  type ClusterView,
  type Eligibility,
  type Explanation,
  type LocalReplica,
  type Plan,
  type PlanInput,
  type PresenceIndex,
  type PresenceView,
  type RankedBid,
  type RoundBids,
  type RoundInfo,
  type SchedulingConfig,
  type Selection,
  type SelfState,
  type StartAction,
  type StatusView,
  type StopAction,
  type StopReason,
  type WorkloadView,
} from './types.js'
export {
  BID_INVALID_REASONS,
  NO_BID_REASONS,
  describeReason,
  type BidInvalidReason,
  type NoBidReason,
} from './reasons.js'
export { eligibility, networkOf, type EligibilityPolicy } from './eligibility.js'
export {
  MIN_CPU_MILLIS,
  MIN_MEMORY_MIB,
  registryAdmitted,
  registryOf,
  workloadProblems,
} from './validity.js'
export { checkBid, select } from './select.js'
export {
  DEFAULT_RESTART,
  MAX_BACKOFF_MS,
  MAX_ROUND,
  backoffMs,
  bidWindowOf,
  fateOf,
  presenceTime,
  retryDelayMs,
  roundHistory,
  roundOf,
  versionOpensAt,
  type Fate,
  type LossCause,
  type Placement,
  type RoundHistory,
} from './rounds.js'
export { MAX_PRIORITY, clampPriority, plan } from './plan.js'
export { MAX_RUNTIME_EXCEEDED, overrunStatus, runtimeDeadline } from './deadline.js'
export {
  add,
  authorityOf,
  bidRkey,
  bidUri,
  compareStrings,
  scale,
  spreadKey,
  statusUri,
  timeOf,
} from './util.js'
