// Chaos on the real stack (issue 9, item 8): meshlets are `meshlet run` processes at the default
// timings, on one real PDS/PLC, running guests in the real Docker engine. Each scenario is a
// commune of its own, its daemons started before the scenarios of its describe begin. The storm,
// which needs the CPU for twenty container starts, runs alone; the faults that mostly wait run
// side by side; the flood of bad records, which loads the PDS, runs last. Each prints what it
// measured as one `chaos <scenario>: …` line and asserts only the protocol's own deadlines.
import { setTimeout as sleep } from 'node:timers/promises'
import { afterAll, beforeAll, describe, expect, it, onTestFailed } from 'vitest'
import { NSID } from '../../core/lexicon/index.js'
import { DEFAULT_CONFIG } from '../../core/scheduling/types.js'
import { StreamCutProxy } from '../support/stream-cut-proxy.js'
import { statusesOf } from '../e2e/_util.js'
import {
  createMember,
  eventually,
  linkOwnerSide,
  startNetwork,
  type Member,
  type Network,
} from '../_util.js'
import { badRecords, bytesOf, publishAll } from './_malformed.js'
import { Commune, Sampler, report, seconds } from './_commune.js'

// The issue's deadlines: a killed host's replica elsewhere, a workload published while the
// stream was cut placed after it returns, a storm settled.
const HOST_LOSS_S = 45
const AFTER_RESTORE_S = 15
const CUT_MS = 30_000
const STORM_S = 30
// The storm's meshlets lend 2000 millicores each; its replicas take 250.
const STORM_OFFER = 2000
const CPU = 250
// How far a daemon's resident memory may rise while the bad records arrive: they are parsed and
// dropped, so it grows by what parsing costs until the heap collects (the figures are printed).
const RSS_GROWTH_MIB = 64

let net: Network

beforeAll(async () => {
  net = await startNetwork()
}, 120_000)

afterAll(async () => {
  await net?.close()
})

/** Communes for the scenarios of one describe: created and their daemons started together
 *  before its first scenario (a start costs a core-second or more; on a loaded machine, starts
 *  racing a scenario's clock would be measured as its figures), stopped after its last. */
function communes(setup: () => Promise<Commune[]>): void {
  const made: Commune[] = []
  beforeAll(async () => {
    made.push(...(await setup()))
    await Promise.all(made.map((c) => c.settled()))
  }, 480_000)
  afterAll(async () => {
    for (const c of made) await c[Symbol.asyncDispose]()
  })
}

/** Waits (up to `ms`) until `check` holds and returns when, so a figure is printed even when
 *  it is late; the deadline is asserted after. */
async function until(what: string, check: () => Promise<boolean>, ms: number): Promise<number> {
  await eventually(what, check, ms)
  return performance.now()
}

describe('a storm', () => {
  let storm: Commune
  communes(async () => {
    // 8 slots of 250 millicores per meshlet: 24 for 20 replicas, as in the issue.
    storm = await Commune.create(net, 'storm', 3, {
      args: ['--cpu', String(STORM_OFFER), '--memory', '1024'],
    })
    storm.startAll()
    return [storm]
  })

  it('10 workloads × 2 replicas in 2 s onto three meshlets: settled within 30 s, no offer exceeded', async () => {
    const c = storm
    onTestFailed(() => console.log(c.tails()))
    const watch = new Sampler(() => c.guests(), 200)
    const t0 = performance.now()
    const uris = await Promise.all(
      Array.from({ length: 10 }, (_, i) => c.publish(i % 3, { replicas: 2, cpuMillis: CPU })),
    )
    const published = seconds(t0)
    const settledAt = await until(
      'every workload at 2 of 2',
      async () => {
        const running = (await c.guests()).filter((g) => g.state === 'running')
        return uris.every((u) => running.filter((g) => g.workload === u).length === 2)
      },
      120_000,
    )
    // Held a while longer: no replica runs twice and no excess starts after settling.
    await sleep(10_000)
    const samples = watch.stop()
    const final = (await c.guests()).filter((g) => g.state === 'running')

    const peak = new Map<string, number>(c.meshlets.map((m) => [m, 0]))
    for (const s of samples) {
      for (const m of c.meshlets) {
        const held = s.filter((g) => g.meshlet === m && uris.includes(g.workload)).length * CPU
        peak.set(m, Math.max(peak.get(m)!, held))
      }
    }
    const perMeshlet = c.meshlets.map((m) => final.filter((g) => g.meshlet === m).length)
    report(
      'storm',
      `10 workloads published in ${published.toFixed(1)} s, settled ${seconds(t0, settledAt).toFixed(1)} s after the first ` +
        `(deadline ${STORM_S} s); replicas per meshlet ${perMeshlet.join('/')}; peak held ` +
        `${[...peak.values()].join('/')} of ${STORM_OFFER} millicores; ${samples.length} Docker samples`,
    )
    expect(seconds(t0, settledAt)).toBeLessThanOrEqual(STORM_S)
    for (const p of peak.values()) expect(p).toBeLessThanOrEqual(STORM_OFFER)
    for (const u of uris) expect(final.filter((g) => g.workload === u)).toHaveLength(2)
    expect(c.daemons.every((d) => d.alive)).toBe(true)
  }, 240_000)
})

