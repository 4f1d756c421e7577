// A member moves PDS (a real account migration between two TestPds on one PLC: service auth,
// repo export/import, a PLC operation signed by the old PDS and submitted by the new one, the
// old account deactivated). The `pds` source re-plans on the old PDS's #account event, follows
// the member on the new PDS, and delivers what the member publishes there.
import { randomBytes } from 'node:crypto'
import { AtpAgent } from '@atproto/api'
import { TestPds } from '@atproto/dev-env'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { NSID } from '../../../core/lexicon/index.js'
import { PasswordSession } from '../../../core/repo/writer.js'
import { RepoReader } from '../../../core/repo/reader.js'
import { RecordSync, type PdsSource, type RecordEvent } from '../../../core/sync/index.js'
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

beforeAll(async () => {
  net = await startNetwork()
  second = await TestPds.create({ didPlcUrl: net.plc.url })
  alice = await createAccount(net, 'alice')
  bob = await createAccount(net, 'bob')
})

afterAll(async () => {
  await second?.close()
  await net?.close()
})

/** Moves `who` from the network's PDS to `to`, the way a PDS migration does. */
async function migrate(who: Account, to: TestPds): Promise<PasswordSession> {
  const oldAgent = who.session.agent
  const newAgent = new AtpAgent({ service: to.url })
  const { data: server } = await newAgent.com.atproto.server.describeServer()
  const { data: auth } = await oldAgent.com.atproto.server.getServiceAuth({
    aud: server.did,
    lxm: 'com.atproto.server.createAccount',
  })
  const password = randomBytes(12).toString('base64url')
  await newAgent.com.atproto.server.createAccount(
    {
      did: who.did,
      handle: `${who.handle.split('.')[0]}-moved.test`,
      email: `${who.handle.split('.')[0]}-moved@example.test`,
      password,
    },
    { headers: { authorization: `Bearer ${auth.token}` }, encoding: 'application/json' },
  )
  await newAgent.login({ identifier: who.did, password })
  const { data: car } = await oldAgent.com.atproto.sync.getRepo({ did: who.did })
  await newAgent.com.atproto.repo.importRepo(car, { encoding: 'application/vnd.ipld.car' })
  const { data: creds } = await newAgent.com.atproto.identity.getRecommendedDidCredentials()
  const token = await net.pds.ctx.accountManager.createEmailToken(
    who.did as `did:${string}:${string}`,
    'plc_operation',
  )
  const { data: signed } = await oldAgent.com.atproto.identity.signPlcOperation({
    token,
    ...creds,
  })
  await newAgent.com.atproto.identity.submitPlcOperation({ operation: signed.operation })
  await newAgent.com.atproto.server.activateAccount()
  await oldAgent.com.atproto.server.deactivateAccount({})
  return new PasswordSession(newAgent, who.did)
}

const membership = (members: string[]) => ({ members, createdAt: new Date().toISOString() })
const ws = (url: string) => url.replace(/^http/, 'ws')

describe('a member moving PDS', () => {
  it('is followed on the new PDS by the pds source, and what it publishes there arrives', async () => {
    const identity = localIdentity(net)
    const events: RecordEvent[] = []
    const sync = new RecordSync({
      identity,
      reader: new RepoReader(identity),
      source: { kind: 'pds' },
      wants: () => true,
      onEvent: (e) => events.push(e),
      onError: () => undefined,
    })
    const hosts = () => (sync.source as PdsSource).subscriptions.sort()
    await sync.start()
    await sync.follow(alice.did)
    await sync.follow(bob.did)
    expect(hosts()).toEqual([ws(net.pds.url)])
    await bob.session.put(NSID.membership, 'self', membership(['did:plc:before']))
    await eventually('bob’s record from the first PDS', () =>
      events.some((e) => e.event === 'put' && e.source === 'firehose' && e.did === bob.did),
    )

    const moved = await migrate(bob, second)
    // The old PDS says bob's account is deactivated there: the plan is made again, with a
    // fresh look at bob's DID document.
    await eventually('the new PDS in the plan', () => hosts().includes(ws(second.url)))
    expect(hosts()).toEqual([ws(net.pds.url), ws(second.url)].sort())

    const wl = await moved.create(NSID.workload, {
      image: 'busybox',
      resources: { cpuMillis: 100, memoryMiB: 16 },
      replicas: 1,
      createdAt: new Date().toISOString(),
    })
    await eventually('bob’s workload from the new PDS', () =>
      events.some((e) => e.event === 'put' && e.source === 'firehose' && e.uri === wl.uri),
    )
    // Alice stayed: her PDS is still followed, and her records still arrive.
    await alice.session.put(NSID.membership, 'self', membership([bob.did]))
    await eventually('alice’s record', () =>
      events.some((e) => e.event === 'put' && e.source === 'firehose' && e.did === alice.did),
    )
    await sync.stop()
  })
})
