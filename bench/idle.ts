// `npm run bench` (issue 8 item 6): is idle really idle? Three figures, each beside a baseline
// measured in the same run:
// - a real `meshlet run` daemon on its default source (Jetstream: the Jetstream-protocol test
//   server of tests/support, re-emitting a local dev-env PDS), started and left alone for
//   BENCH_IDLE_SECONDS (default 60): its CPU (% of one core), RSS, and its V8 heap beside the RSS
//   (reported by the daemon itself, see MEMORY_PROBE), beside a bare subscriber (a plain `ws`
//   client on the same Jetstream stream) measured over the same seconds;
// - the same daemon beside a second one whose cluster peer's repos hold records dated 40 days
//   ahead and before the protocol on every collection (issue 9 item 6: such a record once took
//   idle daemons to 40 % of a core), both over the same window: the ratio should be ≈ 1;
// - cold start: spawning `meshlet run` until it logs `started`, beside spawning plain `node`;
// (Selection over the cluster view is bench/selection.ts.)
// CPU and RSS come from /proc (Linux only), so the figures cover every thread of the process.
import { spawn, type ChildProcess } from 'node:child_process'
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { NSID } from '../core/lexicon/index.js'
import {
  createLocalAccount,
  startNetwork,
  type Account,
  type Network,
} from '../scripts/local-network.js'
import { startTestJetstream, type TestJetstream } from '../tests/support/jetstream-server.js'

const IDLE_SECONDS = Number(process.env.BENCH_IDLE_SECONDS ?? 60)
const COLD_STARTS = Number(process.env.BENCH_COLD_STARTS ?? 3)
// BENCH_MESHLET_BIN: another checkout's bin/meshlet.js, to measure it instead of this one.
const BIN = process.env.BENCH_MESHLET_BIN ?? new URL('../bin/meshlet.js', import.meta.url).pathname
// BENCH_BASELINE_BIN: another checkout's bin/meshlet.js (say, main before a change), measured in
// the same run: its cold starts alternate with this one's, and its idle daemon (accounts of its
// own) idles over the same window; the ratios are printed.
const BASELINE_BIN = process.env.BENCH_BASELINE_BIN
const ROOT = new URL('..', import.meta.url).pathname
const TICKS_PER_SECOND = 100 // USER_HZ: what Linux reports /proc/<pid>/stat times in

const TARGETS = { idleCpuPercent: 0.5, idleRssMiB: 100, coldStartMs: 2000 }

interface Daemon {
  child: ChildProcess
  output: () => string
}

async function cpuSeconds(pid: number): Promise<number> {
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8')
  // The command name may hold spaces; fields after it are space-separated.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
  return (Number(fields[11]) + Number(fields[12])) / TICKS_PER_SECOND
}

/** RSS split: private memory, and pages of files (mostly the node binary, shared with every other
 *  Node process, and the same for any daemon). */
async function rssPartsMiB(pid: number): Promise<{ anon: number; file: number }> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8')
  const kb = (name: string) => Number(new RegExp(`${name}:\\s+(\\d+)`).exec(status)?.[1] ?? NaN)
  return { anon: kb('RssAnon') / 1024, file: kb('RssFile') / 1024 }
}

async function rssMiB(pid: number): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8')
  const kb = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? Number.NaN)
  return kb / 1024
}

// Generous: on a loaded shared machine a start can take a minute of wall time.
function waitFor(what: string, check: () => boolean, timeoutMs = 180_000): Promise<void> {
  const t0 = Date.now()
  return new Promise((resolve, reject) => {
    const poll = setInterval(() => {
      if (check()) {
        clearInterval(poll)
        resolve()
      } else if (Date.now() - t0 > timeoutMs) {
        clearInterval(poll)
        reject(new Error(`timed out waiting for ${what}`))
      }
    }, 5)
  })
}

function exited(child: ChildProcess): Promise<void> {
  return child.exitCode !== null || child.signalCode !== null
    ? Promise.resolve()
    : new Promise((r) => child.once('exit', () => r()))
}

async function stop(child: ChildProcess): Promise<void> {
  child.kill('SIGTERM')
  const timer = setTimeout(() => child.kill('SIGKILL'), 10_000)
  await exited(child)
  clearTimeout(timer)
}

interface Setup {
  net: Network
  jetstream: TestJetstream
  args: string[]
  env: NodeJS.ProcessEnv
}

