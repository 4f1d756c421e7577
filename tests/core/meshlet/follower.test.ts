// Whom the meshlet follows, on the real linkage records with a fake event source (what it
// follows is what this tests; following over a real PDS, with DIDs that do not resolve, is
// tests/core/meshlet/lookups.test.ts and cluster.test.ts): every DID that matters, until no new
// one turns up; failed look-ups retried on a timer with back-off and dropped once nothing names
// them; a stranger's owner claim read once.
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import { LinkageRecords } from '../../../core/identity/cluster.js'
import { NSID, type Collection } from '../../../core/lexicon/index.js'
import type { Logger } from '../../../core/log.js'
import { Follower, type FollowerOptions } from '../../../core/meshlet/follower.js'
import type { RecordEvent } from '../../../core/sync/index.js'

const ME = 'did:plc:alicemeshlet'
const ALICE = 'did:plc:alice'
const BOB = 'did:plc:bob'
const BOBM = 'did:plc:bobmeshlet'
const BOGUS = 'did:plc:bogus'
const STRANGER = 'did:plc:strangermeshlet'

function setUp(over: Partial<FollowerOptions> & { failing?: Set<string> } = {}) {
  const linkage = new LinkageRecords()
  const following = new Set<string>()
  const attempts: string[] = []
  const failing = over.failing ?? new Set<string>()
  /** What following a DID reveals (its backfill): applied to the linkage. */
  const reveals = new Map<string, () => void>()
  const lines: { event: string; fields?: Record<string, unknown> }[] = []
  const log: Logger = { log: (_level, event, fields) => void lines.push({ event, fields }) }
  const errors: string[] = []
  const claims: RecordEvent[] = []
  const reads: string[] = []
  let retried = 0
  const follower = new Follower({
    did: ME,
    owner: ALICE,
    members: () => [BOB],
    linkage,
    sync: {
      follow: async (did) => {
        attempts.push(did)
        if (failing.has(did)) throw new Error(`${did} does not resolve`)
        following.add(did)
        reveals.get(did)?.()
      },
      isFollowing: (did) => following.has(did),
    },
    reader: {
      get: async (did) => {
        reads.push(did)
        return { uri: `at://${did}/${NSID.meshletOwner}/self`, cid: 'bafyo', value: { owner: BOB } }
      },
    },
    lookupBackoff: { firstMs: 1000, maxMs: 4000 },
    running: () => true,
    onRetried: () => void (retried += 1),
    onClaim: (evt) => void claims.push(evt),
    onError: (stage) => void errors.push(stage),
    log,
    now: () => Date.now(),
    ...over,
  })
  return {
    follower,
    linkage,
    attempts,
    failing,
    reveals,
    lines,
    errors,
    claims,
    reads,
    retried: () => retried,
  }
}

beforeEach(() => {
  vi.useFakeTimers({ now: Date.parse('2026-12-02T12:00:00Z') })
})
afterEach(() => {
  vi.useRealTimers()
})

