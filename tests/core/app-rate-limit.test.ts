// The app says when its PDS rate-limits it: a daemon app whose meshlet writes through a proxy
// that answers 429 shows "rate limited until" in its state, and the write goes out once it clears.
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { MeshletApp } from '../../core/app.js'
import { NSID } from '../../core/lexicon/index.js'
import {
  createMember,
  eventually,
  link,
  memberAppVia,
  startNetwork,
  type Member,
  type Network,
} from '../_util.js'
import { RateLimitProxy } from '../support/rate-limit-proxy.js'

let net: Network
let alice: Member
let proxy: RateLimitProxy
let app: MeshletApp

beforeAll(async () => {
  net = await startNetwork()
  alice = await createMember(net, 'alice')
  await link(alice)
  proxy = new RateLimitProxy(net.pds.url)
  app = await memberAppVia(net, alice, await proxy.start())
})

afterAll(async () => {
  await app?.close()
  await proxy?.close()
  await net?.close()
})

describe('a rate-limited meshlet in the app', () => {
  it('shows until when, and publishes the change once the limit clears', async () => {
    proxy.refuseFor(3000)
    const t0 = Date.now()
    const offer = { cpuMillis: 700, memoryMiB: 300, storageMiB: 0 }
    const change = app.call('capacity.set', offer)
    const limited = await eventually('rate limited', async () => {
      const s = await app.call('state.get', undefined)
      return s.rateLimitedUntil
    })
    expect(Date.parse(limited)).toBeGreaterThanOrEqual(t0 + 2000)
    await change
    const record = await eventually('membership published', async () => {
      const r = await alice.owner.session.agent.com.atproto.repo.getRecord({
        repo: alice.meshlet.did,
        collection: NSID.membership,
        rkey: 'self',
      })
      const v = r.data.value as { offer: { cpuMillis: number } }
      return v.offer.cpuMillis === 700 && v
    })
    expect(record).toBeTruthy()
    expect(proxy.refused).toBeGreaterThan(0)
    await eventually(
      'clear again',
      async () => (await app.call('state.get', undefined)).rateLimitedUntil === undefined,
    )
  })
})
