// Which loss rule applies to a host, and what challenges of it decide: pure functions of the
// records (presence, challenge, linkage) and the shared config, so every peer judges alike.
//
// A host's presence declares its liveness. 'interval' (or none): lost once its presence is older
// than lostAfter, as always. 'challenge': it serves farm.meshlet.ping, peers probe it off the
// repo (core/liveness) and rewrite nothing while it answers; its presence is rewritten rarely
// (challengeHeartbeatMs) and is stale after challengeLostAfterMs. A peer that finds it silent
// writes a challenge naming it; the host answers with a presence write. The host is lost at
// `challenge.createdAt + challengeAnswerMs` unless its presence is dated after the challenge.
import type {
  ChallengeView,
  ClusterView,
  PresenceIndex,
  PresenceView,
  SchedulingConfig,
  WorkloadView,
} from './types.js'
import { timeOf } from './util.js'

export type Liveness = 'interval' | 'challenge'

/** The rule a host's presence asks peers to apply; interval for anything we do not know. */
export function livenessOf(view: PresenceView | undefined): Liveness {
  return view?.record.liveness === 'challenge' ? 'challenge' : 'interval'
}

/** Why a challenge does or does not count against its subject. */
export const CHALLENGE_VERDICTS = [
  /** It decides: the subject is lost at createdAt + challengeAnswerMs unless it answers. */
  'counts',
  /** The subject's presence is dated after it. */
  'answered',
  /** Dated less than heartbeatMs after the subject's presence: a member cannot make a host
   *  answer more than once per interval. */
  'void',
  /** The subject's presence does not ask for challenges (or there is none): its presence age
   *  alone decides, as it always did. */
  'interval-liveness',
  /** Its author or subject is not a verified meshlet of a mutual member. */
  'stranger',
  /** Its author is its subject. */
  'self',
  'bad-date',
] as const

export type ChallengeVerdict = (typeof CHALLENGE_VERDICTS)[number]

/** Whether a challenge counts against its subject's latest presence. */
export function judgeChallenge(
  challenge: ChallengeView,
  presence: PresenceIndex,
  cluster: ClusterView,
  config: SchedulingConfig,
): ChallengeVerdict {
  const subject = challenge.record.subject
  if (challenge.meshlet === subject) return 'self'
  const author = cluster.ownerOf(challenge.meshlet)
  const host = cluster.ownerOf(subject)
  if (author === undefined || host === undefined || !cluster.isMutual(author, host)) {
    return 'stranger'
  }
  const view = presence.get(subject)
  if (view === undefined || livenessOf(view) !== 'challenge') return 'interval-liveness'
  const c = timeOf(challenge.record.createdAt)
  const p = timeOf(view.record.updatedAt)
  if (Number.isNaN(c) || Number.isNaN(p)) return 'bad-date'
  if (p > c) return 'answered'
  if (c < p + config.heartbeatMs) return 'void'
  return 'counts'
}

/**
 * The presence index with `answerBy` set on each host that a counting challenge names: the
 * earliest such challenge's createdAt + challengeAnswerMs. Views are copied, never changed; the
 * index itself is returned when no challenge counts.
 */
export function withChallenges(
  presence: PresenceIndex,
  challenges: Iterable<ChallengeView>,
  cluster: ClusterView,
  config: SchedulingConfig,
): PresenceIndex {
  const deadlines = new Map<string, number>()
  for (const ch of challenges) {
    if (judgeChallenge(ch, presence, cluster, config) !== 'counts') continue
    const by = timeOf(ch.record.createdAt) + config.challengeAnswerMs
    const seen = deadlines.get(ch.record.subject)
    if (seen === undefined || by < seen) deadlines.set(ch.record.subject, by)
  }
  if (deadlines.size === 0) return presence
  const out = new Map(presence)
  for (const [host, answerBy] of deadlines) {
    const view = presence.get(host)
    if (view !== undefined) out.set(host, { ...view, answerBy })
  }
  return out
}

/** What a host's presence says of one of its replicas: when it last listed it (NaN: it does
 *  not), how long that stays fresh under the host's rule, and the deadline of a challenge. */
export interface Sighting {
  at: number
  lostAfterMs: number
  answerBy?: number
}

const listedCache = new WeakMap<PresenceView, Set<string>>()

function lists(view: PresenceView, workload: WorkloadView, round: number): boolean {
  let listed = listedCache.get(view)
  if (listed === undefined) {
    listed = new Set(
      view.record.replicas.map((r) => `${r.workload.uri} ${r.workload.cid} ${r.round}`),
    )
    listedCache.set(view, listed)
  }
  return listed.has(`${workload.uri} ${workload.cid} ${round}`)
}

/** The sighting of the replica of (workload version, round) on `meshlet`, by its presence. */
export function sightingOf(
  presence: PresenceIndex | undefined,
  meshlet: string,
  workload: WorkloadView,
  round: number,
  config: SchedulingConfig,
): Sighting {
  const view = presence?.get(meshlet)
  if (view === undefined || !lists(view, workload, round)) {
    return { at: Number.NaN, lostAfterMs: config.lostAfterMs }
  }
  const challenge = livenessOf(view) === 'challenge'
  return {
    at: timeOf(view.record.updatedAt),
    lostAfterMs: challenge ? config.challengeLostAfterMs : config.lostAfterMs,
    ...(challenge && view.answerBy !== undefined ? { answerBy: view.answerBy } : {}),
  }
}

/** The record key of a challenge: its subject's DID, with what a record key cannot hold
 *  replaced, so an author keeps at most one challenge per subject. */
export function challengeRkey(subject: string): string {
  return subject.replace(/[^A-Za-z0-9._:~-]/g, '_').slice(0, 512)
}

/**
 * Whether a peer that found `host` silent since `silentSince` should challenge it now: the host
 * asks for challenges, has been silent `silenceMs`, and a challenge now would not be void; and no
 * challenge already counts against it (one is enough). Pure; the prober acts on it.
 */
export function challengeDue(
  host: PresenceView | undefined,
  silentSince: number,
  now: number,
  silenceMs: number,
  config: SchedulingConfig,
): boolean {
  if (host === undefined || livenessOf(host) !== 'challenge') return false
  if (host.answerBy !== undefined) return false
  if (now - silentSince < silenceMs) return false
  const p = timeOf(host.record.updatedAt)
  return !Number.isNaN(p) && now >= p + config.heartbeatMs
}