describe('Follower.followAll', () => {
  it('follows us, our owner and members, then what their records reveal, until nothing new', async () => {
    const t = setUp()
    // Bob's backfill shows his membership (mutual with alice) and his meshlet.
    t.reveals.set(BOB, () => {
      t.linkage.setMembership(BOBM, [ALICE])
      t.linkage.setOwnerMeshlet(BOB, BOBM, true)
      t.linkage.setMeshletOwner(BOBM, BOB)
    })
    await t.follower.followAll()
    expect(t.attempts.slice(0, 3).sort()).toEqual([ALICE, ME, BOB].sort())
    expect(t.attempts.slice(3)).toEqual([BOBM])
    for (const did of [ME, ALICE, BOB, BOBM]) expect(t.follower.has(did)).toBe(true)
    expect(t.follower.hasNewTargets()).toBe(false)
    expect(t.errors).toEqual([])
  })

  it('tells when the linkage names a DID not followed yet', async () => {
    const t = setUp()
    await t.follower.followAll()
    expect(t.follower.hasNewTargets()).toBe(false)
    t.linkage.setOwnerMeshlet(ALICE, 'did:plc:alicesecond', true)
    expect(t.follower.hasNewTargets()).toBe(true)
  })

  it('retries a failed look-up on a timer with a growing delay, then stops once it succeeds', async () => {
    const t = setUp({ failing: new Set([BOGUS]) })
    t.linkage.setOwnerMeshlet(ALICE, BOGUS, true)
    await t.follower.followAll()
    expect(t.errors).toEqual(['backfill'])
    const retry = (n: number) =>
      t.lines.filter((l) => l.event === 'lookup.retry' && l.fields?.did === BOGUS)[n]?.fields
    expect(retry(0)).toMatchObject({ attempt: 1, retryInMs: 1000 })
    await vi.advanceTimersByTimeAsync(999)
    expect(t.attempts.filter((d) => d === BOGUS)).toHaveLength(1)
    await vi.advanceTimersByTimeAsync(1)
    expect(t.attempts.filter((d) => d === BOGUS)).toHaveLength(2)
    expect(retry(1)).toMatchObject({ attempt: 2, retryInMs: 2000 })
    expect(t.retried()).toBe(1)
    t.failing.delete(BOGUS)
    await vi.advanceTimersByTimeAsync(2000)
    expect(t.attempts.filter((d) => d === BOGUS)).toHaveLength(3)
    expect(t.retried()).toBe(2)
    // Followed now: no timer left.
    expect(vi.getTimerCount()).toBe(0)
  })

  it('drops a failing DID once no record names it', async () => {
    const t = setUp({ failing: new Set([BOGUS]) })
    t.linkage.setOwnerMeshlet(ALICE, BOGUS, true)
    await t.follower.followAll()
    expect(t.follower.has(BOGUS)).toBe(true)
    t.linkage.setOwnerMeshlet(ALICE, BOGUS, false)
    await t.follower.followAll()
    expect(t.follower.has(BOGUS)).toBe(false)
    expect(t.lines.some((l) => l.event === 'lookup.dropped' && l.fields?.did === BOGUS)).toBe(true)
    expect(vi.getTimerCount()).toBe(0)
  })

  it('sets no retry timer once the meshlet stopped, and stop() clears one', async () => {
    const stopped = setUp({ failing: new Set([BOGUS]), running: () => false })
    stopped.linkage.setOwnerMeshlet(ALICE, BOGUS, true)
    await stopped.follower.followAll()
    expect(vi.getTimerCount()).toBe(0)

    const t = setUp({ failing: new Set([BOGUS]) })
    t.linkage.setOwnerMeshlet(ALICE, BOGUS, true)
    await t.follower.followAll()
    expect(vi.getTimerCount()).toBe(1)
    t.follower.stop()
    expect(vi.getTimerCount()).toBe(0)
  })
})

describe('Follower.sawMembership', () => {
  const membership = (did: string): RecordEvent => ({
    event: 'put',
    source: 'firehose',
    did,
    collection: NSID.membership,
    rkey: 'self',
    uri: `at://${did}/${NSID.membership}/self`,
    cid: 'bafym',
    record: { members: [ALICE] },
  })

  it("reads a stranger's owner claim once, and hands it on as a record seen", async () => {
    const t = setUp()
    t.follower.sawMembership(membership(STRANGER))
    t.follower.sawMembership(membership(STRANGER))
    await vi.runAllTimersAsync()
    expect(t.reads).toEqual([STRANGER])
    expect(t.claims).toEqual([
      expect.objectContaining({
        event: 'put',
        source: 'backfill',
        did: STRANGER,
        collection: NSID.meshletOwner,
        record: { owner: BOB },
      }),
    ])
  })

  it('reads nothing for a followed DID, a meshlet whose owner is known, or another record', async () => {
    const t = setUp()
    t.follower.add([BOBM])
    t.follower.sawMembership(membership(BOBM))
    t.linkage.setMeshletOwner('did:plc:known', BOB)
    t.follower.sawMembership(membership('did:plc:known'))
    t.follower.sawMembership({ ...membership(STRANGER), collection: NSID.presence } as RecordEvent)
    t.follower.sawMembership({
      event: 'delete',
      source: 'firehose',
      did: STRANGER,
      collection: NSID.membership,
      rkey: 'self',
      uri: `at://${STRANGER}/${NSID.membership}/self`,
    })
    await vi.runAllTimersAsync()
    expect(t.reads).toEqual([])
  })

  it('reports a failed read', async () => {
    const t = setUp({ reader: { get: () => Promise.reject(new Error('PDS away')) } })
    t.follower.sawMembership(membership(STRANGER))
    await vi.runAllTimersAsync()
    expect(t.errors).toEqual(['lookup'])
    expect(t.claims).toEqual([])
  })
})

describe('Follower.aboutUs', () => {
  it("keeps a followed DID's records and a stranger's claim about us, nothing else", () => {
    const t = setUp()
    const put = (did: string, collection: Collection, record: Record<string, unknown>) =>
      ({
        event: 'put',
        source: 'firehose',
        did,
        collection,
        rkey: 'self',
        uri: `at://${did}/${collection}/self`,
        cid: 'bafy',
        record,
      }) as RecordEvent
    t.follower.add([BOB])
    expect(t.follower.aboutUs(put(BOB, NSID.presence, {}))).toBe(true)
    expect(t.follower.aboutUs(put(STRANGER, NSID.presence, {}))).toBe(false)
    expect(t.follower.aboutUs(put(STRANGER, NSID.membership, { members: [ALICE] }))).toBe(true)
    expect(t.follower.aboutUs(put(STRANGER, NSID.membership, { members: ['did:plc:x'] }))).toBe(
      false,
    )
  })
})
