// Who a meshlet probes, which challenge it answers, which of its own it takes back: pure.
import { describe, expect, it } from 'vitest'
import {
  challengeToAnswer,
  challengeWaitMs,
  FALLBACK_WINDOW_MS,
  probeTargets,
  shouldFallBack,
  spentChallenges,
  type LivenessRecords,
} from '../../../core/liveness/index.js'
import {
  DEFAULT_CONFIG,
  challengeRkey,
  withChallenges,
  type ChallengeView,
  type PresenceView,
} from '../../../core/scheduling/index.js'
import { FixedWindowLimit } from '../../../core/xrpc/rate-limit.js'
import { ALICE, ALICE_M, BOB_M, CAROL_M, SEC, T0, cluster, iso } from '../scheduling/_util.js'

const SELF = { meshlet: ALICE_M, owner: ALICE }

function presence(
  meshlet: string,
  updatedAt: number,
  opts: { liveness?: string; replicas?: number } = {},
): PresenceView {
  return {
    uri: `at://${meshlet}/commune.scheduler.presence/self`,
    cid: 'bafypresence',
    meshlet,
    record: {
      $type: 'commune.scheduler.presence',
      state: 'lending',
      replicas: Array.from({ length: opts.replicas ?? 1 }, (_, i) => ({
        workload: { uri: `at://did:plc:alice/commune.scheduler.workload/w${i}`, cid: 'bafyw' },
        round: 0,
      })),
      seq: 1,
      ...(opts.liveness !== undefined ? { liveness: opts.liveness } : {}),
      updatedAt: iso(updatedAt),
    },
  } as unknown as PresenceView
}

function challenge(author: string, subject: string, createdAt: number): ChallengeView {
  return {
    uri: `at://${author}/commune.scheduler.challenge/${challengeRkey(subject)}`,
    cid: 'bafychallenge',
    meshlet: author,
    record: {
      $type: 'commune.scheduler.challenge',
      subject: subject as `did:${string}:${string}`,
      createdAt: iso(createdAt) as never,
    },
  }
}

function records(
  views: PresenceView[],
  endpoints: Record<string, string>,
  challenges: ChallengeView[] = [],
): LivenessRecords {
  const index = new Map(views.map((v) => [v.meshlet, v]))
  return {
    presence: withChallenges(index, challenges, cluster(), DEFAULT_CONFIG),
    challenges,
    endpoints: new Map(Object.entries(endpoints)),
    cluster: cluster(),
  }
}

describe('probeTargets', () => {
  it('probes peers that ask for challenges, list replicas and publish an http(s) endpoint', () => {
    const r = records(
      [
        presence(BOB_M, T0, { liveness: 'challenge' }),
        presence(CAROL_M, T0, { liveness: 'challenge' }),
        presence('did:plc:davemesh', T0, { liveness: 'challenge' }),
      ],
      {
        [BOB_M]: 'http://127.0.0.1:4000/some/path',
        [CAROL_M]: 'ftp://127.0.0.1:21',
        'did:plc:davemesh': 'not a url',
      },
    )
    expect(probeTargets(r, SELF)).toEqual(new Map([[BOB_M, ['http://127.0.0.1:4000']]]))
  })

  it('adds a host’s alternates after its endpoint, as origins, without repeats or other schemes', () => {
    const r = {
      ...records([presence(BOB_M, T0, { liveness: 'challenge' })], {
        [BOB_M]: 'http://203.0.113.5:4000',
      }),
      alternateEndpoints: new Map([
        [
          BOB_M,
          ['http://192.168.1.20:4000/x', 'ftp://192.168.1.20', 'http://203.0.113.5:4000', 'nope'],
        ],
      ]),
    }
    expect(probeTargets(r, SELF)).toEqual(
      new Map([[BOB_M, ['http://203.0.113.5:4000', 'http://192.168.1.20:4000']]]),
    )
  })

  it('leaves out itself, interval hosts, hosts without replicas or endpoint, and strangers', () => {
    const endpoint = 'http://127.0.0.1:4000'
    const r = records(
      [
        presence(ALICE_M, T0, { liveness: 'challenge' }),
        presence(BOB_M, T0, { liveness: 'interval' }),
        presence(CAROL_M, T0, { liveness: 'challenge', replicas: 0 }),
        presence('did:plc:davemesh', T0, { liveness: 'challenge' }),
        presence('did:plc:stranger', T0, { liveness: 'challenge' }),
      ],
      { [ALICE_M]: endpoint, [BOB_M]: endpoint, [CAROL_M]: endpoint, 'did:plc:stranger': endpoint },
    )
    expect(probeTargets(r, SELF).size).toBe(0)
  })
})

