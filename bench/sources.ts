// `npm run bench` (part): what each event source reads and spends per day on a busy network.
//
// A real local PDS carries a replay: NOISE commits of other people's records (app.bsky.feed.post
// of a typical size) with OURS_IN_NOISE of our records among them — 0.05 % at full scale — and
// then OURS records from a 10-member commune. Each reader runs in its own process (its CPU time
// is its own; the PDS and the Jetstream-protocol server stay here) and reads the replay from
// the start:
// - bare ws: a WebSocket that only counts the relay stream's frames (the baseline);
// - relay (and pds, when members share a big PDS: the same stream): relay.ts, which decodes
//   every frame and verifies ours;
// - jetstream: jetstream.ts against the Jetstream-protocol server (tests/support), filtered on
//   the server to the commune's DIDs, each record confirmed with getRecord (bytes counted);
//   and a bare ws on the same filtered stream.
// Per day = per frame (or per record of ours) × the simulated network's rate: RATE events/s of
// which 0.05 % are ours. The replay is smaller than a day (NOISE frames); the extrapolation is
// linear in frames, which is what these costs are (no per-connection state grows).
import { fork, type ChildProcess } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { NSID } from '../core/lexicon/index.js'
import { DEFAULT_CONFIG } from '../core/scheduling/index.js'
import { bidRkey } from '../core/scheduling/util.js'
import { confirmClaim } from '../core/sync/confirm.js'
import {
  createLocalAccount,
  localIdentity,
  startNetwork,
  type Account,
} from '../scripts/local-network.js'
import { startTestJetstream } from '../tests/support/jetstream-server.js'

const RATE = Number(process.env.BENCH_RATE ?? 2000)
const OURS_SHARE = 0.0005
const NOISE = Number(process.env.BENCH_SOURCE_FRAMES ?? 1200)
const OURS = Number(process.env.BENCH_SOURCE_OURS ?? 40)
const MEMBERS = 10
const IDLE_MS = Number(process.env.BENCH_SOURCE_IDLE_MS ?? 10_000)
const DAY = 86_400

interface Result {
  cpuMs: number
  bytes: number
  frames: number
  ours: number
  wallMs: number
}

function consume(args: string[]): Promise<Result> {
  const child = fork(fileURLToPath(new URL('./source-consumer.ts', import.meta.url)), args, {
    execArgv: ['--import', 'tsx'],
    stdio: ['ignore', 'pipe', 'inherit', 'ipc'],
  })
  let out = ''
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()))
  return new Promise((resolve, reject) => {
    child.on('exit', (code) =>
      code === 0
        ? resolve(JSON.parse(out.trim().split('\n').pop()!) as Result)
        : reject(new Error(`consumer ${args[0]} exited ${code}`)),
    )
  })
}

const mb = (bytes: number) => bytes / 1e6
const fmt = (n: number, digits = 1) =>
  n >= 100 ? n.toFixed(0) : n >= 10 ? n.toFixed(digits) : n.toPrecision(2)

