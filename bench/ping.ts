// `npm run bench`: what liveness by challenge costs in CPU instead of writes. A meshlet that
// serves its API (the default) is pinged by each peer every 2 s (core/liveness), and pings each
// peer that runs its replicas as often: 43,200 exchanges a day per pair, each direction. Measured
// here in one process over loopback, both sides included: the real farm.meshlet.ping front
// (core/xrpc/server.ts) asked by the real prober's `ping` (core/liveness/prober.ts), beside a
// bare node:http server answering the same bytes to a bare http.get on a keep-alive agent, in the
// same run. Prints CPU µs per exchange, the ratio, and CPU seconds a day for a commune of 5.
import { createServer, get, Agent } from 'node:http'
import type { AddressInfo } from 'node:net'
import { ping } from '../core/liveness/prober.js'
import { serveXrpc } from '../core/xrpc/server.js'

const N = Number(process.env.BENCH_PINGS ?? 3000)
const ROUNDS = 3
const PER_PAIR_PER_DAY = (24 * 3600) / 2
const DID = 'did:plc:benchmeshlet'

async function cpuPer(n: number, once: () => Promise<unknown>): Promise<number> {
  for (let i = 0; i < 200; i++) await once() // warm up: JIT, sockets
  const start = process.cpuUsage()
  for (let i = 0; i < n; i++) await once()
  const used = process.cpuUsage(start)
  return (used.user + used.system) / n
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!

const server = await serveXrpc({
  host: { self: () => ({ meshlet: DID, owner: 'did:plc:benchowner' }) } as never,
  identity: { resolveDid: async () => undefined } as never,
  port: 0,
  // One address asks thousands of times a second here; peers ask every 2 s.
  pingLimit: { limit: Number.MAX_SAFE_INTEGER, windowMs: 1_000, maxKeys: 10 },
})
const body = JSON.stringify({ meshlet: DID })
const bare = createServer((_req, res) => {
  res.writeHead(200, { 'content-type': 'application/json; charset=utf-8' })
  res.end(body)
})
await new Promise<void>((r) => bare.listen(0, '127.0.0.1', r))
const bareUrl = `http://127.0.0.1:${(bare.address() as AddressInfo).port}/xrpc/farm.meshlet.ping`
const agent = new Agent({ keepAlive: true })
const bareGet = () =>
  new Promise<void>((resolve, reject) => {
    get(bareUrl, { agent }, (res) => {
      res.resume()
      res.on('end', resolve)
    }).on('error', reject)
  })
const real = async () => {
  const who = await ping(server.url, AbortSignal.timeout(2_000))
  if (who !== DID) throw new Error(`ping answered ${String(who)}`)
}

const ours: number[] = []
const baseline: number[] = []
for (let r = 0; r < ROUNDS; r++) {
  ours.push(await cpuPer(N, real))
  baseline.push(await cpuPer(N, bareGet))
}
await server.close()
bare.close()
agent.destroy()

const us = median(ours)
const base = median(baseline)
const perDay = (peers: number) => (us * PER_PAIR_PER_DAY * peers * 2) / 1e6
console.log(
  `\nLiveness pings: CPU per exchange, both sides, ${N} exchanges × ${ROUNDS} rounds, median`,
)
console.log(`farm.meshlet.ping (prober → front)   ${us.toFixed(1)} µs`)
console.log(`bare http.get → node:http            ${base.toFixed(1)} µs`)
console.log(`ratio ping / bare: ${(us / base).toFixed(2)}×`)
console.log(
  `a meshlet among 5 (4 peers, each pinging it and pinged by it every 2 s): ` +
    `${perDay(4).toFixed(0)} CPU-s a day, ${((perDay(4) / 86400) * 100).toFixed(3)} % of a core`,
)
