// The `pds` source against two real PDS instances on one PLC, members split across them: one
// verified subscription per PDS host of the followed DIDs, a PDS added to the plan when a
// member on it is followed while running, and nothing from DIDs not followed.
import { randomBytes } from 'node:crypto'
import { AtpAgent } from '@atproto/api'
import { TestPds } from '@atproto/dev-env'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { NSID } from '../../../core/lexicon/index.js'
import { PasswordSession } from '../../../core/repo/writer.js'
import { RepoReader } from '../../../core/repo/reader.js'
import { PdsSource, RecordSync, type RecordEvent } from '../../../core/sync/index.js'
import {
  createAccount,
  eventually,
  localIdentity,
  startNetwork,
  type Account,
  type Network,
} from '../../_util.js'

let net: Network
let second: TestPds
let alice: Account
let bob: Account
let stranger: Account

async function accountOn(pds: TestPds, handle: string): Promise<Account> {
  const agent = new AtpAgent({ service: pds.url })
  const password = randomBytes(12).toString('base64url')
  await agent.createAccount({ handle, email: `${handle}@example.test`, password })
  const did = agent.session!.did
  return { did, handle, password, session: new PasswordSession(agent, did) }
}

beforeAll(async () => {
  net = await startNetwork()
  second = await TestPds.create({ didPlcUrl: net.plc.url })
  alice = await createAccount(net, 'alice')
  bob = await accountOn(second, 'bob-second.test')
  stranger = await accountOn(second, 'stranger-second.test')
})

afterAll(async () => {
  await second?.close()
  await net?.close()
})

const membership = (members: string[]) => ({ members, createdAt: new Date().toISOString() })

describe('the pds source', () => {
  it('subscribes to each followed DID’s PDS, and adds a PDS when a member on it is followed', async () => {
    const identity = localIdentity(net)
    const events: RecordEvent[] = []
    const errors: Error[] = []
    const sync = new RecordSync({
      identity,
      reader: new RepoReader(identity),
      source: { kind: 'pds' },
      wants: () => true,
      onEvent: (e) => events.push(e),
      onError: (e) => errors.push(e),
    })
    const hosts = () => (sync.source as PdsSource).subscriptions
    await sync.start()
    await sync.follow(alice.did)
    expect(hosts()).toEqual([net.pds.url.replace(/^http/, 'ws')])
    await alice.session.put(NSID.membership, 'self', membership([bob.did]))
    await eventually('alice’s record, from her PDS', () =>
      events.some((e) => e.event === 'put' && e.source === 'firehose' && e.did === alice.did),
    )

    // Bob, on the second PDS, is followed while running: his PDS joins the plan.
    await sync.follow(bob.did)
    expect(hosts().sort()).toEqual(
      [net.pds.url, second.url].map((u) => u.replace(/^http/, 'ws')).sort(),
    )
    await stranger.session.put(NSID.membership, 'self', membership([alice.did]))
    await bob.session.put(NSID.membership, 'self', membership([alice.did]))
    await eventually('bob’s record, from the second PDS', () =>
      events.some((e) => e.event === 'put' && e.source === 'firehose' && e.did === bob.did),
    )
    // The stranger shares bob's PDS, but is not followed: never delivered.
    expect(events.some((e) => 'did' in e && e.did === stranger.did)).toBe(false)
    await sync.stop()
    expect(errors).toEqual([])
  })
})
