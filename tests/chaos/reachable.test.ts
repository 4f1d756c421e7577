// Liveness by challenge on the real stack (issue 9's write budget with its 45 s deadline):
// meshlets are plain `meshlet run` processes at the default timings (which serve the meshlet API
// unless told not to), each publishing its endpoint (loopback, on this local network) and
// declaring liveness 'challenge', so a host with a replica writes presence
// every 5 min and its peers ping it every 2 s instead. A killed host is challenged and lost; an
// alive one answers and keeps its replica. Each scenario prints one `chaos <scenario>: …` line and
// asserts only the protocol's own deadlines.
import { setTimeout as sleep } from 'node:timers/promises'
import { afterAll, beforeAll, describe, expect, it, onTestFailed } from 'vitest'
import { NSID, type PresenceRecord } from '../../core/lexicon/index.js'
import { challengeRkey, DEFAULT_CONFIG } from '../../core/scheduling/index.js'
import { RepoReader } from '../../core/repo/reader.js'
import { eventually, localIdentity, startNetwork, type Network } from '../_util.js'
import { Commune, Sampler, report, seconds } from './_commune.js'

const HOST_LOSS_S = 45
const { challengeAnswerMs, challengeHeartbeatMs } = DEFAULT_CONFIG

let net: Network
let c: Commune
let reader: RepoReader

beforeAll(async () => {
  net = await startNetwork()
  reader = new RepoReader(localIdentity(net))
  // No flag: serving the API, and so liveness by challenge, is the default.
  c = await Commune.create(net, 'reach', 2)
  c.startAll()
  await c.settled()
}, 480_000)

afterAll(async () => {
  await c?.[Symbol.asyncDispose]()
  await net?.close()
})

async function presenceOf(did: string): Promise<PresenceRecord | undefined> {
  const rec = await reader.get(did, NSID.presence, 'self')
  return rec?.value as PresenceRecord | undefined
}

describe('a reachable host (liveness by challenge)', () => {
  let uri: string
  let host: number

  it('declares challenge liveness and, challenged while alive, answers and keeps its replica', async () => {
    onTestFailed(() => console.log(c.tails()))
    uri = await c.publish(0, { replicas: 1, cpuMillis: 100 })
    const first = await c.placedOnce(uri)
    host = c.indexOf(first.meshlet)
    const hostDid = first.meshlet
    let last: PresenceRecord | undefined
    const declared = await eventually(
      'the host’s presence asking for challenges',
      async () => {
        const p = (last = await presenceOf(hostDid))
        return p?.liveness === 'challenge' && p.replicas.length === 1 && p
      },
      60_000,
    ).catch((err: unknown) => {
      throw new Error(`${(err as Error).message}; last presence: ${JSON.stringify(last)}`)
    })
    expect(declared.intervalMs).toBe(challengeHeartbeatMs)

    // The peer challenges it by hand, as its prober would on silence (a challenge within
    // heartbeatMs of the host's presence is void: wait that out first).
    await sleep(
      Math.max(0, Date.parse(declared.updatedAt) + DEFAULT_CONFIG.heartbeatMs - Date.now()),
    )
    const peer = c.members[1 - host]!
    const createdAt = new Date()
    const challengedAt = performance.now()
    await peer.meshlet.session.put(NSID.challenge, challengeRkey(hostDid), {
      subject: hostDid,
      createdAt: createdAt.toISOString(),
    })
    const answered = await eventually(
      'a presence dated after the challenge',
      async () => {
        const p = await presenceOf(hostDid)
        return p && Date.parse(p.updatedAt) > createdAt.getTime() && p
      },
      challengeAnswerMs,
    )
    const answerS = seconds(challengedAt)
    // The answer lists the replica, and nothing moves for well past the challenge's deadline.
    expect(answered.replicas).toHaveLength(1)
    const watch = new Sampler(() => c.running(uri), 500)
    await sleep(challengeAnswerMs + 10_000)
    const placed = watch.stop().map((r) => r.map((g) => g.meshlet).join(','))
    // Its author takes the spent challenge back.
    const withdrawn = await eventually(
      'the answered challenge deleted by its author',
      async () =>
        (await reader.get(peer.meshlet.did, NSID.challenge, challengeRkey(hostDid))) === undefined,
      30_000,
    )
    report(
      'challenged alive host',
      `answered ${answerS.toFixed(1)} s after the challenge (deadline ${challengeAnswerMs / 1000} s); ` +
        `${placed.length} samples over ${(challengeAnswerMs + 10_000) / 1000} s, replica on the host ` +
        `in all: ${placed.every((p) => p === hostDid)}; challenge withdrawn: ${withdrawn}`,
    )
    expect(new Set(placed)).toEqual(new Set([hostDid]))
  }, 300_000)

  it('kill -9: its peer finds it silent, challenges it, and runs the replica within 45 s', async () => {
    onTestFailed(() => console.log(c.tails()))
    const hostDid = c.members[host]!.meshlet.did
    const before = await presenceOf(hostDid)
    const killedAt = performance.now()
    const sincePresence = Date.now() - Date.parse(before!.updatedAt)
    await c.daemons[host]!.kill('SIGKILL')
    const movedAt = await eventually(
      'the replica running elsewhere',
      async () => (await c.running(uri)).some((g) => g.meshlet !== hostDid) && performance.now(),
      120_000,
    )
    const replaced = seconds(killedAt, movedAt)
    const peer = c.daemons[1 - host]!
    const challenge = peer.events('liveness.challenge').at(-1)

    // The host returns on the same data directory, its old container still running: exactly one
    // replica remains.
    c.start(host)
    await c.settled()
    await eventually(
      'exactly one replica',
      async () => (await c.running(uri)).length === 1,
      120_000,
    )
    const watch = new Sampler(() => c.running(uri), 500)
    await sleep(DEFAULT_CONFIG.lostAfterMs)
    const counts = watch.stop().map((r) => r.length)
    report(
      'kill -9 of a reachable host',
      `replica running elsewhere ${replaced.toFixed(1)} s after the kill (deadline ${HOST_LOSS_S} s; ` +
        `killed ${(sincePresence / 1000).toFixed(1)} s after its last presence, challenged after ` +
        `${(Number(challenge?.silentMs ?? NaN) / 1000).toFixed(1)} s of silence); host restarted: ` +
        `${Math.min(...counts)}–${Math.max(...counts)} running over ${DEFAULT_CONFIG.lostAfterMs / 1000} s`,
    )
    expect(challenge?.subject).toBe(hostDid)
    expect(replaced).toBeLessThanOrEqual(HOST_LOSS_S)
    expect(new Set(counts)).toEqual(new Set([1]))
  }, 300_000)
})

