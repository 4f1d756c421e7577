// What a tombstone is, the version it ends, and when it may go. Pure.
import { describe, expect, it } from 'vitest'
import {
  endedVersion,
  expiredTombstones,
  isTombstone,
  tombstoneOf,
} from '../../../core/tombstone/index.js'
import type { WorkloadRecord } from '../../../core/lexicon/index.js'
import { SEC, T0, workload } from '../scheduling/_util.js'

const w = workload({ createdAt: T0 })

describe('tombstones', () => {
  it('keep the version as it was, dated when deleted, naming the version it ends', () => {
    const t = tombstoneOf(w.record, w.cid, new Date(T0 + 60 * SEC))
    expect(t).toEqual({
      ...w.record,
      deletedAt: new Date(T0 + 60 * SEC).toISOString(),
      deletedVersion: w.cid,
    })
    expect(isTombstone(t)).toBe(true)
    expect(isTombstone(w.record)).toBe(false)
    // Held as the version it ends: its bids and statuses name that CID.
    const held = endedVersion({ ...w, cid: 'bafytombstone', record: t })
    expect(held.cid).toBe(w.cid)
    expect(held.record).toBe(t)
  })

  it('are never dated before the version opened, whatever the deleting clock says', () => {
    const updated = workload({ createdAt: T0, updatedAt: T0 + HOUR })
    const t = tombstoneOf(updated.record, updated.cid, new Date(T0))
    expect(t.deletedAt).toBe(new Date(T0 + HOUR + 1).toISOString())
  })

  it('without the version they end, match no bid or status', () => {
    const bare = { ...w.record, deletedAt: new Date(T0).toISOString() } as WorkloadRecord
    expect(endedVersion({ ...w, cid: 'bafytombstone', record: bare }).cid).not.toBe(w.cid)
    expect(endedVersion({ ...w, cid: 'bafytombstone', record: bare }).cid).not.toBe('bafytombstone')
  })

  it('expire after the retention period by their own date, and nothing else does', () => {
    const at = (rkey: string) => `at://did:plc:alice/commune.scheduler.workload/${rkey}`
    const records = [
      { uri: at('3lold00000000'), value: { ...w.record, deletedAt: iso(T0) } },
      { uri: at('3lyoung000000'), value: { ...w.record, deletedAt: iso(T0 + 2 * HOUR) } },
      { uri: at('3llive0000000'), value: w.record },
      { uri: at('3lbad00000000'), value: { ...w.record, deletedAt: 'not a date' } },
      { uri: at('3lnull0000000'), value: null },
    ]
    expect(expiredTombstones(records, T0 + 2 * HOUR, HOUR)).toEqual([
      '3lbad00000000',
      '3lold00000000',
    ])
    expect(expiredTombstones(records, T0 + 3 * HOUR, HOUR)).toEqual([
      '3lbad00000000',
      '3lold00000000',
      '3lyoung000000',
    ])
  })
})

const HOUR = 3_600_000

function iso(t: number): string {
  return new Date(t).toISOString()
}