async function setup(
  existing?: { net: Network; jetstream: TestJetstream },
  name = 'idle',
  bin = BIN,
): Promise<Setup & { peer: Account; owner: Account }> {
  const net = existing?.net ?? (await startNetwork())
  const jetstream =
    existing?.jetstream ?? (await startTestJetstream({ service: net.pds.url, plcUrl: net.plc.url }))
  const owner = await createLocalAccount(net, `${name}-owner.test`)
  const meshlet = await createLocalAccount(net, `${name}-mesh.test`)
  const peer = await createLocalAccount(net, `${name}-peer.test`)
  const createdAt = new Date().toISOString()
  await owner.session.put(NSID.meshlet, meshlet.did, { meshlet: meshlet.did, createdAt })
  await meshlet.session.put(NSID.meshletOwner, 'self', { owner: owner.did, createdAt })
  const args = [
    bin,
    'run',
    '--did',
    meshlet.did,
    '--owner',
    owner.did,
    '--cluster-members',
    peer.did,
    '--plc',
    net.plc.url,
    '--handle-resolver',
    net.pds.url,
    // No --firehose: the default source, Jetstream, here the test server.
    '--jetstream',
    jetstream.url,
  ]
  return {
    net,
    jetstream,
    args,
    env: { ...process.env, MESHLET_PASSWORD: meshlet.password },
    peer,
    owner,
  }
}

const FAR_AHEAD = () => new Date(Date.now() + 40 * 86_400_000).toISOString()
const FAR_BEHIND = '1999-01-01T00:00:00.000Z'

/**
 * The peer's owner gets a linked meshlet, and both repos get records dated 40 days ahead and
 * before the protocol on every collection that carries a date. The daemon must drop each with a
 * reason and plan nothing for them. Returns how many records were written.
 */
async function farDatedRecords(
  net: Network,
  peer: Account,
  member: string,
  tag: string,
): Promise<number> {
  const mesh = await createLocalAccount(net, `${tag}-peermesh.test`)
  const now = new Date().toISOString()
  await peer.session.put(NSID.meshlet, mesh.did, { meshlet: mesh.did, createdAt: now })
  await mesh.session.put(NSID.meshletOwner, 'self', { owner: peer.did, createdAt: now })
  await mesh.session.put(NSID.membership, 'self', { members: [member], createdAt: now })
  let written = 0
  for (const [i, date] of [FAR_AHEAD(), FAR_BEHIND].entries()) {
    const resources = { cpuMillis: 100, memoryMiB: 64 }
    const w = await peer.session.put(NSID.workload, `${tag}far${i}`, {
      image: 'commune-test/busybox:1',
      resources,
      replicas: 1,
      createdAt: date,
    })
    await peer.session.put(NSID.workload, `${tag}upd${i}`, {
      image: 'commune-test/busybox:1',
      resources,
      replicas: 1,
      createdAt: now,
      updatedAt: date,
    })
    const ref = { uri: w.uri, cid: w.cid }
    await mesh.session.put(NSID.bid, `far${i}-0`, {
      workload: ref,
      round: 0,
      priority: 0,
      offer: resources,
      createdAt: date,
    })
    await mesh.session.put(NSID.workloadStatus, `far${i}-0`, {
      workload: ref,
      round: 0,
      state: 'running',
      updatedAt: date,
    })
    await mesh.session.put(NSID.presence, 'self', {
      state: 'lending',
      replicas: [{ workload: ref, round: 0 }],
      seq: i,
      intervalMs: 20_000,
      updatedAt: date,
    })
    await peer.session.put(NSID.workloadSecrets, `${tag}far${i}`, {
      workload: w.uri,
      boxes: [],
      updatedAt: date,
    })
    await peer.session.put(NSID.sealingKey, 'self', {
      key: {
        algorithm: 'x25519-hkdf-sha256-xchacha20poly1305',
        publicKey: new Uint8Array(32).fill(7),
        createdAt: date,
      },
    })
    written += 7
  }
  return written
}

// Loaded into the idle daemon (node --import): every 5 s it writes its V8 heap and RSS to
// stderr, so the bench can say how much of the RSS is live heap and how much is everything else
// (code, the young generation's reserve, native buffers, the allocator's free lists).
const MEMORY_PROBE = `data:text/javascript,${encodeURIComponent(
  `setInterval(() => { const m = process.memoryUsage(); process.stderr.write(JSON.stringify({ bench: 'memory', rss: m.rss, heapTotal: m.heapTotal, heapUsed: m.heapUsed, external: m.external }) + '\\n') }, 5000).unref()`,
)}`

