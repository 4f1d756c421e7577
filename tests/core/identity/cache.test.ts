// Identity caching against a real PLC, with the requests counted at the PLC's door: a burst of
// look-ups for one DID makes one request, a DID that does not resolve is not asked again at
// once, and documents kept on disk serve the next run without any request.
import { createServer, request, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { IdentityResolver } from '../../../core/identity/resolver.js'
import { NSID } from '../../../core/lexicon/index.js'
import { RepoReader } from '../../../core/repo/reader.js'
import { RecordSync, type RecordEvent } from '../../../core/sync/index.js'
import { createAccount, eventually, startNetwork, type Account, type Network } from '../../_util.js'

let net: Network
let alice: Account
let proxy: Server
let plcUrl: string
let dir: string
/** Requests that reached the PLC, by path. */
const seen: string[] = []

beforeAll(async () => {
  net = await startNetwork()
  alice = await createAccount(net, 'alice')
  dir = await mkdtemp(join(tmpdir(), 'meshlet-idcache-'))
  const target = new URL(net.plc.url)
  proxy = createServer((req, res) => {
    seen.push(req.url ?? '')
    const up = request(
      {
        host: target.hostname,
        port: target.port,
        path: req.url,
        method: req.method,
        headers: req.headers,
      },
      (r) => {
        res.writeHead(r.statusCode ?? 502, r.headers)
        r.pipe(res)
      },
    )
    up.on('error', () => res.destroy())
    req.pipe(up)
  })
  await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', resolve))
  plcUrl = `http://127.0.0.1:${(proxy.address() as AddressInfo).port}`
})

afterAll(async () => {
  await new Promise<void>((resolve) => proxy?.close(() => resolve()))
  await net?.close()
  await rm(dir, { recursive: true, force: true })
})

const identity = (cacheFile?: string) =>
  new IdentityResolver({
    plcUrl,
    handleResolverUrl: net.pds.url,
    allowPrivateNetwork: true,
    ...(cacheFile ? { cacheFile } : {}),
  })

const requestsFor = (did: string) =>
  seen.filter((p) => p.includes(encodeURIComponent(did)) || p.includes(did)).length

describe('the identity cache', () => {
  it('answers a burst of look-ups for one DID with one PLC request', async () => {
    const id = identity()
    const before = requestsFor(alice.did)
    const all = await Promise.all(
      Array.from({ length: 50 }, (_, i) =>
        i % 2 ? id.resolveDid(alice.did) : id.idResolver.did.resolveAtprotoKey(alice.did),
      ),
    )
    expect(new Set(all.map((a) => (typeof a === 'string' ? a : a.signingKey))).size).toBe(1)
    await id.resolveDid(alice.did)
    expect(requestsFor(alice.did) - before).toBe(1)
  })

  it('a burst of live records from one DID makes one PLC request', async () => {
    const id = identity()
    const events: RecordEvent[] = []
    const sync = new RecordSync({
      identity: id,
      reader: new RepoReader(id),
      service: net.pds.url,
      // Not backfilled, so the DID is first looked up when its records arrive.
      wants: (did) => did === alice.did,
      onEvent: (e) => events.push(e),
      onError: () => undefined,
    })
    await sync.start()
    const before = requestsFor(alice.did)
    await Promise.all(
      Array.from({ length: 20 }, (_, i) =>
        alice.session.put(NSID.membership, `k${i}`, {
          members: [`did:plc:m${i}`],
          createdAt: new Date().toISOString(),
        }),
      ),
    )
    await eventually('all twenty', () => events.filter((e) => e.event === 'put').length === 20)
    expect(requestsFor(alice.did) - before).toBe(1)
    await sync.stop()
  })

  it('does not ask again at once for a DID that does not resolve', async () => {
    const id = identity()
    const ghost = 'did:plc:aaaaaaaaaaaaaaaaaaaaaaaa'
    const before = requestsFor(ghost)
    for (let i = 0; i < 5; i++) await expect(id.resolveDid(ghost)).rejects.toThrow()
    expect(requestsFor(ghost) - before).toBe(1)
  })

  it('keeps documents on disk for the next run', async () => {
    const file = join(dir, 'identity-cache.json')
    const first = identity(file)
    await first.load()
    await first.resolveDid(alice.did)
    await first.flush()
    const before = requestsFor(alice.did)
    const second = identity(file)
    await second.load()
    expect((await second.resolveDid(alice.did)).pds).toBe(net.pds.url)
    expect(requestsFor(alice.did) - before).toBe(0)
  })
})
