// The app says when its PDS does not answer: a daemon app whose meshlet writes through a proxy
// that stops answering fails a change with the reason, shows since when its PDS has not
// answered, and publishes again once the PDS answers.
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { MeshletApp } from '../../core/app.js'
import { NSID } from '../../core/lexicon/index.js'
import { WRITE_TIMEOUT_MS } from '../../core/repo/budget.js'
import {
  createMember,
  link,
  memberAppVia,
  startNetwork,
  type Member,
  type Network,
} from '../_util.js'
import { SilentProxy } from '../support/silent-proxy.js'

let net: Network
let alice: Member
let proxy: SilentProxy
let app: MeshletApp

beforeAll(async () => {
  net = await startNetwork()
  alice = await createMember(net, 'alice')
  await link(alice)
  proxy = new SilentProxy(net.pds.url)
  app = await memberAppVia(net, alice, await proxy.start())
})

afterAll(async () => {
  await app?.close()
  await proxy?.close()
  await net?.close()
})

async function publishedCpu(): Promise<number> {
  const r = await alice.owner.session.agent.com.atproto.repo.getRecord({
    repo: alice.meshlet.did,
    collection: NSID.membership,
    rkey: 'self',
  })
  return (r.data.value as { offer: { cpuMillis: number } }).offer.cpuMillis
}

describe('a meshlet whose PDS does not answer, in the app', () => {
  it('fails a change with the reason, shows since when, and publishes again once it answers', async () => {
    const before = await publishedCpu()
    proxy.silence()
    const t0 = Date.now()
    const failed = await app
      .call('capacity.set', { cpuMillis: 700, memoryMiB: 300, storageMiB: 0 })
      .then(
        () => undefined,
        (err: unknown) => err as Error,
      )
    expect(failed?.message).toMatch(
      new RegExp(
        `the PDS (did not answer within ${WRITE_TIMEOUT_MS / 1000} s|has not answered since)`,
      ),
    )
    const since = (await app.call('state.get', undefined)).pdsUnreachableSince
    expect(since).toBeDefined()
    expect(Date.parse(since!)).toBeGreaterThanOrEqual(t0 - 1000)
    expect(await publishedCpu()).toBe(before)

    await proxy.restore()
    await app.call('capacity.set', { cpuMillis: 800, memoryMiB: 300, storageMiB: 0 })
    expect(await publishedCpu()).toBe(800)
    expect((await app.call('state.get', undefined)).pdsUnreachableSince).toBeUndefined()
  }, 60_000)
})
