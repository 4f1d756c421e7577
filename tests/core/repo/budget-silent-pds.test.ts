// The budgeted writer against a real PDS behind a TCP proxy that stops answering (accepts the
// connection, reads the request, never replies) or goes away (refuses connections): each write
// times out or fails with an error that says so, endings are kept and retried until the PDS
// answers again, the writer says since when it found no PDS, and it recovers by itself.
import { AtpAgent } from '@atproto/api'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { NSID } from '../../../core/lexicon/index.js'
import { BudgetedWriter, PdsUnreachableError, type BudgetState } from '../../../core/repo/budget.js'
import { AgentWriter } from '../../../core/repo/writer.js'
import { createAccount, eventually, startNetwork, type Account, type Network } from '../../_util.js'
import { SilentProxy } from '../../support/silent-proxy.js'

let net: Network
let meshlet: Account
let proxy: SilentProxy
let writer: BudgetedWriter
const states: BudgetState[] = []
const errors: Error[] = []
const TIMEOUT_MS = 1000

beforeAll(async () => {
  net = await startNetwork()
  meshlet = await createAccount(net, 'mesh')
  proxy = new SilentProxy(net.pds.url)
  const agent = new AtpAgent({ service: await proxy.start() })
  await agent.login({ identifier: meshlet.did, password: meshlet.password })
  writer = new BudgetedWriter(new AgentWriter(agent, meshlet.did), {
    timeoutMs: TIMEOUT_MS,
    onState: (s) => states.push(s),
    onError: (e) => errors.push(e),
  })
})

afterAll(async () => {
  writer?.close()
  await proxy?.close()
  await net?.close()
})

const ref = { uri: `at://did:plc:owner/${NSID.workload}/w`, cid: 'bafyreib' }

function ending(tag: string, i: number) {
  return writer.put(NSID.workloadStatus, `${tag}-${i}`, {
    workload: ref,
    round: i,
    state: i % 2 === 0 ? 'exited' : 'failed',
    updatedAt: new Date().toISOString(),
  })
}

async function statusKeys(tag: string): Promise<string[]> {
  const listed = await meshlet.session.agent.com.atproto.repo.listRecords({
    repo: meshlet.did,
    collection: NSID.workloadStatus,
    limit: 100,
  })
  return listed.data.records
    .map((r) => r.uri.split('/').pop()!)
    .filter((k) => k.startsWith(`${tag}-`))
    .sort()
}

/** What a write that failed says, or '' when it went out. */
async function outcome(write: Promise<unknown>): Promise<string> {
  try {
    await write
    return ''
  } catch (err) {
    expect(err).toBeInstanceOf(PdsUnreachableError)
    return (err as Error).message
  }
}

describe('a budgeted writer facing a PDS that does not answer', () => {
  it('a silent PDS: writes time out with a clear error, endings wait and land once it answers', async () => {
    await writer.put(NSID.presence, 'self', { seq: 0 })
    proxy.silence()
    const t0 = Date.now()
    // A write on its own waits as long as a write may take, then fails saying so.
    expect(await outcome(writer.put(NSID.presence, 'self', { seq: 1 }))).toBe(
      `putRecord ${NSID.presence}/self as ${meshlet.did} failed: the PDS did not answer within 1 s`,
    )
    expect(Date.now() - t0).toBeGreaterThanOrEqual(TIMEOUT_MS)
    const since = writer.state.unreachableSince
    expect(since).toBeGreaterThanOrEqual(t0)
    expect(states.some((s) => s.unreachableSince === since)).toBe(true)
    expect(proxy.swallowed).toBeGreaterThan(0)

    // Endings are kept and retried; they take the write slots, so what waits behind them goes
    // back to its caller after as long, with the reason.
    const endings = Array.from({ length: 10 }, (_, i) => ending('silent', i))
    const landed = { n: 0 }
    for (const e of endings) void e.then(() => (landed.n += 1))
    const bid = outcome(writer.put(NSID.bid, 'b-silent', { workload: ref, round: 0 }))
    const membership = outcome(writer.put(NSID.membership, 'self', { members: [] }))
    const sinceIso = new Date(since!).toISOString()
    expect(await bid).toBe(
      `putRecord ${NSID.bid}/b-silent as ${meshlet.did} not sent: the PDS has not answered since ${sinceIso}`,
    )
    expect(await membership).toMatch(/not sent: the PDS has not answered since/)
    await new Promise((r) => setTimeout(r, 2 * TIMEOUT_MS))
    // Nothing of the endings reached the repo, and none of them failed.
    expect(await statusKeys('silent')).toEqual([])
    expect(landed.n).toBe(0)
    expect(errors.some((e) => /did not answer within 1 s/.test(e.message))).toBe(true)

    await proxy.restore()
    await Promise.all(endings)
    expect(await statusKeys('silent')).toEqual(
      Array.from({ length: 10 }, (_, i) => `silent-${i}`).sort(),
    )
    expect(writer.state.unreachableSince).toBeUndefined()
    await writer.put(NSID.bid, 'b-after', { workload: ref, round: 1 })
  }, 60_000)

  it('a PDS that is down: writes fail at once, saying it could not be reached; endings land when it is back', async () => {
    await proxy.down()
    const t0 = Date.now()
    // The first write may still find the connection the PDS had open, closed under it.
    expect(await outcome(writer.put(NSID.bid, 'b-down', { workload: ref, round: 0 }))).toMatch(
      /^putRecord \S+\/b-down as \S+ failed: the PDS could not be reached \((ECONNREFUSED|UND_ERR_SOCKET|ECONNRESET)\)$/,
    )
    expect(await outcome(writer.put(NSID.bid, 'b-down2', { workload: ref, round: 0 }))).toBe(
      `putRecord ${NSID.bid}/b-down2 as ${meshlet.did} failed: the PDS could not be reached (ECONNREFUSED)`,
    )
    // At once, not after a timeout.
    expect(Date.now() - t0).toBeLessThan(TIMEOUT_MS)
    expect(writer.state.unreachableSince).toBeGreaterThanOrEqual(t0)
    const endings = Array.from({ length: 6 }, (_, i) => ending('down', i))
    // Held a few retries' worth: nothing is dropped meanwhile.
    await new Promise((r) => setTimeout(r, 3000))
    expect(await statusKeys('down')).toEqual([])

    await proxy.restore()
    await Promise.all(endings)
    expect(await statusKeys('down')).toEqual(
      Array.from({ length: 6 }, (_, i) => `down-${i}`).sort(),
    )
    await eventually('reachable again', () => writer.state.unreachableSince === undefined)
  }, 60_000)
})