describe('answers and withdrawals', () => {
  const seen = T0
  const c = seen + DEFAULT_CONFIG.heartbeatMs + SEC

  it('answers the earliest challenge of itself that counts, and none that does not', () => {
    const own = presence(ALICE_M, seen, { liveness: 'challenge' })
    const r = records([own], {}, [
      challenge(BOB_M, ALICE_M, c + SEC),
      challenge(CAROL_M, ALICE_M, c),
    ])
    expect(challengeToAnswer(r, ALICE_M, DEFAULT_CONFIG)).toBe(c)
    const voidOnly = records([own], {}, [challenge(BOB_M, ALICE_M, seen + SEC)])
    expect(challengeToAnswer(voidOnly, ALICE_M, DEFAULT_CONFIG)).toBeUndefined()
    const interval = records([presence(ALICE_M, seen)], {}, [challenge(BOB_M, ALICE_M, c)])
    expect(challengeToAnswer(interval, ALICE_M, DEFAULT_CONFIG)).toBeUndefined()
  })

  it('takes back its own answered or void challenges, keeps one that counts, and no one else’s', () => {
    const mine = [
      challenge(ALICE_M, BOB_M, c - DEFAULT_CONFIG.heartbeatMs), // answered: Bob wrote after it
      challenge(ALICE_M, CAROL_M, c), // counts: unanswered, kept
    ]
    const others = [challenge(BOB_M, CAROL_M, seen + SEC)] // void, but Bob's
    const r = records(
      [
        presence(BOB_M, c - SEC, { liveness: 'challenge' }),
        presence(CAROL_M, seen, { liveness: 'challenge' }),
      ],
      {},
      [...mine, ...others],
    )
    expect(spentChallenges(r, ALICE_M, DEFAULT_CONFIG).map((x) => x.record.subject)).toEqual([
      BOB_M,
    ])
  })
})

describe('the ping rate limit', () => {
  it('lets each address make `limit` calls a window, then refuses until the window turns', () => {
    let now = T0
    const limit = new FixedWindowLimit({ limit: 2, windowMs: 1000, maxKeys: 2, now: () => now })
    expect([limit.allow('a'), limit.allow('a'), limit.allow('a')]).toEqual([true, true, false])
    expect(limit.allow('b')).toBe(true)
    // A third address in the same window is refused: the map is bounded.
    expect(limit.allow('c')).toBe(false)
    now += 1000
    expect([limit.allow('a'), limit.allow('c')]).toEqual([true, true])
  })
})

describe('challengeWaitMs', () => {
  it('waits heartbeatMs, doubled for each challenge answered while pings failed, up to the long interval', () => {
    const { heartbeatMs, challengeHeartbeatMs } = DEFAULT_CONFIG
    expect(challengeWaitMs(0, DEFAULT_CONFIG)).toBe(heartbeatMs)
    expect(challengeWaitMs(1, DEFAULT_CONFIG)).toBe(2 * heartbeatMs)
    expect(challengeWaitMs(3, DEFAULT_CONFIG)).toBe(8 * heartbeatMs)
    expect(challengeWaitMs(10, DEFAULT_CONFIG)).toBe(challengeHeartbeatMs)
    expect(challengeWaitMs(1e6, DEFAULT_CONFIG)).toBe(challengeHeartbeatMs)
  })
})

describe('shouldFallBack', () => {
  it('asks for the interval rule after two answers within the window, not after one', () => {
    const now = T0 + FALLBACK_WINDOW_MS
    expect(shouldFallBack([], now)).toBe(false)
    expect(shouldFallBack([now - 1000], now)).toBe(false)
    expect(shouldFallBack([now - 60_000, now - 1000], now)).toBe(true)
    // An old false alarm and a new one are not a pattern.
    expect(shouldFallBack([now - FALLBACK_WINDOW_MS, now - 1000], now)).toBe(false)
  })
})
