// The reachability probe against a real HTTP server: silent while nothing failed, probing with
// back-off after a failure, quiet again once the service answers.
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { afterEach, describe, expect, it } from 'vitest'
import { ReachabilityProbe, type Reachability } from '../../core/reachability.js'

let server: Server | undefined
let probe: ReachabilityProbe | undefined

afterEach(async () => {
  probe?.close()
  await new Promise((r) => server?.close(r) ?? r(undefined))
  server = undefined
})

/** A service whose /xrpc/_health answers while `healthy`, and otherwise drops the connection. */
async function service(): Promise<{ url: string; hits: () => number; heal: () => void }> {
  let hits = 0
  let healthy = false
  server = createServer((req, res) => {
    if (req.url !== '/xrpc/_health') return void res.writeHead(404).end()
    hits++
    if (healthy) res.writeHead(200, { 'content-type': 'application/json' }).end('{}')
    else req.socket.destroy()
  })
  await new Promise<void>((r) => server!.listen(0, '127.0.0.1', r))
  const { port } = server.address() as AddressInfo
  return { url: `ws://127.0.0.1:${port}`, hits: () => hits, heal: () => (healthy = true) }
}

function waitFor(check: () => boolean): Promise<void> {
  return new Promise((resolve) => {
    const poll = setInterval(() => {
      if (check()) {
        clearInterval(poll)
        resolve()
      }
    }, 10)
  })
}

describe('ReachabilityProbe', () => {
  it('asks nothing until something fails', async () => {
    const s = await service()
    const states: Reachability[] = []
    probe = new ReachabilityProbe({ url: s.url, onChange: (st) => states.push(st), initialMs: 20 })
    await new Promise((r) => setTimeout(r, 300))
    expect(s.hits()).toBe(0)
    expect(states).toEqual([])
  })

  it('after a failure, probes with back-off until the service answers, then stops', async () => {
    const s = await service()
    const states: Reachability[] = []
    probe = new ReachabilityProbe({
      url: s.url,
      onChange: (st) => states.push(st),
      initialMs: 50,
      maxMs: 400,
    })
    expect(probe.host).toMatch(/^127\.0\.0\.1:\d+$/)
    probe.suspect()
    probe.suspect() // a burst of failures makes one probe, not one each
    await waitFor(() => states.length >= 1)
    expect(states[0]).toMatchObject({ reachable: false })
    expect((states[0] as { detail: string }).detail).toMatch(/fetch failed/)
    // Delays of 50, 100, 200, 400, 400… ms: within 1.5 s at most about seven probes, where a
    // fixed 50 ms timer would have made thirty.
    await new Promise((r) => setTimeout(r, 1500))
    expect(s.hits()).toBeGreaterThanOrEqual(3)
    expect(s.hits()).toBeLessThanOrEqual(8)
    s.heal()
    await waitFor(() => states.at(-1)?.reachable === true)
    const settled = s.hits()
    await new Promise((r) => setTimeout(r, 1000))
    expect(s.hits()).toBe(settled)
    expect(states.filter((st) => st.reachable)).toHaveLength(1)
  })

  it('stops probing when closed', async () => {
    const s = await service()
    probe = new ReachabilityProbe({ url: s.url, onChange: () => undefined, initialMs: 20 })
    probe.suspect()
    await waitFor(() => s.hits() >= 1)
    probe.close()
    const at = s.hits()
    await new Promise((r) => setTimeout(r, 300))
    expect(s.hits()).toBeLessThanOrEqual(at + 1)
  })
})
