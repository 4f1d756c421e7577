// The meshlet API end to end: two members' apps serving farm.meshlet.* on loopback, a real PDS
// issuing the service-auth tokens, real Docker running the guests.
import { mkdtemp } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { MeshletApp } from '../../../core/app.js'
import { main } from '../../../core/cli/main.js'
import { farm, NSID } from '../../../core/lexicon/index.js'
import { RepoReader } from '../../../core/repo/reader.js'
import { findEndpoint } from '../../../core/xrpc/endpoint.js'
import { PING_LIMIT } from '../../../core/xrpc/farm/meshlet/ping.js'
import { ownerClient } from '../../../core/xrpc/owner-logs.js'
import { TEST_IMAGE } from '../../infra.js'
import {
  createAccount,
  createMember,
  eventually,
  link,
  localIdentity,
  memberApp,
  type Account,
  type Member,
  type Network,
  startNetwork,
} from '../../_util.js'
import { containersOf, removeContainersOf } from '../../e2e/_util.js'

let net: Network
let alice: Member
let bob: Member
let carol: Account
const apps = new Map<string, MeshletApp>()
const urlOf = (m: Member) => apps.get(m.meshlet.did)!.xrpcUrl!

const ALL = [
  farm.meshlet.getCapacity,
  farm.meshlet.listWorkloads,
  farm.meshlet.getWorkloadStatus,
  farm.meshlet.getWorkloadLogs,
  farm.meshlet.deleteWorkload,
  farm.meshlet.pause,
  farm.meshlet.resume,
]

async function token(caller: Account, aud: string, lxm?: string, exp?: number): Promise<string> {
  const res = await caller.session.agent.com.atproto.server.getServiceAuth({
    aud,
    ...(lxm ? { lxm } : {}),
    ...(exp ? { exp } : {}),
  })
  return res.data.token
}

/** One raw request, so status codes are seen as the server sent them. */
async function call(
  base: string,
  method: (typeof ALL)[number],
  opts: { token?: string; params?: Record<string, string>; body?: unknown } = {},
): Promise<{ status: number; body: Record<string, unknown> }> {
  const url = new URL(`/xrpc/${method.$lxm}`, base)
  for (const [k, v] of Object.entries(opts.params ?? {})) url.searchParams.set(k, v)
  const procedure = method.main.type === 'procedure'
  const res = await fetch(url, {
    method: procedure ? 'POST' : 'GET',
    headers: {
      ...(opts.token ? { authorization: `Bearer ${opts.token}` } : {}),
      ...(procedure && opts.body !== undefined ? { 'content-type': 'application/json' } : {}),
    },
    ...(procedure && opts.body !== undefined ? { body: JSON.stringify(opts.body) } : {}),
  })
  const text = await res.text()
  return { status: res.status, body: text ? (JSON.parse(text) as Record<string, unknown>) : {} }
}

/** The least each method needs to pass validation. */
function argsFor(method: (typeof ALL)[number], uri: string) {
  if (method === farm.meshlet.getWorkloadStatus || method === farm.meshlet.getWorkloadLogs) {
    return { params: { uri } }
  }
  if (method === farm.meshlet.deleteWorkload) return { body: { uri } }
  return {}
}

let uri: string

beforeAll(async () => {
  net = await startNetwork()
  alice = await createMember(net, 'alice')
  bob = await createMember(net, 'bob')
  carol = await createAccount(net, 'carol')
  for (const m of [alice, bob]) await link(m)
  for (const [m, other] of [
    [alice, bob],
    [bob, alice],
  ] as const) {
    const app = await memberApp(net, m, {
      docker: true,
      xrpc: { port: 0 },
      initial: { members: [other.owner.did] },
      scheduling: { graceMs: 500 },
    })
    apps.set(m.meshlet.did, app)
  }
  await eventually('both mutual', () =>
    [...apps.values()].every((a) => a.snapshot().members.some((x) => x.state === 'mutual')),
  )
  const written = await alice.owner.session.create(NSID.workload, {
    image: TEST_IMAGE,
    command: ['sh', '-c', 'echo hello from the guest; echo to stderr >&2; exec sleep 600'],
    resources: { cpuMillis: 100, memoryMiB: 32 },
    replicas: 2,
    bidWindowMs: 2500,
    createdAt: new Date().toISOString(),
  })
  uri = written.uri
  await eventually(
    'both replicas running',
    async () => (await containersOf(uri)).length === 2,
    60_000,
  )
}, 120_000)

