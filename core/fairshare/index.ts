// Fair share: the ledger from public status records, and bid priorities (see README.md).
export {
  DEFAULT_HALF_LIFE_MS,
  decay,
  accounts,
  accountsOf,
  balancesOf,
  decayedUsage,
  ledger,
  type Transfer,
  type Account,
  usageMilliUnits,
  type Ledger,
  type LedgerOptions,
} from './ledger.js'
export {
  FREE_BITS,
  MAX_DEFICIT,
  PRIORITY_BOUND,
  auditedPriority,
  belowFloor,
  freeScore,
  meanBalance,
  priority,
} from './priority.js'
export {
  Audit,
  CUTOFF_STEP_MS,
  DEFAULT_SETTLE_MS,
  deletedAtOf,
  type AuditInput,
  type Credit,
} from './audit.js'
