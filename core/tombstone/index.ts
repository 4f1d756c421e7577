// Deleting a workload leaves a tombstone (docs/fair-share.md, "Deleted workloads"). Pure: what a
// tombstone is, the version it ends, and which tombstones have outlived the retention period.
import type { WorkloadRecord } from '../lexicon/index.js'
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