afterAll(async () => {
  for (const app of apps.values()) await app.close({ drain: true })
  await removeContainersOf([alice, bob].map((m) => m.meshlet.did))
  await net?.close()
})

describe('farm.meshlet.* with service auth', () => {
  it('serves on loopback and, on a local network, publishes where', async () => {
    expect(urlOf(alice)).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/)
    const reader = new RepoReader(localIdentity(net))
    await eventually(
      'endpoint published',
      async () => (await findEndpoint(reader, alice.meshlet.did)) === urlOf(alice),
    )
  })

  it('refuses a request without a token (401)', async () => {
    for (const method of ALL) {
      const res = await call(urlOf(alice), method, argsFor(method, uri))
      expect(res.status, method.$lxm).toBe(401)
    }
  })

  it('refuses a wrong audience, a wrong or missing lxm, an expired token (401)', async () => {
    const cap = farm.meshlet.getCapacity.$lxm
    const wrongAud = await token(bob.owner, bob.meshlet.did, cap)
    expect((await call(urlOf(alice), farm.meshlet.getCapacity, { token: wrongAud })).status).toBe(
      401,
    )
    const wrongLxm = await token(bob.owner, alice.meshlet.did, farm.meshlet.pause.$lxm)
    const r1 = await call(urlOf(alice), farm.meshlet.getCapacity, { token: wrongLxm })
    expect(r1.status).toBe(401)
    expect(r1.body.error).toBe('BadJwtLexiconMethod')
    const noLxm = await token(bob.owner, alice.meshlet.did)
    const r2 = await call(urlOf(alice), farm.meshlet.getCapacity, { token: noLxm })
    expect(r2.status).toBe(401)
    expect(r2.body.error).toBe('BadJwtLexiconMethod')
    const exp = Math.floor(Date.now() / 1000) + 1
    const expiring = await token(bob.owner, alice.meshlet.did, cap, exp)
    await new Promise((r) => setTimeout(r, exp * 1000 - Date.now() + 1100))
    const r3 = await call(urlOf(alice), farm.meshlet.getCapacity, { token: expiring })
    expect(r3.status).toBe(401)
    expect(r3.body.error).toBe('JwtExpired')
    const forged = (await token(bob.owner, alice.meshlet.did, cap)).slice(0, -4) + 'AAAA'
    expect((await call(urlOf(alice), farm.meshlet.getCapacity, { token: forged })).status).toBe(401)
    const garbage = await call(urlOf(alice), farm.meshlet.getCapacity, { token: 'a.b.c' })
    expect(garbage.status).toBe(401)
  })

  it('accepts a token once: a replay is refused (401)', async () => {
    const t = await token(bob.owner, alice.meshlet.did, farm.meshlet.getCapacity.$lxm)
    expect((await call(urlOf(alice), farm.meshlet.getCapacity, { token: t })).status).toBe(200)
    const again = await call(urlOf(alice), farm.meshlet.getCapacity, { token: t })
    expect(again.status).toBe(401)
    expect(again.body.error).toBe('ReplayedJwt')
  })

  it('lets a member read capacity and the guests', async () => {
    const t = await token(bob.owner, alice.meshlet.did, farm.meshlet.getCapacity.$lxm)
    const res = await call(urlOf(alice), farm.meshlet.getCapacity, { token: t })
    expect(res.status).toBe(200)
    expect(res.body).toMatchObject({ meshlet: alice.meshlet.did, owner: alice.owner.did })
    expect((res.body.used as { cpuMillis: number }).cpuMillis).toBe(100)
    const t2 = await token(bob.owner, alice.meshlet.did, farm.meshlet.listWorkloads.$lxm)
    const list = await call(urlOf(alice), farm.meshlet.listWorkloads, { token: t2 })
    expect(list.status, JSON.stringify(list.body)).toBe(200)
    expect(list.body.replicas).toEqual([
      expect.objectContaining({ workload: uri, owner: alice.owner.did, state: 'running' }),
    ])
  })

  it('answers a stranger 403 with a reason on every method, and nothing changes', async () => {
    for (const method of ALL) {
      const t = await token(carol, alice.meshlet.did, method.$lxm)
      const res = await call(urlOf(alice), method, { token: t, ...argsFor(method, uri) })
      expect(res.status, method.$lxm).toBe(403)
      expect(String(res.body.message)).not.toBe('')
    }
    expect(apps.get(alice.meshlet.did)!.snapshot().phase).toBe('lending')
    expect(await containersOf(uri)).toHaveLength(2)
  })

  it('refuses a member what only owners may do (403), and the guests still run', async () => {
    for (const method of [
      farm.meshlet.deleteWorkload,
      farm.meshlet.getWorkloadLogs,
      farm.meshlet.getWorkloadStatus,
      farm.meshlet.pause,
    ]) {
      const t = await token(bob.owner, alice.meshlet.did, method.$lxm)
      const res = await call(urlOf(alice), method, { token: t, ...argsFor(method, uri) })
      expect(res.status, method.$lxm).toBe(403)
    }
    expect(await containersOf(uri)).toHaveLength(2)
    expect(apps.get(alice.meshlet.did)!.snapshot().phase).toBe('lending')
  })

  it('answers a malformed request 400 and stays up', async () => {
    const logs = farm.meshlet.getWorkloadLogs
    const bad: Record<string, string>[] = [
      { uri: 'not a uri' },
      { uri, lines: '5000' },
      { uri, since: 'yesterday' },
    ]
    for (const params of bad) {
      const t = await token(alice.owner, alice.meshlet.did, logs.$lxm)
      expect((await call(urlOf(alice), logs, { token: t, params })).status).toBe(400)
    }
    const del = farm.meshlet.deleteWorkload
    for (const body of [{}, { uri: 42 }, { uri, extra: 'x'.repeat(64 * 1024) }]) {
      const t = await token(alice.owner, alice.meshlet.did, del.$lxm)
      const res = await call(urlOf(alice), del, { token: t, body })
      expect(res.status).toBeGreaterThanOrEqual(400)
      expect(res.status).toBeLessThan(500)
    }
    const t = await token(bob.owner, alice.meshlet.did, farm.meshlet.getCapacity.$lxm)
    expect((await call(urlOf(alice), farm.meshlet.getCapacity, { token: t })).status).toBe(200)
    expect(await containersOf(uri)).toHaveLength(2)
  })

  it('lets the owner read each host’s logs and the workload’s status', async () => {
    const client = ownerClient(alice.owner.session, new RepoReader(localIdentity(net)))
    for (const m of [alice, bob]) {
      const res = await eventually('logs from ' + m.name, async () => {
        const r = await client.logs(m.meshlet.did, uri)
        return r.replicas[0]?.lines.length === 2 ? r : undefined
      })
      expect(res.replicas[0]!.state).toBe('running')
      // Docker copies the two streams apart, so their order between them is not kept.
      expect(res.replicas[0]!.lines.map((l) => [l.stream, l.text])).toEqual(
        expect.arrayContaining([
          ['stdout', 'hello from the guest'],
          ['stderr', 'to stderr'],
        ]),
      )
      const status = await client.workloadStatus(m.meshlet.did, uri)
      expect(status.uri).toBe(uri)
      expect(status.bids.filter((b) => b.winner)).toHaveLength(2)
    }
  })

  it('shows the guest’s output with `meshlet logs`, then from the kept session alone', async () => {
    const dataDir = await mkdtemp(join(tmpdir(), 'meshlet-cli-'))
    const flags = ['--plc', net.plc.url, '--handle-resolver', net.pds.url, '--data-dir', dataDir]
    for (const env of [{ OWNER_PASSWORD: alice.owner.password }, {}]) {
      const out: string[] = []
      const err: string[] = []
      const code = await main(['logs', uri, ...flags], {
        out: (l) => out.push(l),
        err: (l) => err.push(l),
        env,
      })
      expect(err).toEqual([])
      expect(code).toBe(0)
      expect(out.filter((l) => l === 'hello from the guest')).toHaveLength(2)
    }
    const out: string[] = []
    const code = await main(['capacity', alice.meshlet.did, ...flags], {
      out: (l) => out.push(l),
      err: () => undefined,
      env: {},
    })
    expect(code).toBe(0)
    expect(out[0]).toContain(`${alice.meshlet.did} (owner ${alice.owner.did}): lending`)
    const ps: string[] = []
    const psErr: string[] = []
    const psCode = await main(['ps', alice.meshlet.did, ...flags], {
      out: (l) => ps.push(l),
      err: (l) => psErr.push(l),
      env: {},
    })
    expect(psErr).toEqual([])
    expect(psCode).toBe(0)
    expect(ps).toEqual([expect.stringContaining(`${uri}  round 0  running`)])
  })

  it('gives the app’s Logs view each host’s lines, or says a machine cannot be reached', async () => {
    const app = apps.get(alice.meshlet.did)!
    const view = await eventually('both hosts in the view', async () => {
      const v = await app.call('workloads.logs', { uri })
      return v.hosts.length === 2 ? v : undefined
    })
    for (const h of view.hosts) {
      expect(h.reachable).toBe(true)
      expect(h.replicas[0]!.lines.map((l) => l.text)).toContain('hello from the guest')
    }
    // carol's account serves nothing and publishes no endpoint.
    const none = await app.call('workloads.logs', { uri, meshlet: carol.did })
    expect(none.hosts).toEqual([
      expect.objectContaining({ meshlet: carol.did, reachable: false, replicas: [] }),
    ])
    expect(none.hosts[0]!.reason).toMatch(/publishes no API endpoint/)
  })

  it('lets the owner stop a replica on one host', async () => {
    const client = ownerClient(alice.owner.session, new RepoReader(localIdentity(net)))
    const host = (await containersOf(uri))[0]!.Labels['commune.meshlet']!
    const res = await client.deleteWorkload(host, uri)
    expect(res.stopped).toBe(1)
    const left = await containersOf(uri, true)
    expect(left.every((c) => c.Labels['commune.meshlet'] !== host)).toBe(true)
  })
  // Last: pausing drains this meshlet's guests.
  it('lets the meshlet’s owner pause and resume it', async () => {
    const t = await token(alice.owner, alice.meshlet.did, farm.meshlet.pause.$lxm)
    const res = await call(urlOf(alice), farm.meshlet.pause, { token: t })
    expect(res.status).toBe(200)
    expect(res.body.paused).toBe(true)
    expect(apps.get(alice.meshlet.did)!.snapshot().settings.lending).toBe(false)
    const t2 = await token(alice.owner, alice.meshlet.did, farm.meshlet.resume.$lxm)
    const res2 = await call(urlOf(alice), farm.meshlet.resume, { token: t2 })
    expect(res2.status).toBe(200)
    expect(res2.body.paused).toBe(false)
  })
})

describe('farm.meshlet.ping (liveness, no token)', () => {
  it('answers anyone with the meshlet’s DID, and 429 past the per-address limit', async () => {
    const url = new URL(`/xrpc/${farm.meshlet.ping.$lxm}`, urlOf(alice))
    const first = await fetch(url)
    expect(first.status).toBe(200)
    expect(await first.json()).toEqual({ meshlet: alice.meshlet.did })
    const burst = await Promise.all(
      Array.from({ length: PING_LIMIT.limit * 3 }, () => fetch(url).then((r) => r.status)),
    )
    expect(burst).toContain(429)
    expect(burst.filter((s) => s !== 200 && s !== 429)).toEqual([])
  })
})
