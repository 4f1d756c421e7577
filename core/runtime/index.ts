// The executor for guest containers: the only place in the project that talks to Docker.
export {
  DEFAULT_PIDS_LIMIT,
  DEFAULT_STORAGE_MIB,
  EGRESS_NETWORK,
  GUEST_USER,
  LABELS,
  LABEL_CID,
  LABEL_MESHLET,
  LABEL_ROUND,
  LABEL_WORKLOAD,
  MIN_CPU_MILLIS,
  MIN_MEMORY_MIB,
  checkSpec,
  containerConfig,
  replicaName,
  specProblems,
  type ContainerConfigOptions,
  type GuestContainerConfig,
  type ReplicaSpec,
  type Resources,
} from './container-config.js'
export {
  ContainerRuntimeError,
  EventHandlerError,
  ForeignContainerError,
  ImageDigestMismatchError,
  ImagePullError,
  InvalidImageError,
  InvalidSpecError,
  PolicyError,
  ReplicaConflictError,
  ReplicaNotFoundError,
  ReplicaStartError,
  RuntimeOperationError,
  RuntimeUnavailableError,
  type PolicyReason,
} from './errors.js'
export {
  MAX_LOG_BYTES,
  MAX_LOG_LINES,
  MAX_LOG_LINE_CHARS,
  tailLines,
  type LogFrame,
  type LogLine,
  type LogTail,
} from './logs.js'
export { parseImageRef, registryAllowed, type ImageRef } from './image-ref.js'
export { RegistryLookupError, imageDownloadBytes, registryBase } from './registry.js'
export {
  Runtime,
  type ManagedReplica,
  type ReplicaAction,
  type ReplicaEvent,
  type ReplicaState,
  type ReplicaUsage,
  type RuntimeOptions,
} from './runtime.js'