async function main(): Promise<void> {
  const net = await startNetwork()
  const js = await startTestJetstream({ service: net.pds.url, plcUrl: net.plc.url })
  try {
    const startUs = Date.now() * 1000
    const noise: Account[] = []
    for (let i = 0; i < 8; i++) noise.push(await createLocalAccount(net, `noise${i}.test`))
    const members: Account[] = []
    for (let i = 0; i < MEMBERS; i++) members.push(await createLocalAccount(net, `member${i}.test`))
    const text = 'x'.repeat(140)
    const oursEvery = Math.floor(1 / OURS_SHARE)
    // A status-sized record of ours, each a new one (as heartbeats and bids mostly are).
    const ourWrite = (i: number) =>
      members[i % MEMBERS]!.session.create(NSID.workloadStatus, {
        workload: {
          uri: `at://${members[0]!.did}/${NSID.workload}/3kaaaaaaaaaaa`,
          cid: 'bafyreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku',
        },
        round: i,
        state: 'running',
        createdAt: new Date().toISOString(),
      })
    // The mix: NOISE commits of others, one of ours every 2,000.
    let written = 0
    const writers = noise.map(async (a, w) => {
      for (let i = w; i < NOISE; i += noise.length) {
        await a.session.agent.com.atproto.repo.createRecord({
          repo: a.did,
          collection: 'app.bsky.feed.post',
          record: { $type: 'app.bsky.feed.post', text, createdAt: new Date().toISOString() },
        })
        if (++written % oursEvery === 0) await ourWrite(written)
      }
    })
    await Promise.all(writers)
    const mixSeq = await lastSeq(net.pds.url)
    // Then ours alone, for the per-record cost of the filtered source.
    for (let i = 0; i < OURS; i++) await ourWrite(i)
    await new Promise((r) => setTimeout(r, 500))
    const oursInStream = Math.floor(NOISE / oursEvery) + OURS

    const bare = await consume([
      'bare-ws',
      `${wsOf(net.pds.url)}/xrpc/com.atproto.sync.subscribeRepos?cursor=0`,
      String(mixSeq),
    ])
    const relay = await consume(['relay', net.pds.url, net.plc.url, String(mixSeq)])
    const dids = members.map((m) => m.did).join(',')
    const jet = await consume([
      'jetstream',
      js.url,
      net.plc.url,
      net.pds.url,
      dids,
      String(oursInStream),
      String(startUs),
    ])
    const jetBareUrl = `${js.url}?wantedCollections=commune.scheduler.*&${members.map((m) => `wantedDids=${m.did}`).join('&')}&cursor=${startUs}`
    const jetBare = await consume(['bare-ws', jetBareUrl, String(oursInStream)])
    const idle = await consume([
      'idle-jetstream',
      js.url,
      net.plc.url,
      net.pds.url,
      dids,
      String(IDLE_MS),
      '',
    ])

    // What confirmation adds to a record's latency: one getRecord and the proof check, for each
    // of our records, after the DID document is cached (as it is once a member is followed).
    const identity = localIdentity(net)
    const confirmMs: number[] = []
    for (const m of members) {
      await identity.resolveDid(m.did)
      const res = await m.session.agent.com.atproto.repo.listRecords({
        repo: m.did,
        collection: NSID.workloadStatus,
        limit: 100,
      })
      for (const r of res.data.records) {
        const t = performance.now()
        const ok = await confirmClaim(identity, {
          did: m.did,
          collection: NSID.workloadStatus,
          rkey: r.uri.split('/').pop()!,
          cid: r.cid,
          record: r.value,
        })
        confirmMs.push(performance.now() - t)
        if (!ok.ok) throw new Error(`a real record was not confirmed: ${ok.reason}`)
      }
    }
    confirmMs.sort((x, y) => x - y)
    const q = (p: number) =>
      confirmMs[Math.min(confirmMs.length - 1, Math.ceil(p * confirmMs.length) - 1)]!

    // Per day at RATE events/s, OURS_SHARE of them ours.
    const framesPerDay = RATE * DAY
    const oursPerDay = framesPerDay * OURS_SHARE
    const perFrame = (r: Result, frames: number) => ({
      cpuMs: r.cpuMs / frames,
      bytes: r.bytes / frames,
    })
    const b = perFrame(bare, mixSeq)
    const rl = { cpuMs: relay.cpuMs / mixSeq, bytes: b.bytes } // same stream, same bytes
    const j = perFrame(jet, oursInStream)
    const jb = perFrame(jetBare, oursInStream)
    const idleCoreShare = idle.cpuMs / idle.wallMs
    const rows: [string, number, number, string][] = [
      [
        'bare ws on the relay stream (baseline)',
        b.bytes * framesPerDay,
        b.cpuMs * framesPerDay,
        '',
      ],
      [
        'relay',
        rl.bytes * framesPerDay,
        rl.cpuMs * framesPerDay,
        `${fmt(rl.cpuMs / b.cpuMs)}× bare ws per frame`,
      ],
      [
        'pds (members on one big shared PDS)',
        rl.bytes * framesPerDay,
        rl.cpuMs * framesPerDay,
        'same stream as the relay',
      ],
      [
        'pds (members self-host: their own commits)',
        rl.bytes * oursPerDay,
        rl.cpuMs * oursPerDay,
        'upper bound: relay cost per frame',
      ],
      [
        'bare ws on the filtered Jetstream stream',
        jb.bytes * oursPerDay,
        jb.cpuMs * oursPerDay,
        '',
      ],
      [
        'jetstream (default), confirmations included',
        j.bytes * oursPerDay,
        j.cpuMs * oursPerDay + idleCoreShare * DAY * 1000,
        `${fmt(j.cpuMs)} ms and ${fmt(j.bytes / 1000)} kB per record of ours`,
      ],
    ]
    console.log(
      `\nEvent sources: a replay of ${mixSeq} relay frames (${Math.floor(NOISE / oursEvery)} ours) and ${OURS} more records of ours from ${MEMBERS} members, through a local PDS; per day at ${RATE} events/s with ${OURS_SHARE * 100} % ours (${oursPerDay} records of ours a day)`,
    )
    console.log('| source | MB/day | CPU s/day | % of a core | note |')
    console.log('| --- | --- | --- | --- | --- |')
    for (const [name, bytes, cpuMs, note] of rows) {
      console.log(
        `| ${name} | ${fmt(mb(bytes))} | ${fmt(cpuMs / 1000)} | ${fmt((cpuMs / 1000 / DAY) * 100, 2)} | ${note} |`,
      )
    }
    console.log(
      `relay CPU per frame: ${fmt(rl.cpuMs * 1000)} µs against bare ws ${fmt(b.cpuMs * 1000)} µs (${fmt(rl.cpuMs / b.cpuMs)}×); ` +
        `Jetstream idle (connected, nothing to read, ${IDLE_MS / 1000} s): ${fmt(idleCoreShare * 100, 2)} % of a core, ${idle.bytes} bytes`,
    )
    console.log(
      `confirmation adds to a record's latency (getRecord from the local PDS + proof check, ${confirmMs.length} records): median ${fmt(q(0.5))} ms, p95 ${fmt(q(0.95))} ms; ` +
        `baseline bare ws on the filtered stream: ${fmt(jetBare.wallMs / oursInStream)} ms a record (replay wall time)`,
    )
    await communeDay(net, js, members)
  } finally {
    await js.close()
    await net.close()
  }
}

