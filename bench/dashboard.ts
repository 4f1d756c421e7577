// `npm run bench` (second part): the dashboard's costs, on a local network (in-process PLC + PDS)
// with a real daemon app behind the real WebSocket bridge, each next to a baseline measured in
// the same process:
//   - a slider move (capacity.set over the WebSocket, answered once the membership record is
//     stored) against the bare putRecord of that same record;
//   - a record reaching the screen (the owner publishes a workload; the pushed state lists it)
//     against the same record reaching a bare firehose subscriber (core/sync) in this process;
//   - building the pushed state, and its size, for a commune with many workloads, against
//     serialising the raw records it is built from.
import { randomBytes } from 'node:crypto'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import WebSocket from 'ws'
import type { DashboardState, WireServerFrame } from '../core/api.js'
import { openApp } from '../core/app.js'
import { NSID } from '../core/lexicon/index.js'
import { MemorySecretStore } from '../core/secrets.js'
import { serveUi, TOKEN_PROTOCOL_PREFIX, WIRE_PROTOCOL } from '../core/ui-server.js'
import { RepoReader } from '../core/repo/reader.js'
import { RecordSync } from '../core/sync/index.js'
import {
  createLocalAccount,
  localIdentity,
  startNetwork,
  localNetworkConfig,
} from '../scripts/local-network.js'

const ROUNDS = Number(process.env.BENCH_DASHBOARD_ROUNDS ?? 30)
const WORKLOADS = Number(process.env.BENCH_DASHBOARD_WORKLOADS ?? 300)

function stats(xs: number[]) {
  const s = [...xs].sort((a, b) => a - b)
  const q = (p: number) => s[Math.min(s.length - 1, Math.max(0, Math.ceil(p * s.length) - 1))]!
  return { median: q(0.5), p95: q(0.95) }
}

const ms = (x: number) => `${x.toFixed(1)} ms`