describe.concurrent('faults', () => {
  let proxy: StreamCutProxy
  let kill: Commune, cut: Commune, term: Commune
  communes(async () => {
    proxy = new StreamCutProxy(net.pds.url)
    const firehose = await proxy.start()
    // The fallback for a host its peers cannot reach: no API, liveness by presence every 20 s.
    // (The default, liveness by challenge, loses a killed host in tests/chaos/reachable.test.ts.)
    kill = await Commune.create(net, 'kill', 2, { args: ['--no-xrpc'] })
    // Its stream comes through the proxy, which cuts it.
    cut = await Commune.create(net, 'cut', 2, { firehose })
    term = await Commune.create(net, 'term', 2)
    for (const c of [kill, cut, term]) c.startAll()
    return [kill, cut, term]
  })
  afterAll(async () => {
    await proxy?.close()
  })

  it('kill -9 of a host without an API: its replica runs elsewhere within 45 s; restarted, exactly one remains', async () => {
    const c = kill
    onTestFailed(() => console.log(c.tails()))
    const uri = await c.publish(0, { replicas: 1, cpuMillis: 100 })
    const first = await c.placedOnce(uri)
    const host = c.indexOf(first.meshlet)

    const killedAt = performance.now()
    await c.daemons[host]!.kill('SIGKILL')
    const movedAt = await until(
      'the replica running elsewhere',
      async () => (await c.running(uri)).some((g) => g.meshlet !== first.meshlet),
      120_000,
    )
    const replaced = seconds(killedAt, movedAt)

    // The host returns on the same data directory, its old container still running.
    const backAt = performance.now()
    c.start(host)
    await c.settled()
    const oneAt = await until(
      'exactly one replica',
      async () => (await c.running(uri)).length === 1,
      120_000,
    )
    // Settled: exactly one for a whole lostAfter (a presence write and a judgement later).
    const watch = new Sampler(() => c.running(uri), 250)
    await sleep(DEFAULT_CONFIG.lostAfterMs)
    const counts = watch.stop().map((r) => r.length)
    const remaining = await c.running(uri)
    report(
      'kill -9 (--no-xrpc, interval liveness)',
      `replica running elsewhere ${replaced.toFixed(1)} s after the kill (deadline ${HOST_LOSS_S} s, ` +
        `lostAfter ${DEFAULT_CONFIG.lostAfterMs / 1000} s); host restarted: one replica ` +
        `${seconds(backAt, oneAt).toFixed(1)} s later, then ${counts.length} samples over ` +
        `${DEFAULT_CONFIG.lostAfterMs / 1000} s with ${Math.min(...counts)}–${Math.max(...counts)} running`,
    )
    expect(replaced).toBeLessThanOrEqual(HOST_LOSS_S)
    expect(new Set(counts)).toEqual(new Set([1]))
    expect(remaining).toHaveLength(1)
    expect(c.daemons.every((d) => d.alive)).toBe(true)
  }, 300_000)

  it('a stream cut for 30 s while a workload is published: it runs within 15 s of the restore', async () => {
    const c = cut
    onTestFailed(() => console.log(c.tails()))
    // As on the live network, the stream has carried something before it is cut, so each daemon
    // has a cursor to resume from. (One that has read no frame since it connected has none, and
    // what is published while it is cut is missed until it restarts: a gap of the relay source
    // this scenario does not cover.)
    await linkOwnerSide(c.members[0]!)
    await eventually('both daemons hold a cursor', () => [0, 1].every((i) => c.hasCursor(i)))
    proxy.cut(CUT_MS)
    const restoreAt = performance.now() + CUT_MS
    await sleep(2000)
    const uri = await c.publish(0, { replicas: 2, cpuMillis: 100 })
    await sleep(restoreAt - performance.now())
    const seenBoth = await until(
      'both meshlets saw the workload',
      async () => c.daemons.every((d) => d.events('workload.seen').some((e) => e.uri === uri)),
      120_000,
    )
    const placedAt = await until(
      'both replicas running',
      async () => (await c.running(uri)).length === 2,
      120_000,
    )
    const after = seconds(restoreAt, placedAt)
    report(
      'stream cut',
      `cut ${CUT_MS / 1000} s (workload published 2 s in; ${proxy.refused} connections refused); ` +
        `both meshlets saw it ${seconds(restoreAt, seenBoth).toFixed(1)} s and both replicas ran ` +
        `${after.toFixed(1)} s after the restore (deadline ${AFTER_RESTORE_S} s)`,
    )
    expect(proxy.refused).toBeGreaterThan(0)
    expect(after).toBeLessThanOrEqual(AFTER_RESTORE_S)
  }, 300_000)

  it('SIGTERM of a daemon: it drains and a peer re-places its replica at once', async () => {
    const c = term
    onTestFailed(() => console.log(c.tails()))
    const uri = await c.publish(0, { replicas: 1, cpuMillis: 100 })
    const first = await c.placedOnce(uri)
    const host = c.indexOf(first.meshlet)
    const other = c.members[1 - host]!
    const daemon = c.daemons[host]!

    const t0 = performance.now()
    const code = await daemon.kill('SIGTERM')
    const drained = seconds(t0)
    const gone = (await c.guests()).every((g) => g.meshlet !== first.meshlet)
    const movedAt = await until(
      'a peer runs the drained replica',
      async () => (await c.running(uri)).some((g) => g.meshlet === other.meshlet.did),
      120_000,
    )
    const replaced = seconds(t0, movedAt)
    report(
      'SIGTERM',
      `daemon exited ${code} after draining in ${drained.toFixed(1)} s; replica running on the peer ` +
        `${replaced.toFixed(1)} s after the signal (lostAfter ${DEFAULT_CONFIG.lostAfterMs / 1000} s)`,
    )
    expect(code).toBe(0)
    expect(gone).toBe(true)
    expect((await statusesOf(other, [c.members[host]!], uri)).map((s) => s.state)).toEqual([
      'draining',
    ])
    // At once: the peer does not wait for the drained host to be judged lost.
    expect(replaced).toBeLessThan(DEFAULT_CONFIG.lostAfterMs / 1000)
    expect(await c.running(uri)).toHaveLength(1)
  }, 300_000)
})

