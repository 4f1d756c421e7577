import { describe, expect, it } from 'vitest'
import { NSID } from '../../../core/lexicon/index.js'
import { authorityOf, bidRkey, bidUri, statusUri } from '../../../core/scheduling/index.js'
import { BOB_M, workload } from './_util.js'

describe('bidRkey', () => {
  const { uri, cid } = workload()

  it('is deterministic, a valid record key, and differs per round, version and workload', () => {
    const key = bidRkey(uri, 0, cid)
    expect(bidRkey(uri, 0, cid)).toBe(key)
    expect(key).toMatch(/^[a-z2-7]{26}-0$/)
    expect(key.length).toBeLessThanOrEqual(512)
    expect(bidRkey(uri, 1, cid)).not.toBe(key)
    // A new version's round 0 does not overwrite the old version's (core/tombstone).
    expect(bidRkey(uri, 0, 'bafyanotherversion')).not.toBe(key)
    expect(bidRkey(workload({ rkey: '3lotherwork00' }).uri, 0, cid)).not.toBe(key)
    expect(bidRkey(uri, 1_000_000, cid)).toMatch(/^[A-Za-z0-9._:~-]{1,512}$/)
  })

  it('is stable across releases (peers derive the same key)', () => {
    expect(bidRkey('at://did:plc:alice/commune.scheduler.workload/3lwork0000000', 3, cid)).toBe(
      bidRkey(uri, 3, cid),
    )
    // Computed independently: base32 (RFC 4648, lower case) of sha256('at://x bafyx'), 26 chars.
    expect(bidRkey('at://x', 0, 'bafyx')).toBe('i6uo5j2aqu2wdpsic6geppvycu-0')
  })

  it('names the bid and the status of a meshlet with the same key', () => {
    expect(bidUri(BOB_M, uri, 2, cid)).toBe(`at://${BOB_M}/${NSID.bid}/${bidRkey(uri, 2, cid)}`)
    expect(statusUri(BOB_M, uri, 2, cid)).toBe(
      `at://${BOB_M}/${NSID.workloadStatus}/${bidRkey(uri, 2, cid)}`,
    )
    expect(authorityOf(uri)).toBe('did:plc:alice')
  })
})
