// Fair share: the ledger from public status records, and bid priorities (see README.md).
export {
  DEFAULT_HALF_LIFE_MS,
  decay,
  accounts,
  ledger,
  type Account,
  usageMilliUnits,
  type Ledger,
  type LedgerOptions,
} from './ledger.js'
export {
  FREE_BITS,
  MAX_DEFICIT,
  PRIORITY_BOUND,
  belowFloor,
  freeScore,
  meanBalance,
  priority,
} from './priority.js'
