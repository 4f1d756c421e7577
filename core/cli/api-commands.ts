// `meshlet capacity`, `ps` and `logs`: clients of the meshlets' API (farm.meshlet.*). They ask
// with service-auth tokens from the owner's own PDS; the owner's session comes from
// OWNER_PASSWORD (and is then kept, readable by this user only, for the next call) or from that
// kept session alone.
import { join } from 'node:path'
import { AtpAgent, type AtpSessionData } from '@atproto/api'
import { RepoReader } from '../repo/reader.js'
import { PasswordSession } from '../repo/writer.js'
import { FileSecretStore } from '../secrets.js'
import { workloadStatusReport } from '../status.js'
import type { IdentityResolver } from '../identity/resolver.js'
import { ownerClient } from '../xrpc/owner-logs.js'
import { collectLogs, xrpcLogSource, type LogSource } from '../xrpc/log-sources.js'
import { intFlag, parse, UsageError } from './args.js'
import { checkRecord, NSID } from '../lexicon/index.js'
import { identityFrom, network, signalled, workloadUri, type Io } from './main.js'

const session = {
  owner: { type: 'string' },
  'data-dir': { type: 'string' },
} as const

export class SessionMissingError extends Error {
  constructor(message: string) {
    super(message)
    this.name = 'SessionMissingError'
  }
}

/** The owner's session: signed in with OWNER_PASSWORD and kept, or resumed from what was kept. */
export async function ownerSession(
  identity: IdentityResolver,
  actor: string,
  dataDir: string | undefined,
  io: Io,
): Promise<PasswordSession> {
  const did = await identity.resolveActor(actor)
  const store = new FileSecretStore(
    join(dataDir ?? `.meshlet/${did.replace(/[^a-zA-Z0-9]/g, '_')}`, 'secrets.json'),
  )
  const key = `session:${did}`
  const keep = (pds: string) => (_evt: unknown, data?: AtpSessionData) => {
    if (data) void store.set(key, JSON.stringify({ pds, data })).catch(() => undefined)
  }
  const password = io.env.OWNER_PASSWORD
  if (password) {
    const { pds } = await identity.resolveDid(did)
    const agent = new AtpAgent({ service: pds, persistSession: keep(pds) })
    await agent.login({ identifier: did, password })
    return new PasswordSession(agent, did)
  }
  const stored = await store.get(key)
  if (!stored) {
    throw new SessionMissingError(
      `no saved session for ${did}: set OWNER_PASSWORD (an app password) once`,
    )
  }
  const { pds, data } = JSON.parse(stored) as { pds: string; data: AtpSessionData }
  const agent = new AtpAgent({ service: pds, persistSession: keep(pds) })
  await agent.resumeSession(data)
  return new PasswordSession(agent, did)
}

async function meshletCommand(argv: string[], io: Io) {
  const { values, positionals } = parse(argv, { ...network, ...session }, 1)
  const target = positionals[0]
  if (!target) throw new UsageError('give the meshlet (a DID or handle)')
  const identity = identityFrom(values)
  const reader = new RepoReader(identity)
  const meshlet = await identity.resolveActor(target)
  // By default the caller is the meshlet's own owner, as its record names them.
  let actor = values.owner
  if (!actor) {
    const rec = await reader.get(meshlet, NSID.meshletOwner, 'self')
    const named = rec && checkRecord(NSID.meshletOwner, rec.value)
    if (!named?.ok) throw new UsageError(`${meshlet} names no owner; give --owner`)
    actor = named.value.owner
  }
  const owner = await ownerSession(identity, actor, values['data-dir'], io)
  return { meshlet, client: ownerClient(owner, reader) }
}

