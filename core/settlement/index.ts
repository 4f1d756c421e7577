// Settlements: a settled round's audited winners, attested by the workload's owner (README.md).
export {
  SETTLEMENT_INVALID_REASONS,
  compareSettlements,
  roundKey,
  settlementFor,
  settlementProblem,
  type SettledRound,
  type SettlementInvalidReason,
  type SettlementView,
} from './attest.js'
export {
  RETRY_MS,
  SettlementWriter,
  dueSettlements,
  type Attestation,
  type AuditedRounds,
  type SettleInput,
  type SettlePlan,
  type SettlementWriterOptions,
} from './writer.js'