function startDaemon(s: Setup, dataDir: string, probe = false): Daemon {
  let output = ''
  // BENCH_PROFILE_DIR: write a CPU profile of each daemon (node --cpu-prof) to look into.
  const profile = process.env.BENCH_PROFILE_DIR
  const flags = profile ? ['--cpu-prof', '--cpu-prof-dir', profile] : []
  if (probe) flags.push('--import', MEMORY_PROBE)
  // BENCH_DAEMON_IMPORT: a module the measured daemon imports first (a file: URL), e.g. one that
  // writes a heap snapshot (v8.writeHeapSnapshot) to see what the heap holds.
  const extra = process.env.BENCH_DAEMON_IMPORT
  if (probe && extra) flags.push('--import', extra)
  const child = spawn(process.execPath, [...flags, ...s.args, '--data-dir', dataDir], {
    env: s.env,
    cwd: ROOT,
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  child.stdout!.on('data', (d: Buffer) => (output += d.toString()))
  child.stderr!.on('data', (d: Buffer) => (output += d.toString()))
  return { child, output: () => output }
}

const BARE_SUBSCRIBER = `
import WebSocket from 'ws'
let frames = 0
const ws = new WebSocket(process.argv[1] + '?wantedCollections=commune.scheduler.*')
ws.on('message', () => frames++)
ws.on('open', () => console.log('open'))
ws.on('error', (err) => console.error(String(err)))
`

function startBareSubscriber(jetstream: TestJetstream): Daemon {
  let output = ''
  const url = jetstream.url
  const child = spawn(process.execPath, ['--input-type=module', '-e', BARE_SUBSCRIBER, url], {
    cwd: ROOT,
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  child.stdout!.on('data', (d: Buffer) => (output += d.toString()))
  child.stderr!.on('data', (d: Buffer) => (output += d.toString()))
  return { child, output: () => output }
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b)
  return s[Math.floor((s.length - 1) / 2)]!
}

// Wall time is what a user waits; on a shared machine it also measures everyone else's load, so
// the CPU time the daemon spent until `started` is printed beside it.
interface ColdStarts {
  meshlet: number[]
  cpu: number[]
  node: number[]
}

async function coldStart(s: Setup, into: ColdStarts): Promise<void> {
  const dataDir = await mkdtemp(join(tmpdir(), 'meshlet-bench-cold-'))
  const t1 = performance.now()
  const d = startDaemon(s, dataDir)
  try {
    await waitFor('started', () => d.output().includes('"event":"started"')).catch((err) => {
      throw new Error(`${(err as Error).message}; the daemon said:\n${d.output()}`)
    })
    into.meshlet.push(performance.now() - t1)
    into.cpu.push((await cpuSeconds(d.child.pid!)) * 1000)
  } finally {
    await stop(d.child)
    await rm(dataDir, { recursive: true, force: true })
  }
}

/** COLD_STARTS starts of each; with a baseline, its starts alternate with this one's. */
async function coldStarts(
  s: Setup,
  baseline?: Setup,
): Promise<{ current: ColdStarts; baseline?: ColdStarts }> {
  const current: ColdStarts = { meshlet: [], cpu: [], node: [] }
  const base: ColdStarts = { meshlet: [], cpu: [], node: [] }
  for (let i = 0; i < COLD_STARTS; i++) {
    const t0 = performance.now()
    const bare = spawn(process.execPath, ['-e', ''], { stdio: 'ignore' })
    await exited(bare)
    current.node.push(performance.now() - t0)
    await coldStart(s, current)
    if (baseline) await coldStart(baseline, base)
  }
  return baseline ? { current, baseline: base } : { current }
}

interface Usage {
  cpuPercent: number
  rssMeanMiB: number
  rssMaxMiB: number
}

/** CPU and RSS of each process over the same window, RSS sampled every second. */
async function usageOver(seconds: number, pids: number[]): Promise<Usage[]> {
  const cpu0 = await Promise.all(pids.map(cpuSeconds))
  const t0 = performance.now()
  const rss: number[][] = pids.map(() => [])
  for (let i = 0; i < seconds; i++) {
    await new Promise((r) => setTimeout(r, 1000))
    const now = await Promise.all(pids.map(rssMiB))
    now.forEach((v, j) => rss[j]!.push(v))
  }
  const cpu1 = await Promise.all(pids.map(cpuSeconds))
  const wall = (performance.now() - t0) / 1000
  return pids.map((_, j) => ({
    cpuPercent: ((cpu1[j]! - cpu0[j]!) / wall) * 100,
    rssMeanMiB: rss[j]!.reduce((a, b) => a + b, 0) / rss[j]!.length,
    rssMaxMiB: Math.max(...rss[j]!),
  }))
}

interface MemoryLine {
  rss: number
  heapTotal: number
  heapUsed: number
  external: number
}

function lastMemory(output: string): MemoryLine | undefined {
  const lines = output.split('\n').filter((l) => l.startsWith('{"bench":"memory"'))
  const last = lines.at(-1)
  return last === undefined ? undefined : (JSON.parse(last) as MemoryLine)
}

function verdict(ok: boolean): string {
  return ok ? 'met' : 'NOT met'
}

async function main(): Promise<void> {
  const s = await setup()
  const far = await setup(s, 'far')
  const base = BASELINE_BIN ? await setup(s, 'base', BASELINE_BIN) : undefined
  const dataDir = await mkdtemp(join(tmpdir(), 'meshlet-bench-idle-'))
  const farDir = await mkdtemp(join(tmpdir(), 'meshlet-bench-far-'))
  const baseDir = await mkdtemp(join(tmpdir(), 'meshlet-bench-base-'))
  let daemon: Daemon | undefined
  let farDaemon: Daemon | undefined
  let baseDaemon: Daemon | undefined
  let bare: Daemon | undefined
  try {
    const { current: cold, baseline: baseCold } = await coldStarts(s, base)

    // Far-dated records both before the daemon starts (its backfill) and while it runs (live).
    let farWritten = await farDatedRecords(s.net, far.peer, far.owner.did, 'before')
    daemon = startDaemon(s, dataDir, true)
    farDaemon = startDaemon(far, farDir)
    bare = startBareSubscriber(s.jetstream)
    if (base) baseDaemon = startDaemon(base, baseDir, true)
    await waitFor('the daemon started', () => daemon!.output().includes('"event":"started"'))
    await waitFor('the far daemon started', () => farDaemon!.output().includes('"event":"started"'))
    if (baseDaemon) {
      await waitFor('the baseline daemon started', () =>
        baseDaemon!.output().includes('"event":"started"'),
      )
    }
    await waitFor('the bare subscriber', () => bare!.output().includes('open'))
    farWritten += await farDatedRecords(s.net, far.peer, far.owner.did, 'live')
    // Let start-up work (backfill, first plan, JIT) settle before measuring idleness.
    await new Promise((r) => setTimeout(r, 5000))
    const [d, b, f, bd] = await usageOver(IDLE_SECONDS, [
      daemon.child.pid!,
      bare.child.pid!,
      farDaemon.child.pid!,
      ...(baseDaemon ? [baseDaemon.child.pid!] : []),
    ])
    if (daemon.child.exitCode !== null) throw new Error(`the daemon died:\n${daemon.output()}`)
    if (baseDaemon && baseDaemon.child.exitCode !== null) {
      throw new Error(`the baseline daemon died:\n${baseDaemon.output()}`)
    }
    if (farDaemon.child.exitCode !== null) {
      throw new Error(`the far daemon died:\n${farDaemon.output()}`)
    }
    const farDropped = farDaemon.output().split('"event":"record.dropped"').length - 1

    const heap = lastMemory(daemon.output())
    const baseHeap = baseDaemon && lastMemory(baseDaemon.output())
    console.log(`\nidle over ${IDLE_SECONDS} s (nothing published), same window; source: jetstream`)
    console.log('                       CPU % core   RSS mean MiB   RSS max MiB')
    const row = (name: string, u: Usage) =>
      console.log(
        `${name.padEnd(22)} ${u.cpuPercent.toFixed(2).padStart(10)} ${u.rssMeanMiB
          .toFixed(1)
          .padStart(14)} ${u.rssMaxMiB.toFixed(1).padStart(13)}`,
      )
    row('meshlet run', d!)
    row('bare ws subscriber', b!)
    row('run, far-dated peer', f!)
    if (bd) row('baseline meshlet run', bd)
    const parts = await Promise.all(
      [daemon, bare, farDaemon, ...(baseDaemon ? [baseDaemon] : [])].map((x) =>
        rssPartsMiB(x.child.pid!),
      ),
    )
    console.log(
      `RSS at the end, private + file-backed MiB: ${['meshlet run', 'bare', 'far-dated', 'baseline']
        .slice(0, parts.length)
        .map((n, i) => `${n} ${parts[i]!.anon.toFixed(1)} + ${parts[i]!.file.toFixed(1)}`)
        .join('; ')}`,
    )
    console.log(
      `ratio daemon / bare: CPU ${(d!.cpuPercent / Math.max(b!.cpuPercent, 0.01)).toFixed(1)}×, RSS ${(
        d!.rssMeanMiB / b!.rssMeanMiB
      ).toFixed(1)}×`,
    )
    if (heap) {
      const mib = (x: number) => (x / 1024 / 1024).toFixed(1)
      console.log(
        `daemon's own view at the end: RSS ${mib(heap.rss)} MiB = V8 heap ${mib(heap.heapTotal)} MiB (${mib(heap.heapUsed)} live) + external ${mib(heap.external)} MiB + the rest (code, Node itself, allocator)`,
      )
      if (baseHeap) {
        console.log(
          `baseline's own view at the end: RSS ${mib(baseHeap.rss)} MiB = V8 heap ${mib(baseHeap.heapTotal)} MiB (${mib(baseHeap.heapUsed)} live) + external ${mib(baseHeap.external)} MiB`,
        )
      }
    }
    if (bd) {
      console.log(
        `ratio daemon / baseline (${BASELINE_BIN}), same window: CPU ${(d!.cpuPercent / Math.max(bd.cpuPercent, 0.01)).toFixed(2)}×, RSS mean ${(d!.rssMeanMiB / bd.rssMeanMiB).toFixed(2)}×, RSS max ${(d!.rssMaxMiB / bd.rssMaxMiB).toFixed(2)}×`,
      )
    }
    console.log(
      `far-dated records (40 days ahead, 1999) on every dated collection: ${farWritten} written, ` +
        `${farDropped} dropped with a reason (a backfill sees only the last of two writes to one key); ratio far-dated daemon / clean daemon: CPU ${(
          f!.cpuPercent / Math.max(d!.cpuPercent, 0.01)
        ).toFixed(2)}×, RSS ${(f!.rssMeanMiB / d!.rssMeanMiB).toFixed(2)}×`,
    )
    console.log(
      `targets: CPU ≤ ${TARGETS.idleCpuPercent} % ${verdict(d!.cpuPercent <= TARGETS.idleCpuPercent)}; RSS ≤ ${TARGETS.idleRssMiB} MiB ${verdict(d!.rssMaxMiB <= TARGETS.idleRssMiB)}`,
    )

    const med = median(cold.meshlet)
    console.log(`\ncold start to "started" (${COLD_STARTS} runs, fresh data directory each)`)
    console.log(
      `meshlet run: median ${med.toFixed(0)} ms (runs: ${cold.meshlet.map((x) => x.toFixed(0)).join(', ')})`,
    )
    console.log(
      `meshlet run: median ${median(cold.cpu).toFixed(0)} ms of CPU until started (runs: ${cold.cpu.map((x) => x.toFixed(0)).join(', ')})`,
    )
    console.log(
      `plain node:  median ${median(cold.node).toFixed(0)} ms; ratio ${(med / median(cold.node)).toFixed(1)}×`,
    )
    if (baseCold) {
      console.log(
        `baseline:    median ${median(baseCold.meshlet).toFixed(0)} ms (runs: ${baseCold.meshlet.map((x) => x.toFixed(0)).join(', ')}); ${median(baseCold.cpu).toFixed(0)} ms of CPU (runs: ${baseCold.cpu.map((x) => x.toFixed(0)).join(', ')})`,
      )
      console.log(
        `ratio meshlet run / baseline, alternating starts: wall ${(med / median(baseCold.meshlet)).toFixed(2)}×, CPU ${(median(cold.cpu) / median(baseCold.cpu)).toFixed(2)}×`,
      )
    }
    console.log(
      `target ≤ ${TARGETS.coldStartMs} ms: wall ${verdict(med <= TARGETS.coldStartMs)}; CPU ${verdict(median(cold.cpu) <= TARGETS.coldStartMs)}`,
    )
  } finally {
    if (daemon) await stop(daemon.child)
    if (farDaemon) await stop(farDaemon.child)
    if (baseDaemon) await stop(baseDaemon.child)
    await rm(farDir, { recursive: true, force: true })
    await rm(baseDir, { recursive: true, force: true })
    if (bare) await stop(bare.child)
    await s.jetstream.close()
    await s.net.close()
    await rm(dataDir, { recursive: true, force: true })
  }
}

await main()
