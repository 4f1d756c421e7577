// A real PLC + PDS in-process (@atproto/dev-env) and accounts on it: what the demo, the
// benchmark and the tests all stand on.
import { randomBytes } from 'node:crypto'
import { TestNetworkNoAppView } from '@atproto/dev-env'
import { AtpAgent } from '@atproto/api'
import { IdentityResolver } from '../core/identity/resolver.js'
import { PasswordSession } from '../core/repo/writer.js'
import type { NetworkConfig } from '../core/app.js'

export type Network = TestNetworkNoAppView

export async function startNetwork(): Promise<Network> {
  return TestNetworkNoAppView.create({})
}

/** Resolves identities on the local network (its PLC, handles through its PDS, loopback allowed). */
export function localIdentity(net: Network): IdentityResolver {
  return new IdentityResolver({
    plcUrl: net.plc.url,
    handleResolverUrl: net.pds.url,
    allowPrivateNetwork: true,
  })
}

export interface Account {
  did: string
  handle: string
  password: string
  session: PasswordSession<AtpAgent>
}

/** A new account on the local PDS, signed in, with a random password. */
export async function createLocalAccount(net: Network, handle: string): Promise<Account> {
  const agent = new AtpAgent({ service: net.pds.url })
  const password = randomBytes(12).toString('base64url')
  await agent.createAccount({ handle, email: `${handle}@example.test`, password })
  const did = agent.session!.did
  return { did, handle, password, session: new PasswordSession(agent, did) }
}

/** The app's network settings for the local network (loopback allowed, http allowed). */
export function localNetworkConfig(net: Network): NetworkConfig {
  return { plcUrl: net.plc.url, handleResolverUrl: net.pds.url, firehose: net.pds.url, local: true }
}
