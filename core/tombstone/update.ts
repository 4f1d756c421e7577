// The owner's side of updating a workload: the version being replaced leaves a tombstone of its
// own before the new version is written, so its usage keeps counting (core/fairshare) and an
// update cannot forgive the owner's debits. Used by the app and by `meshlet update`.
import { AtUri } from '@atproto/syntax'
import { NSID, type WorkloadRecord } from '../lexicon/index.js'
import { sweepTombstones, type OwnerRepo } from './delete.js'
import { versionKey, versionTombstoneOf } from './index.js'

export interface PublishedVersion {
  uri: string
  cid: string
  /** The record key of the replaced version's tombstone. */
  history: string
  /** Why expired tombstones could not be removed this time (the update itself went through). */
  sweepError?: Error
}

/**
 * Writes the tombstone of `current` (the version the repo holds now, as read), then `next` in
 * its place, then removes the owner's expired tombstones. A failure before the new version is
 * written leaves at most the tombstone, which counts nothing twice: a ledger counts each
 * version once (`distinctVersions`), and writing it again on a retry rewrites the same record.
 */
export async function publishVersion(
  owner: OwnerRepo,
  uri: string,
  current: { cid: string; value: WorkloadRecord },
  next: Record<string, unknown>,
  opts: { now: Date; retentionMs?: number },
): Promise<PublishedVersion> {
  const at = new AtUri(uri)
  const history = versionKey(at.rkey, current.cid)
  await owner.writer.put(
    NSID.workload,
    history,
    versionTombstoneOf(current.value, current.cid, uri, opts.now) as unknown as Record<
      string,
      unknown
    >,
  )
  const written = await owner.writer.put(NSID.workload, at.rkey, next)
  const out: PublishedVersion = { uri: written.uri, cid: written.cid, history }
  try {
    await sweepTombstones(owner, opts)
  } catch (err) {
    out.sweepError = err instanceof Error ? err : new Error(String(err))
  }
  return out
}
