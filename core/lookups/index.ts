// Back-off for failed look-ups (see README.md).
export { DEFAULT_LOOKUP_BACKOFF, LookupBackoff, type LookupBackoffOptions } from './backoff.js'
