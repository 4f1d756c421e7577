// The prober's ping, against real loopback servers: only a well-formed answer of a DID counts;
// anything else (an error status, a redirect, garbage, an answer too long to be one, silence past
// the deadline) is silence, and none of it throws.
import { createServer, type RequestListener, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { afterEach, describe, expect, it } from 'vitest'
import { ping, Prober } from '../../../core/liveness/prober.js'

const servers: Server[] = []
afterEach(async () => {
  for (const s of servers.splice(0)) {
    s.closeAllConnections()
    await new Promise((r) => s.close(r))
  }
})

async function serve(handler: RequestListener): Promise<string> {
  const server = createServer(handler)
  servers.push(server)
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`
}

const json =
  (status: number, body: string): RequestListener =>
  (_req, res) => {
    res.writeHead(status, { 'content-type': 'application/json' })
    res.end(body)
  }

const soon = () => AbortSignal.timeout(2_000)

describe('ping (the prober’s side of farm.meshlet.ping)', () => {
  it('answers the DID a meshlet gives, asking the lexicon’s path with GET', async () => {
    let asked = ''
    const url = await serve((req, res) => {
      asked = `${req.method} ${req.url}`
      json(200, '{"meshlet":"did:plc:abc"}')(req, res)
    })
    expect(await ping(url, soon())).toBe('did:plc:abc')
    expect(asked).toBe('GET /xrpc/farm.meshlet.ping')
  })

  it('is silence on an error status, a redirect, garbage or an answer without a DID', async () => {
    for (const handler of [
      json(503, '{"error":"NotEnoughResources"}'),
      json(429, '{"error":"RateLimitExceeded"}'),
      json(200, 'not json'),
      json(200, '{"meshlet":42}'),
      json(200, 'null'),
      ((_req, res) => {
        res.writeHead(302, { location: 'http://127.0.0.1:1/xrpc/farm.meshlet.ping' })
        res.end()
      }) satisfies RequestListener,
    ]) {
      expect(await ping(await serve(handler), soon())).toBeUndefined()
    }
  })

  it('does not read an answer longer than a meshlet’s', async () => {
    const url = await serve((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' })
      res.write(`{"meshlet":"did:plc:${'a'.repeat(64 * 1024)}`)
      // Never ends: the reader must stop on size, not on the end of the body.
    })
    expect(await ping(url, soon())).toBeUndefined()
  })

  it('rejects (which the prober counts as silence) when the host does not answer in time', async () => {
    const url = await serve(() => undefined) // takes the request, never answers
    await expect(ping(url, AbortSignal.timeout(200))).rejects.toThrow()
  })

  it('rejects on a refused connection', async () => {
    const url = await serve(json(200, '{}'))
    const port = new URL(url).port
    const server = servers.pop()!
    await new Promise((r) => server.close(r))
    await expect(ping(`http://127.0.0.1:${port}`, soon())).rejects.toThrow()
  })
})

/** A prober of `targets` on a clock the test sets, counting its rounds. */
function probing(targets: Map<string, string[]>) {
  const clock = { t: 1_000 }
  let rounds = 0
  const prober = new Prober({
    targets: () => targets,
    onRound: () => rounds++,
    everyMs: 20,
    timeoutMs: 2_000,
    now: () => clock.t,
  })
  prober.start()
  const roundsAtLeast = (n: number) =>
    expect.poll(() => rounds, { timeout: 5_000 }).toBeGreaterThanOrEqual(n)
  return { prober, clock, roundsAtLeast }
}

describe('Prober with alternates', () => {
  it('counts an answer at an alternate when the endpoint is silent, then asks that one alone', async () => {
    const host = 'did:plc:host'
    const asked = { dead: 0, alive: 0 }
    const dead = await serve((_req, res) => {
      asked.dead++
      res.writeHead(503)
      res.end()
    })
    const alive = await serve((req, res) => {
      asked.alive++
      json(200, JSON.stringify({ meshlet: host }))(req, res)
    })
    const { prober, clock, roundsAtLeast } = probing(new Map([[host, [dead, alive]]]))
    await roundsAtLeast(1)
    clock.t = 5_000
    const before = { ...asked }
    await roundsAtLeast(4)
    await prober.stop()
    expect(prober.silentSince(host)).toBe(5_000) // answered, at the alternate
    // Once the alternate answered it is asked alone: the silent endpoint no more.
    expect(asked.dead - before.dead).toBeLessThanOrEqual(1)
    expect(asked.alive - before.alive).toBeGreaterThanOrEqual(2)
  })

  it('is silence when no origin answers as the host', async () => {
    const other = await serve(json(200, JSON.stringify({ meshlet: 'did:plc:someoneelse' })))
    const { prober, clock, roundsAtLeast } = probing(new Map([['did:plc:host', [other]]]))
    await roundsAtLeast(1)
    clock.t = 9_000
    await roundsAtLeast(3)
    await prober.stop()
    expect(prober.silentSince('did:plc:host')).toBe(1_000)
  })
})
