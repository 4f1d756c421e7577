import { describe, expect, it } from 'vitest'
import {
  DEFAULT_CONFIG,
  challengeDue,
  challengeRkey,
  judgeChallenge,
  livenessOf,
  roundHistory,
  withChallenges,
  type ChallengeView,
  type PresenceIndex,
  type PresenceView,
} from '../../../core/scheduling/index.js'
import { ALICE_M, BOB_M, CAROL_M, SEC, T0, bid, cluster, iso, status, workload } from './_util.js'

// The defaults: the rule's own numbers are what docs/write-budget.md argues for.
const CONFIG = DEFAULT_CONFIG
const ANSWER = CONFIG.challengeAnswerMs
const GAP = CONFIG.heartbeatMs
const LONG = CONFIG.challengeLostAfterMs
const DECIDE0 = T0 + 7 * SEC

const w = workload()
const won = [bid(BOB_M, w)]
const running = status(BOB_M, w, { updatedAt: DECIDE0 + SEC })

function presence(
  updatedAt: number,
  /** null: the record says nothing. */
  liveness: 'challenge' | 'interval' | null = 'challenge',
  meshlet = BOB_M,
): PresenceIndex {
  const view = {
    uri: `at://${meshlet}/commune.scheduler.presence/self`,
    cid: `bafypresence${updatedAt}`,
    meshlet,
    record: {
      $type: 'commune.scheduler.presence' as const,
      state: 'lending',
      replicas: [{ workload: { uri: w.uri, cid: w.cid }, round: 0 }],
      seq: 1,
      ...(liveness ? { liveness } : {}),
      updatedAt: iso(updatedAt),
    },
  } as unknown as PresenceView
  return new Map([[meshlet, view]])
}

function challenge(createdAt: number | string, author = ALICE_M, subject = BOB_M): ChallengeView {
  return {
    uri: `at://${author}/commune.scheduler.challenge/${challengeRkey(subject)}`,
    cid: `bafychallenge${String(createdAt)}`,
    meshlet: author,
    record: {
      $type: 'commune.scheduler.challenge',
      subject: subject as `did:${string}:${string}`,
      createdAt: (typeof createdAt === 'number' ? iso(createdAt) : createdAt) as never,
    },
  }
}

function fateAt(now: number, index: PresenceIndex, challenges: ChallengeView[]) {
  const judged = withChallenges(index, challenges, cluster(), CONFIG)
  const h = roundHistory(w, [running], { bids: won, cluster: cluster() }, now, CONFIG, judged)
  return { fate: h.placements[0]!.fate, round: h.current.round, opensAt: h.current.opensAt }
}

describe('which rule a host asks for', () => {
  it('is the presence’s liveness; absent or unknown values mean interval', () => {
    expect(livenessOf(presence(T0, 'challenge').get(BOB_M))).toBe('challenge')
    expect(livenessOf(presence(T0, 'interval').get(BOB_M))).toBe('interval')
    expect(livenessOf(presence(T0, null).get(BOB_M))).toBe('interval')
    const odd = presence(T0).get(BOB_M)!
    expect(livenessOf({ ...odd, record: { ...odd.record, liveness: 'probe-me' } })).toBe('interval')
    expect(livenessOf(undefined)).toBe('interval')
  })

  it('gives a challenge host the long lostAfter while nobody challenges it', () => {
    const seen = DECIDE0 + 2 * SEC
    // Long past the interval rule's 32 s, still alive; lost at the long rule's end.
    expect(fateAt(seen + 5 * 60 * SEC, presence(seen), []).fate).toEqual({
      kind: 'alive',
      until: seen + LONG,
    })
    expect(fateAt(seen + LONG, presence(seen), []).fate).toEqual({
      kind: 'lost',
      cause: 'heartbeat',
      at: seen + LONG,
    })
  })

  it('keeps the interval rule, and ignores challenges, for a host that did not ask for them', () => {
    const seen = DECIDE0 + 2 * SEC
    const c = challenge(seen + GAP + SEC)
    for (const liveness of ['interval', null] as const) {
      const index = presence(seen, liveness)
      expect(judgeChallenge(c, index, cluster(), CONFIG)).toBe('interval-liveness')
      expect(fateAt(seen + 10 * SEC, index, [c]).fate).toEqual({
        kind: 'alive',
        until: seen + CONFIG.lostAfterMs,
      })
    }
  })
})