describe('a host whose endpoint its peer cannot reach', () => {
  let u: Commune
  beforeAll(async () => {
    // Daemon 0 publishes an address nothing listens on (a LAN address seen from outside, say).
    u = await Commune.create(net, 'unreach', 2, {
      args: (i) =>
        i === 0 ? ['--xrpc-port', '0', '--xrpc-url', 'http://127.0.0.1:9'] : ['--xrpc-port', '0'],
    })
    u.startAll()
    await u.settled()
  }, 480_000)
  afterAll(async () => {
    await u?.[Symbol.asyncDispose]()
  })

  it('is challenged ever less often, answers, falls back to interval liveness, and keeps its replica', async () => {
    onTestFailed(() => console.log(u.tails()))
    const uri = await u.publish(1, { replicas: 2, cpuMillis: 100 })
    const hostDid = u.members[0]!.meshlet.did
    await eventually(
      'a replica on each meshlet',
      async () => new Set((await u.running(uri)).map((g) => g.meshlet)).size === 2,
      90_000,
    )
    const WATCH_MS = 120_000
    const watch = new Sampler(() => u.running(uri), 1000)
    await sleep(WATCH_MS)
    const onHost = watch.stop().map((r) => r.filter((g) => g.meshlet === hostDid).length)
    const peer = u.daemons[1]!
    const challenges = peer.events('liveness.challenge').filter((e) => e.subject === hostDid)
    const strikes = peer.events('liveness.unreachable').filter((e) => e.host === hostDid)
    const answers = u.daemons[0]!.events('liveness.answered')
    const fallback = u.daemons[0]!.events('liveness.fallback')
    const declared = await presenceOf(hostDid)
    const at = challenges.map((e) => Date.parse(String(e.t)))
    const gaps = at.slice(1).map((t, i) => ((t - at[i]!) / 1000).toFixed(0))
    report(
      'unreachable endpoint',
      `${challenges.length} challenges in ${WATCH_MS / 1000} s (gaps ${gaps.join(', ')} s), ` +
        `${answers.length} answers, back-off ${strikes.length} times; the host fell back to ` +
        `interval liveness: ${fallback.some((e) => e.preferInterval === true)} (its presence ` +
        `now says ${declared?.liveness ?? 'interval'}); the host's replica ran in ` +
        `${onHost.filter((n) => n === 1).length} of ${onHost.length} samples`,
    )
    expect(challenges.length).toBeGreaterThan(0)
    expect(strikes.length).toBeGreaterThan(0)
    // Without the back-off a challenge would go out every heartbeatMs (20 s): 6 in 120 s.
    expect(challenges.length).toBeLessThanOrEqual(4)
    // Two answers in 10 min: some peer cannot reach it, so it asks for the interval rule, under
    // which that peer needs no pings (and notices a loss within 45 s again).
    expect(fallback.map((e) => e.preferInterval)).toEqual([true])
    expect(declared?.liveness).toBeUndefined()
    expect(declared?.intervalMs).toBe(DEFAULT_CONFIG.heartbeatMs)
    expect(new Set(onHost)).toEqual(new Set([1]))
  }, 400_000)
})
