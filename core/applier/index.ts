// The plan applier (see README.md).
export {
  PlanApplier,
  replicaKey,
  replicaOf,
  StartCancelledError,
  type PlanApplierHooks,
  type ReplicaId,
} from './plan-applier.js'
