// The plan applier (see README.md).
export {
  PlanApplier,
  replicaKey,
  replicaOf,
  type PlanApplierHooks,
  type ReplicaId,
} from './plan-applier.js'