// --- A 10-member commune's day on Jetstream ---------------------------------------------------
//
// The mix a meshlet of a 10-member commune (one meshlet each) reads in a day, stated:
// - presence: each meshlet that runs replicas rewrites commune.scheduler.presence/self every
//   heartbeat (20 s): 10 × 4,320 = 43,200 a day, each vouching for 2 replicas;
// - each member publishes WORKLOADS_A_DAY workloads (2 replicas each); every meshlet bids on
//   each (10 bids a workload); each replica's status goes starting → running → exited (3 writes
//   of one record); hygiene later deletes the bids, the statuses and the workload.
// The benchmark plays presence rounds (20 s apart in updatedAt, written as fast as the sources
// settle them) and a tenth of a day's other records, live, to two meshlets' sources side by side:
// `plain` (last wave: every record confirmed, no compression) and `lean` (this wave). Bytes =
// wire bytes of the WebSocket (compressed frames) + getRecord answers; per day = per record of
// each kind × the day's count.
const WORKLOADS_A_DAY = 10
const PRESENCE_ROUNDS = Number(process.env.BENCH_PRESENCE_ROUNDS ?? 16)
const HEARTBEAT_S = DEFAULT_CONFIG.heartbeatMs / 1000

interface Report {
  cursor: number
  bytes: number
  httpBytes: number
  cpuMs: number
  counts: { confirmed: number; own: number; refreshed: number; superseded: number }
}

class Meter {
  private waiting?: (r: Report) => void
  constructor(readonly child: ChildProcess) {
    child.on('message', (m: Report & { ready?: boolean }) => {
      if (!m.ready) this.waiting?.(m)
    })
  }
  static async start(args: string[]): Promise<Meter> {
    const child = fork(fileURLToPath(new URL('./source-consumer.ts', import.meta.url)), args, {
      execArgv: ['--import', 'tsx'],
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    })
    await new Promise<void>((resolve) => child.once('message', () => resolve()))
    return new Meter(child)
  }
  report(): Promise<Report> {
    return new Promise((resolve) => {
      this.waiting = resolve
      this.child.send({ report: true })
    })
  }
  /** Waits until the source has settled (confirmed or decided) every event up to `time`. */
  async settled(time: number): Promise<Report> {
    for (;;) {
      const r = await this.report()
      if (r.cursor >= time) return r
      await new Promise((res) => setTimeout(res, 20))
    }
  }
  async stop(): Promise<void> {
    const exited = new Promise((r) => this.child.once('exit', r))
    this.child.send({ stop: true })
    await exited
  }
}

