// core/portmap runs @achingbrain/nat-port-mapper in a short-lived child process per exchange
// (core/portmap/child.ts): the process that maps never loads the library, through a grant, a
// renewal and a release with a real router; and a child that hangs, crashes, floods or prints
// nonsense is killed or ends as a named reason, never an exception.
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { Logger } from '../../../core/log.js'
import { openPortMapping } from '../../../core/portmap/index.js'
import { RouterLab, WAN_ROUTER_IP } from '../../support/netns-router.js'

const ROOT = new URL('../../../', import.meta.url).pathname

// Run in the lab's client namespace: records every module the process resolves from
// @achingbrain/*, maps with the real router, waits for a renewal, closes; then imports the
// library itself, which the hook must see (the control).
const NO_LIB_SCRIPT = `
import { registerHooks } from 'node:module'
import { createServer } from 'node:http'
let loaded = []
registerHooks({ resolve(s, c, next) { const r = next(s, c); if (r.url.includes('/node_modules/@achingbrain/')) loaded.push(r.url); return r } })
const { installTypeScriptLoader } = await import('./bin/ts-loader.js')
installTypeScriptLoader()
const { openPortMapping } = await import('./core/portmap/index.ts')
const { jsonLogger } = await import('./core/log.ts')
const events = []
const log = jsonLogger((line) => events.push(JSON.parse(line).event), { level: 'debug' })
const server = createServer((_q, s) => s.end('hi'))
await new Promise((r) => server.listen(8080, '0.0.0.0', r))
const out = {}
const m = await openPortMapping({ internalPort: 8080, log, leaseMs: 1000 })
out.url = m?.externalUrl ?? null
while (!events.includes('portmap.renewed')) await new Promise((r) => setTimeout(r, 50))
await m?.close()
out.events = events
out.loaded = loaded.length
await import('@achingbrain/nat-port-mapper')
out.control = loaded.length
server.close()
console.log(JSON.stringify(out))
process.exit(0)
`

describe('the router exchange runs in a child process', () => {
  it('the mapping process never loads the library: grant, renewal and release all happen in children', async () => {
    const lab = await RouterLab.create()
    try {
      await lab.startRouter({})
      const child = lab.spawnInClient(
        process.execPath,
        ['--input-type=module', '-e', NO_LIB_SCRIPT],
        ROOT,
      )
      let stdout = ''
      let stderr = ''
      child.stdout!.on('data', (d: Buffer) => (stdout += d.toString()))
      child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()))
      const code = await new Promise((resolve) => child.once('exit', resolve))
      expect(code, stderr).toBe(0)
      const out = JSON.parse(stdout.trim().split('\n').pop()!) as {
        url: string | null
        events: string[]
        loaded: number
        control: number
      }
      expect(out.url).toBe(`http://${WAN_ROUTER_IP}:8080`)
      expect(out.events).toEqual(
        expect.arrayContaining(['portmap.open', 'portmap.renewed', 'portmap.closed']),
      )
      expect(out.events).not.toContain('portmap.release-failed')
      // The release went through the router too.
      expect(await lab.forwards()).toEqual([])
      expect(out.loaded).toBe(0)
      expect(out.control).toBeGreaterThan(0)
    } finally {
      await lab.destroy()
    }
  })
})

