// Deleting a workload leaves a tombstone (docs/fair-share.md, "Deleted and updated workloads"). Pure: what a
// tombstone is, the version it ends, and which tombstones have outlived the retention period.
import { AtUri } from '@atproto/syntax'
import { NSID, type WorkloadRecord } from '../lexicon/index.js'
import { timeOf, type WorkloadView } from '../scheduling/index.js'

/** Whether a workload record is a tombstone: its owner deleted it. */
export function isTombstone(record: WorkloadRecord): boolean {
  return record.deletedAt !== undefined
}

/**
 * The version a tombstone ends, as the ledger counts it: the record under the CID that its bids
 * and statuses name (`deletedVersion`), not the tombstone's own. A tombstone without one ends no
 * version anybody ran (its statuses match nothing: its usage counts for nobody).
 */
export function endedVersion(view: WorkloadView): WorkloadView {
  return { ...view, cid: view.record.deletedVersion ?? `${view.cid}#tombstone` }
}

/**
 * The tombstone of a version: the record as it was, with `deletedAt` and the version's CID.
 * Dated after the version opened, so a clock behind the one that published it cannot erase
 * the version's rounds (the ledger counts only rounds that opened before the deletion).
 */
export function tombstoneOf(record: WorkloadRecord, cid: string, now: Date): WorkloadRecord {
  const opened = timeOf(record.updatedAt ?? record.createdAt)
  const at = Number.isFinite(opened) && opened >= now.getTime() ? new Date(opened + 1) : now
  return { ...record, deletedAt: at.toISOString(), deletedVersion: cid } as WorkloadRecord
}

/**
 * The tombstone of a version its owner replaced (an update): the version's tombstone, kept at a
 * key of its own (`versionKey`) and naming the workload it belonged to (`versionOf`), so the
 * ledger keeps counting the old version's usage, as a deletion's tombstone does, while the
 * workload's own record carries the new version.
 */
export function versionTombstoneOf(
  record: WorkloadRecord,
  cid: string,
  workloadUri: string,
  now: Date,
): WorkloadRecord {
  return { ...tombstoneOf(record, cid, now), versionOf: workloadUri } as WorkloadRecord
}

/** Where a version's tombstone is kept: the workload's key and the version's CID, so writing it
 *  again (an update retried) rewrites the same record. */
export function versionKey(rkey: string, cid: string): string {
  return `${rkey}.${cid}`
}

/** Why a record that names `versionOf` cannot stand for an earlier version of that workload, or
 *  undefined: it must be a tombstone with its version, in the repo and collection of the workload
 *  it names, kept at that workload's version key. Another repo's history would move another
 *  member's balance. */
export function versionTombstoneProblem(record: WorkloadRecord, uri: string): string | undefined {
  if (record.versionOf === undefined) return undefined
  if (record.deletedAt === undefined || record.deletedVersion === undefined) {
    return 'versionOf without deletedAt and deletedVersion'
  }
  let of: AtUri
  let own: AtUri
  try {
    of = new AtUri(record.versionOf)
    own = new AtUri(uri)
  } catch {
    return 'versionOf is not an at-uri'
  }
  if (of.host !== own.host) return 'versionOf names a workload of another repo'
  if (of.collection !== NSID.workload || of.rkey === '') return 'versionOf names no workload'
  if (own.rkey !== versionKey(of.rkey, record.deletedVersion)) {
    return 'a version tombstone is not kept at its version key'
  }
  return undefined
}

/** A workload record as the ledger counts it: a version tombstone as the version it ends, of the
 *  workload it names; a tombstone as the version it ends; anything else as it is. */
export function countedVersion(view: WorkloadView): WorkloadView {
  const of = view.record.versionOf
  if (of !== undefined) return { ...endedVersion(view), uri: of }
  return isTombstone(view.record) ? endedVersion(view) : view
}

/** The versions a ledger counts, each once: a version tombstone of the version a workload's
 *  record still carries (an update whose new version is not written or not seen yet) adds
 *  nothing. Earlier entries win. */
export function distinctVersions(views: Iterable<WorkloadView>): WorkloadView[] {
  const seen = new Set<string>()
  const out: WorkloadView[] = []
  for (const v of views) {
    const key = `${v.uri} ${v.cid}`
    if (seen.has(key)) continue
    seen.add(key)
    out.push(v)
  }
  return out
}

/** The record keys of the tombstones that have outlived the retention period, by their own
 *  `deletedAt`, sorted. Records that are not tombstones are never named. */
export function expiredTombstones(
  records: readonly { uri: string; value: unknown }[],
  now: number,
  retentionMs: number,
): string[] {
  const out: string[] = []
  for (const r of records) {
    const deletedAt = (r.value as { deletedAt?: unknown } | null)?.deletedAt
    if (typeof deletedAt !== 'string') continue
    const at = timeOf(deletedAt)
    // A date nobody can read counts for nothing in the ledger either: it may go at once.
    if (Number.isNaN(at) || at + retentionMs <= now) out.push(rkeyOf(r.uri))
  }
  return out.sort()
}

function rkeyOf(uri: string): string {
  return uri.slice(uri.lastIndexOf('/') + 1)
}
