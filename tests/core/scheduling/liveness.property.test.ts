// The challenge rule's safety properties over random times: a challenge can only shorten the life
// of a host that asked for challenges, never beyond its deadline, and only while unanswered.
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import {
  DEFAULT_CONFIG,
  challengeRkey,
  roundHistory,
  withChallenges,
  type ChallengeView,
  type PresenceIndex,
  type PresenceView,
} from '../../../core/scheduling/index.js'
import { ALICE_M, BOB_M, SEC, T0, bid, cluster, iso, status, workload } from './_util.js'

const C = DEFAULT_CONFIG
const DECIDE0 = T0 + 7 * SEC
const w = workload()
const won = [bid(BOB_M, w)]
const running = status(BOB_M, w, { updatedAt: DECIDE0 + SEC })

function presence(updatedAt: number, liveness: 'challenge' | 'interval'): PresenceIndex {
  const view = {
    uri: `at://${BOB_M}/commune.scheduler.presence/self`,
    cid: 'bafypresence',
    meshlet: BOB_M,
    record: {
      $type: 'commune.scheduler.presence',
      state: 'lending',
      replicas: [{ workload: { uri: w.uri, cid: w.cid }, round: 0 }],
      seq: 1,
      liveness,
      updatedAt: iso(updatedAt),
    },
  } as unknown as PresenceView
  return new Map([[BOB_M, view]])
}

function challenge(createdAt: number): ChallengeView {
  return {
    uri: `at://${ALICE_M}/commune.scheduler.challenge/${challengeRkey(BOB_M)}`,
    cid: 'bafychallenge',
    meshlet: ALICE_M,
    record: {
      $type: 'commune.scheduler.challenge',
      subject: BOB_M as `did:${string}:${string}`,
      createdAt: iso(createdAt) as never,
    },
  }
}

function fate(now: number, index: PresenceIndex) {
  return roundHistory(w, [running], { bids: won, cluster: cluster() }, now, C, index).placements[0]!
    .fate
}

const arb = fc.record({
  seen: fc.integer({ min: 2 * SEC, max: 600 * SEC }).map((d) => DECIDE0 + d),
  challengeAfter: fc.integer({ min: -60 * SEC, max: 600 * SEC }),
  nowAfter: fc.integer({ min: 0, max: 900 * SEC }),
  liveness: fc.constantFrom('challenge' as const, 'interval' as const),
})

describe('the challenge rule (property)', () => {
  it('only shortens a challenge host’s life, to the deadline, and only when it counts', () => {
    fc.assert(
      fc.property(arb, ({ seen, challengeAfter, nowAfter, liveness }) => {
        const c = seen + challengeAfter
        const now = seen + nowAfter
        const index = presence(seen, liveness)
        const without = fate(now, index)
        const judged = withChallenges(index, [challenge(c)], cluster(), C)
        const withIt = fate(now, judged)
        const counts = liveness === 'challenge' && c >= seen + C.heartbeatMs
        if (!counts) {
          expect(withIt).toEqual(without)
          return
        }
        const deadline = c + C.challengeAnswerMs
        const until = Math.min(seen + C.challengeLostAfterMs, deadline)
        expect(withIt).toEqual(
          until <= now ? { kind: 'lost', cause: 'heartbeat', at: until } : { kind: 'alive', until },
        )
      }),
      { numRuns: 500 },
    )
  })

  it('an answer (a presence dated after the challenge) restores the rule without it', () => {
    fc.assert(
      fc.property(arb, fc.integer({ min: 1, max: 60 * SEC }), (a, late) => {
        const c = a.seen + a.challengeAfter
        const answered = presence(Math.max(a.seen, c + late), a.liveness)
        const now = a.seen + a.nowAfter
        expect(fate(now, withChallenges(answered, [challenge(c)], cluster(), C))).toEqual(
          fate(now, answered),
        )
      }),
      { numRuns: 300 },
    )
  })
})
