// Liveness per meshlet (see README.md).
export { vouchFor, type VouchInput, type VouchedReplica } from './vouch.js'
export {
  PresencePublisher,
  type PresencePublisherOptions,
  type PresenceRecordDraft,
  type PresenceState,
} from './publisher.js'