describe('a dead end', () => {
  let lone: Commune
  communes(async () => {
    // One slot of 100 millicores on the first meshlet, three on the second.
    lone = await Commune.create(net, 'deadend', 2, {
      args: (i) => ['--cpu', i === 0 ? '100' : '300', '--memory', '1024'],
    })
    lone.startAll()
    return [lone]
  })

  it('the only meshlet with room already runs the workload: it runs the missing replica too', async () => {
    // Spread is a preference (docs/failure-handling.md): a workload of 2 replicas fills the
    // small meshlet and one slot of the big one; a second workload of 2 then fits only on the
    // big one, which already runs one of its replicas. With one replica per meshlet as a rule
    // it stayed at 1 of 2 for good.
    const c = lone
    onTestFailed(() => console.log(c.tails()))
    const [small, big] = c.meshlets as [string, string]
    const first = await c.publish(0, { replicas: 2, cpuMillis: 100 })
    await until(
      'the first workload on both meshlets',
      async () => {
        const running = await c.running(first)
        return running.length === 2 && new Set(running.map((g) => g.meshlet)).size === 2
      },
      120_000,
    )
    const t0 = performance.now()
    const second = await c.publish(1, { replicas: 2, cpuMillis: 100 })
    const placedAt = await until(
      'both replicas of the second workload running',
      async () => (await c.running(second)).length === 2,
      120_000,
    )
    const placed = await c.running(second)
    // Both stay: after lostAfter only the host's presence keeps them alive, so it must list
    // both replicas (rounds 0 and 1) of one workload.
    await sleep(DEFAULT_CONFIG.lostAfterMs + DEFAULT_CONFIG.heartbeatMs)
    const kept = await c.running(second)
    const states = (await statusesOf(c.members[0]!, [c.members[1]!], second)).map((s) => s.state)
    report(
      'dead end',
      `second workload at 2 of 2 ${seconds(t0, placedAt).toFixed(1)} s after its publish, both on the ` +
        `meshlet with room (its statuses: ${states.join(', ')}); the same two containers ran ` +
        `${(DEFAULT_CONFIG.lostAfterMs + DEFAULT_CONFIG.heartbeatMs) / 1000} s later`,
    )
    expect(placed.map((g) => g.meshlet)).toEqual([big, big])
    expect(kept.map((g) => g.id).sort()).toEqual(placed.map((g) => g.id).sort())
    expect(states).toEqual(['running', 'running'])
    expect((await c.guests()).filter((g) => g.meshlet === small)).toHaveLength(1)
    expect((await c.guests()).filter((g) => g.meshlet === big)).toHaveLength(3)
    expect(c.daemons.every((d) => d.alive)).toBe(true)
  }, 300_000)
})