describe('a challenge', () => {
  const seen = DECIDE0 + 2 * SEC
  const c = seen + GAP + 5 * SEC

  it('unanswered: the host is lost at createdAt + the answer time, and a new round opens then', () => {
    expect(judgeChallenge(challenge(c), presence(seen), cluster(), CONFIG)).toBe('counts')
    expect(fateAt(c + ANSWER - 1, presence(seen), [challenge(c)]).fate).toEqual({
      kind: 'alive',
      until: c + ANSWER,
    })
    const after = fateAt(c + ANSWER + SEC, presence(seen), [challenge(c)])
    expect(after.fate).toEqual({ kind: 'lost', cause: 'heartbeat', at: c + ANSWER })
    expect(after).toMatchObject({ round: 1, opensAt: c + ANSWER })
  })

  it('answered by a presence dated after it: the host stays alive under the long rule', () => {
    const answer = presence(c + 2 * SEC)
    expect(judgeChallenge(challenge(c), answer, cluster(), CONFIG)).toBe('answered')
    expect(fateAt(c + ANSWER + 10 * SEC, answer, [challenge(c)]).fate).toEqual({
      kind: 'alive',
      until: c + 2 * SEC + LONG,
    })
  })

  it('dated less than heartbeatMs after the host’s presence is void (one answer per interval)', () => {
    const early = challenge(seen + GAP - 1)
    expect(judgeChallenge(early, presence(seen), cluster(), CONFIG)).toBe('void')
    expect(fateAt(seen + GAP + ANSWER + SEC, presence(seen), [early]).fate).toEqual({
      kind: 'alive',
      until: seen + LONG,
    })
    // At the gap exactly it counts.
    expect(judgeChallenge(challenge(seen + GAP), presence(seen), cluster(), CONFIG)).toBe('counts')
  })

  it('of several, the earliest that counts decides', () => {
    const index = presence(seen)
    const judged = withChallenges(
      index,
      [challenge(c + 3 * SEC, CAROL_M), challenge(c, ALICE_M), challenge(seen + SEC, CAROL_M)],
      cluster(),
      CONFIG,
    )
    expect(judged.get(BOB_M)!.answerBy).toBe(c + ANSWER)
    // The index handed in is not changed.
    expect(index.get(BOB_M)!.answerBy).toBeUndefined()
  })

  it('from a stranger, or from the host itself, counts for nothing', () => {
    const stranger = challenge(c, 'did:plc:stranger')
    expect(judgeChallenge(stranger, presence(seen), cluster(), CONFIG)).toBe('stranger')
    const notMutual = cluster(undefined, [['did:plc:alice', 'did:plc:bob']])
    expect(judgeChallenge(challenge(c), presence(seen), notMutual, CONFIG)).toBe('stranger')
    expect(judgeChallenge(challenge(c, BOB_M), presence(seen), cluster(), CONFIG)).toBe('self')
    expect(withChallenges(presence(seen), [stranger], cluster(), CONFIG).get(BOB_M)!.answerBy).toBe(
      undefined,
    )
  })

  it('with an unparsable date counts for nothing', () => {
    expect(judgeChallenge(challenge('yesterday'), presence(seen), cluster(), CONFIG)).toBe(
      'bad-date',
    )
  })

  it('for a replica the presence does not list changes nothing (status rule applies)', () => {
    const other = presence(seen)
    const view = other.get(BOB_M)!
    const unlisted = new Map([[BOB_M, { ...view, record: { ...view.record, replicas: [] } }]])
    expect(fateAt(c + ANSWER + SEC, unlisted, [challenge(c)]).fate).toEqual({
      kind: 'lost',
      cause: 'heartbeat',
      at: DECIDE0 + SEC + CONFIG.lostAfterMs,
    })
  })
})

describe('when a prober challenges', () => {
  const seen = T0
  const view = presence(seen).get(BOB_M)!
  const SILENCE = 10 * SEC

  it('after the silence, once a challenge would not be void, and not while one counts', () => {
    expect(challengeDue(view, seen + 15 * SEC, seen + 25 * SEC - 1, SILENCE, CONFIG)).toBe(false)
    expect(challengeDue(view, seen + 15 * SEC, seen + 25 * SEC, SILENCE, CONFIG)).toBe(true)
    // Silent from the start: it waits for the void gap.
    expect(challengeDue(view, seen, seen + GAP - 1, SILENCE, CONFIG)).toBe(false)
    expect(challengeDue(view, seen, seen + GAP, SILENCE, CONFIG)).toBe(true)
    expect(challengeDue({ ...view, answerBy: seen + GAP }, seen, seen + GAP, SILENCE, CONFIG)).toBe(
      false,
    )
  })

  it('never for a host that did not ask for challenges, or without a presence', () => {
    const interval = presence(seen, 'interval').get(BOB_M)!
    expect(challengeDue(interval, seen, seen + 60 * SEC, SILENCE, CONFIG)).toBe(false)
    expect(challengeDue(undefined, seen, seen + 60 * SEC, SILENCE, CONFIG)).toBe(false)
  })

  it('keys a challenge by its subject, within what a record key may hold', () => {
    expect(challengeRkey('did:plc:abc')).toBe('did:plc:abc')
    expect(challengeRkey('did:web:localhost%3A2583')).toBe('did:web:localhost_3A2583')
    expect(challengeRkey('did:web:' + 'a'.repeat(600))).toHaveLength(512)
  })
})