async function communeDay(
  net: Awaited<ReturnType<typeof startNetwork>>,
  js: Awaited<ReturnType<typeof startTestJetstream>>,
  owners: Account[],
): Promise<void> {
  const meshlets: Account[] = []
  for (let i = 0; i < MEMBERS; i++) meshlets.push(await createLocalAccount(net, `mesh${i}.test`))
  const dids = [...owners, ...meshlets].map((a) => a.did).join(',')
  const windowMs = DEFAULT_CONFIG.lostAfterMs
  const common = [js.url, net.plc.url, net.pds.url, dids]
  const plain = await Meter.start(['commune', ...common, 'plain', '0'])
  const lean = await Meter.start(['commune', ...common, 'lean', String(windowMs)])
  const me = meshlets[0]!
  /** A write of `a`'s; meshlet 0's are its own writes, which its source is told of. */
  const write = async (a: Account, collection: string, rkey: string, record: object) => {
    const res = await a.session.put(collection as never, rkey, record as never)
    writes++
    if (a === me) lean.child.send({ wrote: [res.uri, res.cid] })
    return res
  }
  const ours = new Set(dids.split(','))
  const since = Date.now() * 1000
  let writes = 0
  /** Waits until Jetstream has emitted all `writes` of ours, and both sources settled them. */
  const settle = async () => {
    for (;;) {
      const seen = js.matching(
        (e) =>
          e.time_us >= since &&
          ours.has(e.did) &&
          e.commit.collection.startsWith('commune.scheduler.'),
      )
      if (seen.count >= writes)
        return Promise.all([plain.settled(seen.last), lean.settled(seen.last)])
      await new Promise((r) => setTimeout(r, 20))
    }
  }
  const ref = (uri: string) => ({
    uri,
    cid: 'bafyreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku',
  })
  try {
    // Presence: rounds of all ten meshlets, each vouching for two replicas.
    const before = await settle()
    const t0 = Date.now() - PRESENCE_ROUNDS * HEARTBEAT_S * 1000
    for (let round = 0; round < PRESENCE_ROUNDS; round++) {
      await Promise.all(
        meshlets.map((m, i) =>
          write(m, NSID.presence, 'self', {
            state: 'lending',
            replicas: [0, 1].map((r) => ({
              workload: ref(
                `at://${owners[(i + r) % MEMBERS]!.did}/${NSID.workload}/3kzzzzzzzzzz${r}`,
              ),
              round: 0,
            })),
            seq: round,
            intervalMs: DEFAULT_CONFIG.heartbeatMs,
            updatedAt: new Date(t0 + round * HEARTBEAT_S * 1000 + i * 37).toISOString(),
          }),
        ),
      )
      await settle()
    }
    const afterPresence = await settle()
    // A tenth of a day's other records: each member one workload; ten bids on each; two
    // replicas' three statuses; then hygiene deletes them all.
    let others = 0
    for (const owner of owners) {
      writes++
      const wl = await owner.session.create(NSID.workload, {
        name: 'nightly-build',
        image: 'registry.example.org/team/builder:2',
        command: ['sh', '-c', 'make test'],
        resources: { cpuMillis: 500, memoryMiB: 256 },
        replicas: 2,
        bidWindowMs: 5000,
        createdAt: new Date().toISOString(),
      })
      others++
      const rkey = bidRkey(wl.uri, 0, wl.cid)
      for (const m of meshlets) {
        await write(m, NSID.bid, rkey, {
          workload: { uri: wl.uri, cid: wl.cid },
          round: 0,
          priority: 1000,
          offer: { cpuMillis: 500, memoryMiB: 256 },
          createdAt: new Date().toISOString(),
        })
        others++
      }
      await settle()
      for (const m of meshlets.slice(0, 2)) {
        for (const state of ['starting', 'running', 'exited']) {
          await write(m, NSID.workloadStatus, rkey, {
            workload: { uri: wl.uri, cid: wl.cid },
            round: 0,
            state,
            ...(state === 'exited' ? { exitCode: 0 } : {}),
            updatedAt: new Date().toISOString(),
          })
          others++
          await settle()
        }
      }
      for (const m of meshlets) {
        await m.session.delete(NSID.bid, rkey)
        writes++
        others++
      }
      for (const m of meshlets.slice(0, 2)) {
        await m.session.delete(NSID.workloadStatus, rkey)
        writes++
        others++
      }
      await owner.session.delete(NSID.workload, wl.uri.split('/').pop()!)
      writes++
      others++
      await settle()
    }
    const end = await settle()
    const presenceSample = PRESENCE_ROUNDS * MEMBERS
    const presenceDay = MEMBERS * (DAY / HEARTBEAT_S)
    const othersDay = (others * (WORKLOADS_A_DAY * MEMBERS)) / owners.length
    const bytesOf = (r: Report) => r.bytes + r.httpBytes
    const perDay = (i: number) => {
      const [b, p, e] = [before[i]!, afterPresence[i]!, end[i]!]
      const presence = ((bytesOf(p) - bytesOf(b)) / presenceSample) * presenceDay
      const rest = ((bytesOf(e) - bytesOf(p)) / others) * othersDay
      const cpu =
        ((p.cpuMs - b.cpuMs) / presenceSample) * presenceDay +
        ((e.cpuMs - p.cpuMs) / others) * othersDay
      const http =
        ((p.httpBytes - b.httpBytes) / presenceSample) * presenceDay +
        ((e.httpBytes - p.httpBytes) / others) * othersDay
      return { presence, rest, total: presence + rest, cpu, http, counts: e.counts }
    }
    const [pl, ln] = [perDay(0), perDay(1)]
    console.log(
      `\nJetstream on a ${MEMBERS}-member commune (one meshlet each), per day: ${presenceDay} presence records (every ${HEARTBEAT_S} s per meshlet) + ${Math.round(othersDay)} others (${WORKLOADS_A_DAY} workloads a member: bids from every meshlet, 3 statuses of 2 replicas, hygiene deletes); measured on ${presenceSample} presence records and ${others} others, live through a local PDS`,
    )
    console.log('| source | MB/day | of which presence | of which getRecord | CPU s/day | note |')
    console.log('| --- | --- | --- | --- | --- | --- |')
    const row = (name: string, r: typeof pl, note: string) =>
      console.log(
        `| ${name} | ${fmt(mb(r.total))} | ${fmt(mb(r.presence))} | ${fmt(mb(r.http))} | ${fmt(r.cpu / 1000)} | ${note} |`,
      )
    const c = ln.counts
    row('plain (last wave: every record confirmed, uncompressed)', pl, 'baseline')
    row(
      'lean (this wave: own echoes, presence refreshes, permessage-deflate)',
      ln,
      `${fmt(ln.total / pl.total, 2)}× the baseline; of the sample: ${c.confirmed} confirmed, ${c.refreshed} refreshes, ${c.own} own echoes, ${c.superseded} superseded`,
    )
  } finally {
    await plain.stop()
    await lean.stop()
  }
}

function wsOf(url: string): string {
  return url.replace(/^http/, 'ws')
}

async function lastSeq(pds: string): Promise<number> {
  // The sequencer's head: read the whole stream once from the start is what consumers do, so
  // ask the PDS for its latest event through a short-lived subscription.
  const { default: WebSocket } = await import('ws')
  return new Promise((resolve) => {
    const ws = new WebSocket(`${wsOf(pds)}/xrpc/com.atproto.sync.subscribeRepos?cursor=0`)
    let frames = 0
    let timer: NodeJS.Timeout
    ws.on('message', () => {
      frames++
      clearTimeout(timer)
      timer = setTimeout(() => {
        ws.close()
        resolve(frames)
      }, 300)
    })
  })
}

await main()