describe('a flood of bad records', () => {
  let junk: Commune
  let stranger: Member
  let junkMembership: { cid: string }
  communes(async () => {
    // Two daemons; the third member only writes: followed by both, its repo full of bad records.
    junk = await Commune.create(net, 'junk', 3)
    stranger = await createMember(net, 'stranger')
    junkMembership = await junk.members[2]!.meshlet.session.put(NSID.membership, 'self', {
      members: junk.members.slice(0, 2).map((m) => m.owner.did),
      createdAt: new Date().toISOString(),
    })
    junk.startAll([0, 1])
    return [junk]
  })

  it('300 malformed records while daemons run: nothing runs, the daemons live, memory bounded', async () => {
    const c = junk
    onTestFailed(() => console.log(c.tails()))
    const writer = c.members[2]!
    const daemons = c.daemons.slice(0, 2)
    const rss = new Sampler(() => daemons.map((d) => d.rssMiB() ?? NaN), 250)
    const guests = new Sampler(() => c.guests(), 500)
    await sleep(3000)
    const baseline = daemons.map((_, i) => Math.max(...rss.samples.map((s) => s[i]!)))

    const records = badRecords(
      {
        owner: writer.owner,
        meshlet: writer.meshlet,
        stranger: stranger.owner,
        someCid: junkMembership.cid,
      },
      300,
    )
    const t0 = performance.now()
    const uris = await publishAll(records)
    const published = seconds(t0)
    const mustDrop = new Set(uris.filter((_, i) => records[i]!.dropped))
    await until(
      'each daemon dropped every invalid record with a reason',
      async () =>
        daemons.every((d) => {
          const dropped = new Set(d.events('record.dropped').map((e) => e.uri as string))
          return [...mustDrop].every((u) => dropped.has(u))
        }),
      120_000,
    )
    const processed = seconds(t0)
    // A while longer: look-ups of the DIDs nobody has back off; nothing starts late.
    await sleep(15_000)
    const rssSamples = rss.stop()
    const held = guests.stop().flat()
    const peak = daemons.map((_, i) => Math.max(...rssSamples.map((s) => s[i]!)))
    const end = rssSamples.at(-1)!
    const kinds = new Set(records.map((r) => r.kind)).size
    const collections = new Set(records.map((r) => r.collection)).size
    report(
      'malformed',
      `${records.length} records (${kinds} kinds, ${collections} collections, ${(bytesOf(records) / 1e6).toFixed(1)} MB) published in ${published.toFixed(1)} s, ` +
        `all ${mustDrop.size} invalid URIs dropped by both daemons ${processed.toFixed(1)} s after the first; ` +
        `RSS MiB before/peak/end: ${daemons.map((_, i) => `${baseline[i]!.toFixed(0)}/${peak[i]!.toFixed(0)}/${end[i]!.toFixed(0)}`).join(', ')}; ` +
        `guests ever held: ${held.length}`,
    )
    expect(held).toEqual([])
    expect(await c.guests()).toEqual([])
    expect(daemons.every((d) => d.alive)).toBe(true)
    for (let i = 0; i < daemons.length; i++) {
      expect(peak[i]).toBeLessThanOrEqual(baseline[i]! + RSS_GROWTH_MIB)
    }
  }, 300_000)
})