describe('a child that misbehaves', () => {
  let dir: string
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'portmap-child-'))
  })
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true })
  })

  /** A child entry with this body (an ES module; the request is process.argv.at(-1)). */
  async function entry(name: string, body: string): Promise<string> {
    const path = join(dir, `${name}.mjs`)
    await writeFile(path, body)
    return path
  }

  function capture(): { log: Logger; lines: Record<string, unknown>[] } {
    const lines: Record<string, unknown>[] = []
    return {
      lines,
      log: { log: (level, event, fields) => lines.push({ level, event, ...fields }) },
    }
  }

  const unavailable = (lines: Record<string, unknown>[]) =>
    lines.filter((l) => l.event === 'portmap.unavailable')

  function alive(pid: number): boolean {
    try {
      process.kill(pid, 0)
      return true
    } catch {
      return false
    }
  }

  it('one that hangs (and ignores SIGTERM) is killed past its deadline: no-router', async () => {
    const exchangeEntry = await entry(
      'hang',
      `process.on('SIGTERM', () => {}); process.stderr.write('pid ' + process.pid + '\\n'); setInterval(() => {}, 1000)`,
    )
    const { log, lines } = capture()
    // Killed after the grant's worst case (4 timeouts) plus the start allowance.
    const mapping = await openPortMapping({ internalPort: 8080, log, timeoutMs: 50, exchangeEntry })
    expect(mapping).toBeUndefined()
    const [why] = unavailable(lines)
    expect(why).toMatchObject({ reason: 'no-router', detail: 'exchange: no answer within 5200 ms' })
    const stderr = lines.find((l) => l.event === 'portmap.child-stderr')
    expect(stderr).toMatchObject({ level: 'debug', op: 'grant' })
    const pid = Number(/^pid (\d+)$/.exec(String(stderr!.stderr))![1])
    expect(alive(pid)).toBe(false)
  })

  it('aborting while a child hangs: SIGTERM, then killed after a grace of one timeout: aborted', async () => {
    const exchangeEntry = await entry(
      'hang-term',
      `process.on('SIGTERM', () => process.stderr.write('term\\n')); setInterval(() => {}, 1000)`,
    )
    const { log, lines } = capture()
    const abort = new AbortController()
    setTimeout(() => abort.abort(), 300)
    const mapping = await openPortMapping({
      internalPort: 8080,
      log,
      timeoutMs: 200,
      signal: abort.signal,
      exchangeEntry,
    })
    expect(mapping).toBeUndefined()
    expect(unavailable(lines)).toEqual([
      { level: 'info', event: 'portmap.unavailable', reason: 'aborted' },
    ])
    expect(lines.find((l) => l.event === 'portmap.child-stderr')).toMatchObject({ stderr: 'term' })
  })

  it.each([
    ['prints garbage', `console.log('not json')`, 'exchange: exited with no result in its output'],
    [
      'prints two lines',
      `console.log('{}'); console.log('{}')`,
      'exchange: exited with no result in its output',
    ],
    ['prints nothing', ``, 'exchange: exited with no output'],
    ['crashes', `throw new Error('boom')`, 'exchange: exited with no output'],
    [
      'floods its output',
      `process.stdout.write('x'.repeat(100_000)); setInterval(() => {}, 1000)`,
      'exchange: more than 16384 bytes of output',
    ],
    [
      'answers a wrong shape',
      `console.log(JSON.stringify({ ok: true, grant: { protocol: 'upnp', externalIp: 'x' } }))`,
      'exchange: not a result',
    ],
    [
      'answers an unknown reason',
      `console.log(JSON.stringify({ ok: false, reason: 'because' }))`,
      'exchange: not a result',
    ],
    [
      'grants a port out of range',
      `console.log(JSON.stringify({ ok: true, grant: { protocol: 'upnp', externalIp: '11.78.1.1', externalPort: 70000, gatewayHost: '10.77.1.1' } }))`,
      'exchange: not a result',
    ],
  ])('one that %s: refused, with what happened', async (_name, body, detail) => {
    const exchangeEntry = await entry(_name.replaceAll(' ', '-'), body)
    const { log, lines } = capture()
    const mapping = await openPortMapping({
      internalPort: 8080,
      log,
      timeoutMs: 1_000,
      exchangeEntry,
    })
    expect(mapping).toBeUndefined()
    expect(unavailable(lines)).toEqual([
      { level: 'info', event: 'portmap.unavailable', reason: 'refused', detail },
    ])
  })

  it('a child that cannot start: refused, not an exception', async () => {
    const { log, lines } = capture()
    const mapping = await openPortMapping({
      internalPort: 8080,
      log,
      timeoutMs: 1_000,
      exchangeEntry: join(dir, 'missing.mjs'),
    })
    expect(mapping).toBeUndefined()
    expect(unavailable(lines)).toMatchObject([{ reason: 'refused' }])
    // Node says why on stderr: that reaches the debug log, trimmed.
    const stderr = lines.find((l) => l.event === 'portmap.child-stderr')
    expect(String(stderr?.stderr)).toMatch(/Cannot find module/)
  })

  it("logs at most the end of a child's stderr", async () => {
    const exchangeEntry = await entry(
      'chatty',
      `process.stderr.write('a'.repeat(5_000) + 'THE END\\n'); console.log(JSON.stringify({ ok: false, reason: 'no-router' }))`,
    )
    const { log, lines } = capture()
    const mapping = await openPortMapping({
      internalPort: 8080,
      log,
      timeoutMs: 1_000,
      exchangeEntry,
    })
    expect(mapping).toBeUndefined()
    // What the child answered is taken as it is.
    expect(unavailable(lines)).toEqual([
      { level: 'info', event: 'portmap.unavailable', reason: 'no-router' },
    ])
    const stderr = String(lines.find((l) => l.event === 'portmap.child-stderr')?.stderr)
    expect(stderr.length).toBeLessThanOrEqual(1_000)
    expect(stderr.endsWith('aTHE END')).toBe(true)
  })
})