export async function capacity(argv: string[], io: Io): Promise<number> {
  const { meshlet, client } = await meshletCommand(argv, io)
  const c = await client.capacity(meshlet)
  const row = (name: string, r: { cpuMillis: number; memoryMiB: number; storageMiB?: number }) =>
    `  ${name.padEnd(8)} ${String(r.cpuMillis).padStart(7)} mCPU ${String(r.memoryMiB).padStart(8)} MiB memory ${String(r.storageMiB ?? 0).padStart(8)} MiB storage`
  io.out(
    `${c.meshlet} (owner ${c.owner}): ${c.paused ? 'paused' : c.lending ? 'lending' : 'not lending'}`,
  )
  io.out(row('total', c.total))
  io.out(row('offered', c.offered))
  io.out(row('used', c.used))
  return 0
}

export async function ps(argv: string[], io: Io): Promise<number> {
  const { meshlet, client } = await meshletCommand(argv, io)
  const replicas = await client.replicas(meshlet)
  if (replicas.length === 0) io.out('no guest replicas')
  for (const r of replicas) {
    const res = r.resources ? ` ${r.resources.cpuMillis} mCPU ${r.resources.memoryMiB} MiB` : ''
    io.out(`${r.workload}  round ${r.round}  ${r.state}  ${r.image}${res}`)
  }
  return 0
}

/** How often `logs --follow` asks again. */
const FOLLOW_MS = 2000

export async function logs(
  argv: string[],
  io: Io,
  /** Sources after the host itself, made once the caller is known (sealed results). */
  fallbacks: (ctx: { reader: RepoReader; owner: string }) => LogSource[] = () => [],
): Promise<number> {
  const { values, uri } = workloadUri(argv, {
    ...session,
    follow: { type: 'boolean' },
    lines: { type: 'string' },
  })
  const lines = intFlag(values, 'lines', 200, 1, 1000)
  const identity = identityFrom(values)
  const owner = await ownerSession(identity, values.owner ?? uri.host, values['data-dir'], io)
  const reader = new RepoReader(identity)
  const client = ownerClient(owner, reader)
  // The hosts: every meshlet that published a status for the workload.
  const report = await workloadStatusReport(identity, uri.toString(), Date.now())
  if (!report.found) throw new UsageError(`no such workload: ${uri.toString()}`)
  const hosts = [...new Set(report.statuses.map((s) => s.meshlet))]
  if (hosts.length === 0) {
    io.err('meshlet: no machine has run this workload yet')
    return 1
  }
  const sources = [xrpcLogSource(client), ...fallbacks({ reader, owner: owner.did })]
  const since = new Map<string, string>()
  const stop = values.follow ? (io.stopSignal ?? signalled()) : undefined
  let stopped = false
  void stop?.then(() => (stopped = true))
  let answered = 0
  for (;;) {
    const results = await Promise.all(
      hosts.map(async (host) => {
        const after = since.get(host)
        const [r] = await collectLogs(
          [host],
          { uri: uri.toString(), lines, ...(after ? { since: after } : {}) },
          sources,
        )
        return r!
      }),
    )
    for (const r of results) {
      if (r.source === undefined) {
        const why = r.tried.map((t) => t.reason).join('; ')
        if (!since.has(`!${r.host}`)) io.err(`meshlet: ${r.host}: ${why}`)
        since.set(`!${r.host}`, why)
        continue
      }
      answered++
      since.delete(`!${r.host}`)
      for (const replica of r.replicas) {
        if (!values.follow || !since.has(r.host)) {
          io.out(
            `--- ${r.host} round ${replica.round} (${replica.state}${replica.truncated ? ', older lines omitted' : ''}) ---`,
          )
        }
        for (const line of replica.lines) io.out(line.text)
        const last = replica.lines.at(-1)?.at
        if (last && (since.get(r.host) ?? '') < last) since.set(r.host, last)
      }
      if (!since.has(r.host)) since.set(r.host, new Date(0).toISOString())
    }
    if (!stop) break
    await Promise.race([stop, new Promise((r) => setTimeout(r, FOLLOW_MS))])
    if (stopped) break
  }
  return answered > 0 ? 0 : 1
}
