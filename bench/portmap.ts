// `npm run bench`: what asking the home router for a port mapping (core/portmap) costs.
// - Memory: the RSS a fresh process gains by importing @achingbrain/nat-port-mapper, with the
//   daemon's flags (bin/meshlet.js) and after what a daemon serving XRPC has loaded anyway
//   (node:http, node:https, node:dgram, fetch), beside the same process importing nothing.
// - Time: openPortMapping without a router (what every machine without UPnP/NAT-PMP pays once
//   per attempt) beside its configured timeout, and with a real router (miniupnpd, in the
//   network namespaces of tests/support/netns-router.ts: needs root).
import { spawnSync } from 'node:child_process'
import { DEFAULT_TIMEOUT_MS } from '../core/portmap/index.js'
import { RouterLab } from '../tests/support/netns-router.js'

const RUNS = Number(process.env.BENCH_PORTMAP_RUNS ?? 3)
const ROOT = new URL('..', import.meta.url).pathname
const CLIENT = new URL('../tests/support/portmap-client.ts', import.meta.url).pathname

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!

const PROBE = `
import { readFileSync } from 'node:fs'
const rss = () => {
  const s = readFileSync('/proc/self/status', 'utf8')
  const kb = (n) => Number(new RegExp(n + ':\\\\s+(\\\\d+)').exec(s)[1])
  return { anon: kb('RssAnon') / 1024, file: kb('RssFile') / 1024 }
}
const settle = async () => { for (let i = 0; i < 3; i++) { gc(); await new Promise((r) => setTimeout(r, 100)) } }
for (const m of ['node:http', 'node:https', 'node:dgram']) await import(m)
await (await fetch('data:,x')).text()
await settle()
const a = rss()
if (process.argv[1] === 'lib') await import('@achingbrain/nat-port-mapper')
await settle()
const b = rss()
console.log(JSON.stringify({ anon: b.anon - a.anon, file: b.file - a.file }))
`

function importCost(what: 'lib' | 'nothing'): { anon: number; file: number } {
  const flags = ['--max-semi-space-size=2', '--v8-pool-size=1', '--liftoff-only', '--expose-gc']
  const r = spawnSync(process.execPath, [...flags, '--input-type=module', '-e', PROBE, what], {
    cwd: ROOT,
    env: { ...process.env, MALLOC_ARENA_MAX: '2' },
    encoding: 'utf8',
  })
  if (r.status !== 0) throw new Error(`probe failed: ${r.stderr}`)
  return JSON.parse(r.stdout) as { anon: number; file: number }
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
  const lib: { anon: number; file: number }[] = []
  const none: { anon: number; file: number }[] = []
  for (let i = 0; i < RUNS; i++) {
    lib.push(importCost('lib'))
    none.push(importCost('nothing'))
  }
  const f = (x: number) => x.toFixed(1)
  const la = median(lib.map((x) => x.anon))
  const lf = median(lib.map((x) => x.file))
  const na = median(none.map((x) => x.anon))
  const nf = median(none.map((x) => x.file))
  console.log(
    `portmap import: RSS +${f(la + lf)} MiB (anon +${f(la)}, file +${f(lf)}) ` +
      `vs baseline (no import) +${f(na + nf)} MiB; net +${f(la + lf - na - nf)} MiB ` +
      `(median of ${RUNS}, daemon flags, http/https/dgram/fetch already loaded)`,
  )

  const lab = await RouterLab.create()
  try {
    const noRouter: number[] = []
    for (let i = 0; i < RUNS; i++) noRouter.push((await openOnce(lab)).ms)
    await lab.startRouter({})
    const withRouter: number[] = []
    for (let i = 0; i < RUNS; i++) {
      const r = await openOnce(lab)
      if (r.url === null) throw new Error('no mapping with the router running')
      withRouter.push(r.ms)
    }
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
