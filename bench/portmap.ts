// `npm run bench`: what asking the home router for a port mapping (core/portmap) costs.
// - Memory: the RSS a fresh process gains, with the daemon's flags (bin/meshlet.js) and after what
//   a daemon serving XRPC has loaded anyway (node:http, node:https, node:dgram, fetch, the
//   TypeScript loader), by holding a mapping open with a real router (the library runs in a child
//   process per exchange), beside importing @achingbrain/nat-port-mapper in the process itself
//   (what it cost before), beside the same process doing nothing.
// - Time: openPortMapping without a router (what every machine without UPnP/NAT-PMP pays once
//   per attempt) beside its configured timeout, and with a real router (miniupnpd, in the
//   network namespaces of tests/support/netns-router.ts: needs root); each exchange's child
//   process (start, library, router) by its wall time.
import { DEFAULT_TIMEOUT_MS } from '../core/portmap/index.js'
import { RouterLab, WAN_ROUTER_IP } from '../tests/support/netns-router.js'

const RUNS = Number(process.env.BENCH_PORTMAP_RUNS ?? 3)
const ROOT = new URL('..', import.meta.url).pathname
const CLIENT = new URL('../tests/support/portmap-client.ts', import.meta.url).pathname

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!

type Mode = 'lib' | 'nothing' | 'mapping'
interface Probe {
  anon: number
  file: number
  url?: string | null
  grantMs?: number
  releaseMs?: number
}

const PROBE = `
import { readFileSync } from 'node:fs'
const rss = () => {
  const s = readFileSync('/proc/self/status', 'utf8')
  const kb = (n) => Number(new RegExp(n + ':\\\\s+(\\\\d+)').exec(s)[1])
  return { anon: kb('RssAnon') / 1024, file: kb('RssFile') / 1024 }
}
const settle = async () => { for (let i = 0; i < 3; i++) { gc(); await new Promise((r) => setTimeout(r, 100)) } }
const mode = process.argv[1]
for (const m of ['node:http', 'node:https', 'node:dgram']) await import(m)
await (await fetch('data:,x')).text()
const { installTypeScriptLoader } = await import('./bin/ts-loader.js')
installTypeScriptLoader()
await settle()
const a = rss()
const out = {}
let mapping
if (mode === 'lib') await import('@achingbrain/nat-port-mapper')
if (mode === 'mapping') {
  const { openPortMapping } = await import('./core/portmap/index.ts')
  const { silentLogger } = await import('./core/log.ts')
  let t = performance.now()
  mapping = await openPortMapping({ internalPort: 8080, log: silentLogger })
  out.grantMs = performance.now() - t
  out.url = mapping?.externalUrl ?? null
}
await settle()
const b = rss()
if (mapping) {
  const t = performance.now()
  await mapping.close()
  out.releaseMs = performance.now() - t
}
console.log(JSON.stringify({ ...out, anon: b.anon - a.anon, file: b.file - a.file }))
process.exit(0)
`

/** One probe in the lab's client namespace (behind the router, when it runs). */
async function probe(lab: RouterLab, mode: Mode): Promise<Probe> {
  const flags = ['--max-semi-space-size=2', '--v8-pool-size=1', '--liftoff-only', '--expose-gc']
  const child = lab.spawnInClient(
    'env',
    ['MALLOC_ARENA_MAX=2', process.execPath, ...flags, '--input-type=module', '-e', PROBE, mode],
    ROOT,
  )
  let stdout = ''
  let stderr = ''
  child.stdout!.on('data', (d: Buffer) => (stdout += d.toString()))
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()))
  const code = await new Promise((resolve) => child.once('exit', resolve))
  if (code !== 0) throw new Error(`probe ${mode} failed: ${stderr}`)
  return JSON.parse(stdout.trim().split('\n').pop()!) as Probe
}

async function openOnce(lab: RouterLab): Promise<{ ms: number; url: string | null }> {
  const child = lab.spawnInClient(
    process.execPath,
    ['--import', 'tsx', CLIENT, JSON.stringify({ internalPort: 8080 })],
    ROOT,
  )
  let out = ''
  const result = new Promise<{ ms: number; url: string | null }>((resolve, reject) => {
    child.stdout!.on('data', (d: Buffer) => {
      out += d.toString()
      const line = out.split('\n').find((l) => l.includes('"event":"result"'))
      if (line) {
        child.stdin!.write('close\nexit\n')
        resolve(JSON.parse(line) as { ms: number; url: string | null })
      }
    })
    child.once('exit', () => reject(new Error(`client exited early: ${out}`)))
  })
  const r = await result
  await new Promise((resolve) =>
    child.exitCode !== null ? resolve(0) : child.once('exit', resolve),
  )
  return r
}

async function main(): Promise<void> {
  const f = (x: number) => x.toFixed(1)
  const total = (xs: Probe[]) => median(xs.map((x) => x.anon + x.file))
  const lab = await RouterLab.create()
  try {
    await lab.startRouter({})
    const lib: Probe[] = []
    const none: Probe[] = []
    const mapped: Probe[] = []
    for (let i = 0; i < RUNS; i++) {
      lib.push(await probe(lab, 'lib'))
      none.push(await probe(lab, 'nothing'))
      const m = await probe(lab, 'mapping')
      if (m.url !== `http://${WAN_ROUTER_IP}:8080`) throw new Error(`no mapping: ${m.url}`)
      mapped.push(m)
    }
    const [l, n, m] = [total(lib), total(none), total(mapped)]
    console.log(
      `portmap parent RSS with a mapping open (library in a child per exchange): +${f(m)} MiB ` +
        `(anon +${f(median(mapped.map((x) => x.anon)))}, file +${f(median(mapped.map((x) => x.file)))}) ` +
        `vs importing the library in-process (before) +${f(l)} MiB ` +
        `(anon +${f(median(lib.map((x) => x.anon)))}, file +${f(median(lib.map((x) => x.file)))}) ` +
        `vs baseline (nothing) +${f(n)} MiB; net +${f(m - n)} vs +${f(l - n)} MiB ` +
        `(median of ${RUNS}, daemon flags, http/https/dgram/fetch/ts-loader already loaded)`,
    )
    const grant = median(mapped.map((x) => x.grantMs!))
    const release = median(mapped.map((x) => x.releaseMs!))
    console.log(
      `portmap child per exchange (UPnP, miniupnpd): grant ${grant.toFixed(0)} ms, ` +
        `release ${release.toFixed(0)} ms (median of ${RUNS}; wall time of the parent's call, ` +
        `child start and library load included)`,
    )

    const withRouter: number[] = []
    for (let i = 0; i < RUNS; i++) {
      const r = await openOnce(lab)
      if (r.url === null) throw new Error('no mapping with the router running')
      withRouter.push(r.ms)
    }
    await lab.stopRouter()
    const noRouter: number[] = []
    for (let i = 0; i < RUNS; i++) noRouter.push((await openOnce(lab)).ms)
    const nr = median(noRouter)
    console.log(
      `portmap no router: ${nr} ms (median of ${RUNS}) vs timeout ${DEFAULT_TIMEOUT_MS} ms: ` +
        `ratio ${(nr / DEFAULT_TIMEOUT_MS).toFixed(2)}`,
    )
    console.log(
      `portmap with a router (UPnP, miniupnpd): ${median(withRouter)} ms to a mapping ` +
        `(median of ${RUNS}; ratio to no router ${(median(withRouter) / nr).toFixed(2)})`,
    )
  } finally {
    await lab.destroy()
  }
}

await main()
