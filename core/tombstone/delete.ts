// The owner's side of deleting a workload: write the tombstone, and remove for good the
// tombstones that have outlived the retention period. Used by the app and by `meshlet delete`.
import { AtUri } from '@atproto/syntax'
import { DEFAULT_RETENTION_MS } from '../hygiene/index.js'
import { NSID, checkRecord } from '../lexicon/index.js'
import type { RepoReader } from '../repo/reader.js'
import type { RepoWriter } from '../repo/writer.js'
import { expiredTombstones, isTombstone, tombstoneOf } from './index.js'

/** A tombstone lives this long by default (as a meshlet's own bids and statuses do). Peers stop
 *  auditing rounds after half of it, so its removal changes no ledger (core/fairshare). */
export const DEFAULT_TOMBSTONE_RETENTION_MS = DEFAULT_RETENTION_MS

export class WorkloadDeleteError extends Error {
  constructor(
    message: string,
    readonly code: 'not-found' | 'unavailable',
    options?: ErrorOptions,
  ) {
    super(message, options)
    this.name = 'WorkloadDeleteError'
  }
}

export interface OwnerRepo {
  reader: RepoReader
  writer: RepoWriter
}

export interface Deleted {
  rkey: string
  /** 'tombstone': written now; 'already': it was one; 'removed': a record no peer could count
   *  (not valid), deleted outright. */
  how: 'tombstone' | 'already' | 'removed'
  /** Expired tombstones removed on the way. */
  swept: string[]
  /** Why expired tombstones could not be removed this time (the delete itself went through);
   *  the next delete tries again. */
  sweepError?: WorkloadDeleteError
}

/**
 * Deletes one of the owner's workloads: its record becomes a tombstone, so every replica stops
 * while the rounds decided before keep their winners. Then sweeps the owner's expired tombstones.
 */
export async function deleteWorkloadRecord(
  owner: OwnerRepo,
  uri: string,
  /** `sweep: false` leaves expired tombstones for a later call (one that deletes many sweeps
   *  once, with sweepTombstones, instead of listing the repo for each). */
  opts: { now: Date; retentionMs?: number; sweep?: boolean },
): Promise<Deleted> {
  const at = new AtUri(uri)
  const did = owner.writer.did
  if (at.host !== did || at.collection !== NSID.workload || at.rkey === '') {
    throw new WorkloadDeleteError('not one of your workloads', 'not-found')
  }
  const current = await owner.reader
    .get(did, NSID.workload, at.rkey)
    .catch(unavailable('read the workload'))
  if (current === undefined) throw new WorkloadDeleteError('no such workload', 'not-found')
  const checked = checkRecord(NSID.workload, current.value)
  let how: Deleted['how']
  if (!checked.ok) {
    // No peer counts an invalid record, so there is no history to keep.
    await owner.writer.delete(NSID.workload, at.rkey).catch(unavailable('delete the workload'))
    how = 'removed'
  } else if (isTombstone(checked.value)) {
    how = 'already'
  } else {
    const tombstone = tombstoneOf(checked.value, current.cid, opts.now)
    await owner.writer
      .put(NSID.workload, at.rkey, tombstone as unknown as Record<string, unknown>)
      .catch(unavailable('delete the workload'))
    how = 'tombstone'
  }
  if (opts.sweep === false) return { rkey: at.rkey, how, swept: [] }
  try {
    return { rkey: at.rkey, how, swept: await sweepTombstones(owner, opts) }
  } catch (err) {
    if (!(err instanceof WorkloadDeleteError)) throw err
    return { rkey: at.rkey, how, swept: [], sweepError: err }
  }
}

/** Removes the owner's tombstones older than the retention period; returns their keys. */
export async function sweepTombstones(
  owner: OwnerRepo,
  opts: { now: Date; retentionMs?: number },
): Promise<string[]> {
  const did = owner.writer.did
  const records = await owner.reader
    .listAll(did, NSID.workload)
    .catch(unavailable('list the workloads'))
  const expired = expiredTombstones(
    records,
    opts.now.getTime(),
    opts.retentionMs ?? DEFAULT_TOMBSTONE_RETENTION_MS,
  )
  for (const rkey of expired) {
    await owner.writer.delete(NSID.workload, rkey).catch(unavailable('remove an old tombstone'))
  }
  return expired
}

function unavailable(what: string) {
  return (err: unknown): never => {
    const message = err instanceof Error ? err.message : String(err)
    throw new WorkloadDeleteError(`could not ${what}: ${message}`, 'unavailable', { cause: err })
  }
}