async function main(): Promise<void> {
  const net = await startNetwork()
  const dataDir = await mkdtemp(join(tmpdir(), 'meshlet-bench-dash-'))
  try {
    const owner = await createLocalAccount(net, 'alice.test')
    const meshlet = await createLocalAccount(net, 'alice-mesh.test')
    const createdAt = new Date().toISOString()
    await owner.session.put(NSID.meshlet, meshlet.did, { meshlet: meshlet.did, createdAt })
    await meshlet.session.put(NSID.meshletOwner, 'self', { owner: owner.did, createdAt })
    const app = await openApp({
      dataDir,
      network: localNetworkConfig(net),
      secrets: new MemorySecretStore(),
      docker: false,
      meshletWriter: meshlet.session,
      ownerWriter: owner.session,
      initial: { members: [] },
    })
    const staticDir = join(dataDir, 'static')
    await import('node:fs/promises').then((fs) => fs.mkdir(staticDir))
    await writeFile(join(staticDir, 'index.html'), '<!doctype html>')
    const ui = await serveUi({ host: app, port: 0, staticDir })
    const ws = new WebSocket(`${ui.origin.replace('http', 'ws')}/api`, [
      WIRE_PROTOCOL,
      TOKEN_PROTOCOL_PREFIX + ui.token,
    ])
    await new Promise((r) => ws.once('open', r))
    let next = 0
    const answers = new Map<number, () => void>()
    const stateWaiters: ((s: DashboardState) => void)[] = []
    ws.on('message', (d) => {
      const f = JSON.parse(d.toString()) as WireServerFrame
      if ('id' in f) answers.get(f.id)?.()
      else if (f.event === 'state') for (const w of stateWaiters) w(f.payload as DashboardState)
    })
    const call = (method: string, args?: unknown) =>
      new Promise<void>((done) => {
        const id = ++next
        answers.set(id, done)
        ws.send(JSON.stringify({ id, method, args }))
      })

    // 1. A slider move, answered once the membership record is stored.
    const sliderMs: number[] = []
    const putMs: number[] = []
    for (let i = 0; i < ROUNDS; i++) {
      const offer = { cpuMillis: 500 + (i % 2) * 100, memoryMiB: 512, storageMiB: 256 }
      let t = performance.now()
      await call('capacity.set', offer)
      sliderMs.push(performance.now() - t)
      t = performance.now()
      await meshlet.session.put(NSID.membership, 'self', {
        members: [owner.did],
        lending: true,
        offer,
        createdAt: new Date().toISOString(),
      })
      putMs.push(performance.now() - t)
    }

    // 2. A workload published by the owner, until the pushed state lists it; the baseline is a
    // bare subscriber to the same firehose.
    const identity = localIdentity(net)
    const arrived = new Map<string, number>()
    const bare = new RecordSync({
      identity,
      reader: new RepoReader(identity),
      service: net.pds.url,
      wants: (did) => did === owner.did,
      onEvent: (evt) => {
        if (evt.event === 'put') {
          const marker = (evt.record as { command?: string[] }).command?.[1]
          if (marker) arrived.set(marker, performance.now())
        }
      },
      onError: (err) => console.error(err),
    })
    await bare.start()
    await bare.follow(owner.did)
    const screenMs: number[] = []
    const firehoseMs: number[] = []
    for (let i = 0; i < ROUNDS; i++) {
      const marker = `bench-${randomBytes(4).toString('hex')}`
      const t = performance.now()
      const seen = new Promise<number>((done) => {
        const w = (s: DashboardState) => {
          if (s.workloads.some((x) => x.command?.[1] === marker)) {
            stateWaiters.splice(stateWaiters.indexOf(w), 1)
            done(performance.now())
          }
        }
        stateWaiters.push(w)
      })
      await owner.session.create(NSID.workload, {
        image: 'commune-test/busybox:1',
        command: ['echo', marker],
        resources: { cpuMillis: 100, memoryMiB: 32 },
        replicas: 1,
        bidWindowMs: 5000,
        createdAt: new Date().toISOString(),
      })
      screenMs.push((await seen) - t)
      while (!arrived.has(marker)) await new Promise((r) => setTimeout(r, 5))
      firehoseMs.push(arrived.get(marker)! - t)
    }
    await bare.stop()

    // 3. The pushed state for a commune with many workloads.
    for (let i = ROUNDS; i < WORKLOADS; i++) {
      await owner.session.create(NSID.workload, {
        image: 'commune-test/busybox:1',
        command: ['sleep', String(i)],
        resources: { cpuMillis: 100, memoryMiB: 32 },
        replicas: 1,
        bidWindowMs: 5000,
        createdAt: new Date().toISOString(),
      })
    }
    for (let tries = 0; app.snapshot().workloads.length < WORKLOADS && tries < 600; tries++) {
      await new Promise((r) => setTimeout(r, 50))
    }
    const listed = await owner.session.agent.com.atproto.repo.listRecords({
      repo: owner.did,
      collection: NSID.workload,
      limit: 100,
    })
    const raw: unknown[] = []
    let cursor: string | undefined = listed.data.cursor
    raw.push(...listed.data.records)
    while (cursor) {
      const page = await owner.session.agent.com.atproto.repo.listRecords({
        repo: owner.did,
        collection: NSID.workload,
        limit: 100,
        cursor,
      })
      raw.push(...page.data.records)
      cursor = page.data.cursor
    }
    const buildMs: number[] = []
    const rawMs: number[] = []
    let bytes = 0
    let rawBytes = 0
    for (let i = 0; i < ROUNDS; i++) {
      let t = performance.now()
      bytes = JSON.stringify(app.snapshot()).length
      buildMs.push(performance.now() - t)
      t = performance.now()
      rawBytes = JSON.stringify(raw).length
      rawMs.push(performance.now() - t)
    }
    const heapMiB = process.memoryUsage().heapUsed / 1_048_576

    const row = (name: string, m: number[], base: number[], baseName: string) => {
      const a = stats(m)
      const b = stats(base)
      console.log(
        `${name.padEnd(30)} median ${ms(a.median).padStart(9)}  p95 ${ms(a.p95).padStart(9)}` +
          `   ${baseName}: median ${ms(b.median)}  p95 ${ms(b.p95)}` +
          `   ratio ${(a.median / b.median).toFixed(2)}`,
      )
    }
    console.log(
      `dashboard bench: ${ROUNDS} rounds each, ${app.snapshot().workloads.length} workloads listed`,
    )
    row('slider → record stored', sliderMs, putMs, 'baseline putRecord')
    row('record → on screen', screenMs, firehoseMs, 'baseline bare firehose subscriber')
    row('build + serialise state', buildMs, rawMs, 'baseline serialise raw records')
    console.log(
      `pushed state: ${(bytes / 1024).toFixed(1)} KiB for ${WORKLOADS} workloads ` +
        `(raw records ${(rawBytes / 1024).toFixed(1)} KiB, ratio ${(bytes / rawBytes).toFixed(2)}); ` +
        `heap used ${heapMiB.toFixed(0)} MiB`,
    )
    ws.close()
    await ui.close()
    await app.close()
  } finally {
    await net.close()
    await rm(dataDir, { recursive: true, force: true })
  }
}

main().catch((err: unknown) => {
  console.error(err)
  process.exitCode = 1
})
