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
import { fork } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { NSID } from '../core/lexicon/index.js'
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
  } finally {
    await js.close()
    await net.close()
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
