// Who to probe, what to answer, which of our challenges to take back: pure functions of the
// records, beside the rule they serve (core/scheduling/liveness.ts).
import {
  judgeChallenge,
  livenessOf,
  type ChallengeView,
  type ClusterView,
  type PresenceIndex,
  type SchedulingConfig,
} from '../scheduling/index.js'

export interface LivenessRecords {
  /** The presence index with challenges applied (`withChallenges`). */
  presence: PresenceIndex
  challenges: readonly ChallengeView[]
  /** Where each meshlet serves farm.meshlet.* (its meshletOwner record). */
  endpoints: ReadonlyMap<string, string>
  /** Other origins each answers at, tried when its endpoint does not answer. */
  alternateEndpoints?: ReadonlyMap<string, readonly string[]>
  cluster: ClusterView
}

/**
 * The hosts this meshlet probes, with their origins (the endpoint first, then its alternates,
 * http(s) only, without repeats): every other verified meshlet of a mutual member whose
 * presence asks for challenges and lists replicas (any of them may fall to us to take over), and
 * that publishes an http(s) endpoint.
 */
export function probeTargets(
  records: LivenessRecords,
  self: { meshlet: string; owner: string },
): Map<string, string[]> {
  const out = new Map<string, string[]>()
  for (const [host, view] of records.presence) {
    if (host === self.meshlet || livenessOf(view) !== 'challenge') continue
    if (view.record.replicas.length === 0) continue
    const owner = records.cluster.ownerOf(host)
    if (owner === undefined || !records.cluster.isMutual(self.owner, owner)) continue
    const endpoint = httpOrigin(records.endpoints.get(host))
    if (endpoint === undefined) continue
    const alternates = (records.alternateEndpoints?.get(host) ?? []).map(httpOrigin)
    const origins = [endpoint, ...alternates].filter((o): o is string => o !== undefined)
    out.set(host, [...new Set(origins)])
  }
  return out
}

function httpOrigin(raw: string | undefined): string | undefined {
  if (raw === undefined || !URL.canParse(raw)) return undefined
  const url = new URL(raw)
  return url.protocol === 'http:' || url.protocol === 'https:' ? url.origin : undefined
}

/** The createdAt of the challenge this meshlet must answer now (the earliest counting one),
 *  or undefined when none counts. */
export function challengeToAnswer(
  records: LivenessRecords,
  self: string,
  config: SchedulingConfig,
): number | undefined {
  const answerBy = records.presence.get(self)?.answerBy
  return answerBy === undefined ? undefined : answerBy - config.challengeAnswerMs
}

/**
 * Our challenges that decide nothing any more: answered, void, of a host that no longer asks for
 * challenges, or refused. One that counts is kept, answered or not: taking back an unanswered
 * one would move the loss it decided (its rounds are replayed from the records), so it stays
 * until its host writes presence again.
 */
export function spentChallenges(
  records: LivenessRecords,
  self: string,
  config: SchedulingConfig,
): ChallengeView[] {
  const out: ChallengeView[] = []
  for (const c of records.challenges) {
    if (c.meshlet !== self) continue
    if (judgeChallenge(c, records.presence, records.cluster, config) !== 'counts') out.push(c)
  }
  return out
}

/** Answers within this window that make a meshlet doubt its endpoint is reachable by all. */
export const FALLBACK_ANSWERS = 2
export const FALLBACK_WINDOW_MS = 10 * 60_000
/** How long it then asks for the interval rule before trying challenges again. */
export const FALLBACK_MS = 60 * 60_000

/**
 * Whether a meshlet that answered challenges at `answeredAt` should ask for the interval rule
 * for a while: two answers within 10 min mean some peer cannot reach its endpoint (one may be a
 * false alarm). Under the interval rule that peer needs no pings: its loss is noticed within
 * 45 s again, at the interval rule's cost, which is also what a member who challenges it on
 * purpose can make it spend.
 */
export function shouldFallBack(answeredAt: readonly number[], now: number): boolean {
  return answeredAt.filter((t) => now - t < FALLBACK_WINDOW_MS).length >= FALLBACK_ANSWERS
}
