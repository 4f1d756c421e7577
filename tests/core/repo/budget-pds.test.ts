// The budgeted writer against a real PDS behind a proxy that answers 429 for a while: every
// ending reaches the repo, heartbeats that waited are coalesced, and the writer says until when
// it is rate limited.
import { AtpAgent } from '@atproto/api'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { NSID } from '../../../core/lexicon/index.js'
import { BudgetedWriter, type BudgetState } from '../../../core/repo/budget.js'
import { AgentWriter } from '../../../core/repo/writer.js'
import { createAccount, startNetwork, type Account, type Network } from '../../_util.js'
import { RateLimitProxy } from '../../support/rate-limit-proxy.js'

let net: Network
let meshlet: Account
let proxy: RateLimitProxy
let writer: BudgetedWriter
const states: BudgetState[] = []
const errors: Error[] = []

beforeAll(async () => {
  net = await startNetwork()
  meshlet = await createAccount(net, 'mesh')
  proxy = new RateLimitProxy(net.pds.url)
  const agent = new AtpAgent({ service: await proxy.start() })
  await agent.login({ identifier: meshlet.did, password: meshlet.password })
  writer = new BudgetedWriter(new AgentWriter(agent, meshlet.did), {
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

describe('a budgeted writer facing 429s', () => {
  it('loses no ending, coalesces the waiting heartbeats, and says when it clears', async () => {
    proxy.refuseFor(2500)
    const t0 = Date.now()
    const endings = Array.from({ length: 20 }, (_, i) =>
      writer.put(NSID.workloadStatus, `w-${i}`, {
        workload: ref,
        round: i,
        state: i % 2 === 0 ? 'exited' : 'draining',
        updatedAt: new Date().toISOString(),
      }),
    )
    const beats = Array.from({ length: 5 }, (_, i) =>
      writer.put('commune.scheduler.presence', 'self', { seq: i }),
    )
    await Promise.all([...endings, ...beats])
    expect(Date.now() - t0).toBeGreaterThanOrEqual(2000)
    expect(proxy.refused).toBeGreaterThan(0)
    expect(errors.some((e) => e.name === 'RateLimitedError')).toBe(true)
    const limited = states.find((s) => s.rateLimitedUntil !== undefined)
    expect(limited?.rateLimitedUntil).toBeGreaterThanOrEqual(t0 + 2000)

    const listed = await meshlet.session.agent.com.atproto.repo.listRecords({
      repo: meshlet.did,
      collection: NSID.workloadStatus,
      limit: 100,
    })
    expect(listed.data.records.map((r) => r.uri.split('/').pop()).sort()).toEqual(
      Array.from({ length: 20 }, (_, i) => `w-${i}`).sort(),
    )
    const presence = await meshlet.session.agent.com.atproto.repo.getRecord({
      repo: meshlet.did,
      collection: 'commune.scheduler.presence',
      rkey: 'self',
    })
    expect(presence.data.value).toMatchObject({ seq: 4 })
    // Four of the five heartbeats waited behind the 429 and went out as one.
    expect(writer.state.writes.heartbeat).toBeLessThanOrEqual(2)
    expect(writer.state.writes.ending).toBe(20)
    expect(writer.state.rateLimitedUntil).toBeUndefined()
  })
})
