// Small factories over a real in-process PLC + PDS (@atproto/dev-env).
import { AtpAgent } from '@atproto/api'
import { mkdtemp, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { openApp, type AppOptions, type MeshletApp } from '../core/app.js'
import { NSID } from '../core/lexicon/index.js'
import { PasswordSession } from '../core/repo/writer.js'
import { MemorySecretStore } from '../core/secrets.js'
import { serveUi, type UiServer } from '../core/ui-server.js'
import {
  createLocalAccount,
  localNetworkConfig,
  type Account,
  type Network,
} from '../scripts/local-network.js'

export { localIdentity, localNetworkConfig, startNetwork } from '../scripts/local-network.js'
export type { Account, Network }

let counter = 0
export async function createAccount(net: Network, name: string): Promise<Account> {
  return createLocalAccount(net, `${name}${++counter}.test`)
}

export interface Member {
  name: string
  owner: Account
  meshlet: Account
}

export async function createMember(net: Network, name: string): Promise<Member> {
  const owner = await createAccount(net, name)
  const meshlet = await createAccount(net, `${name}-mesh`)
  return { name, owner, meshlet }
}

const now = () => new Date().toISOString()

export async function linkOwnerSide(m: Member, meshletDid = m.meshlet.did): Promise<void> {
  await m.owner.session.put(NSID.meshlet, meshletDid, { meshlet: meshletDid, createdAt: now() })
}

export async function linkMeshletSide(m: Member, ownerDid = m.owner.did): Promise<void> {
  await m.meshlet.session.put(NSID.meshletOwner, 'self', { owner: ownerDid, createdAt: now() })
}

export async function link(m: Member): Promise<void> {
  await linkOwnerSide(m)
  await linkMeshletSide(m)
}

export async function setMembership(m: Member, members: Member[]): Promise<void> {
  await m.meshlet.session.put(NSID.membership, 'self', {
    members: members.map((x) => x.owner.did),
    createdAt: now(),
  })
}

/** Waits until `check` returns a truthy value, polling; fails with `what` after `ms`. */
export async function eventually<T>(
  what: string,
  check: () => T | undefined | false | Promise<T | undefined | false>,
  ms = 20_000,
): Promise<T> {
  const deadline = Date.now() + ms
  let last: unknown
  for (;;) {
    try {
      const v = await check()
      if (v) return v
    } catch (err) {
      last = err
    }
    if (Date.now() > deadline) {
      throw new Error(`timed out waiting for ${what}`, { cause: last })
    }
    await new Promise((r) => setTimeout(r, 50))
  }
}

/** A member's daemon app on the local network: their two sessions, no Docker, a fresh data
 *  directory, sessions kept in memory. */
export async function memberApp(
  net: Network,
  m: Member,
  extra: Partial<AppOptions> = {},
): Promise<MeshletApp> {
  return openApp({
    dataDir: await mkdtemp(join(tmpdir(), 'meshlet-app-')),
    network: localNetworkConfig(net),
    secrets: new MemorySecretStore(),
    docker: false,
    meshletWriter: m.meshlet.session,
    ownerWriter: m.owner.session,
    initial: { members: [] },
    ...extra,
  })
}

/** A linked member's app whose meshlet writes through `service` (a proxy in front of the PDS
 *  that misbehaves on purpose), once the app is lending. */
export async function memberAppVia(net: Network, m: Member, service: string): Promise<MeshletApp> {
  const agent = new AtpAgent({ service })
  await agent.login({ identifier: m.meshlet.did, password: m.meshlet.password })
  const app = await memberApp(net, m, { meshletWriter: new PasswordSession(agent, m.meshlet.did) })
  await eventually(
    'lending',
    async () => (await app.call('state.get', undefined)).phase === 'lending',
  )
  return app
}

/** A directory with a one-line page, for serving the bridge without building the renderer. */
export async function placeholderPage(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'meshlet-static-'))
  await writeFile(join(dir, 'index.html'), '<!doctype html><title>dashboard</title>')
  return dir
}

/** A linked member whose app is served by the dashboard bridge (a placeholder page), for tests
 *  of the bridge and of the renderer's clients. */
export async function memberDashboard(
  net: Network,
  extra: Partial<AppOptions> = {},
): Promise<{
  alice: Member
  app: MeshletApp
  ui: UiServer
  staticDir: string
  close: () => Promise<void>
}> {
  const alice = await createMember(net, 'alice')
  await link(alice)
  const app = await memberApp(net, alice, extra)
  const staticDir = await placeholderPage()
  const ui = await serveUi({
    host: app,
    port: 0,
    staticDir,
    ...(extra.log ? { log: extra.log } : {}),
  })
  return {
    alice,
    app,
    ui,
    staticDir,
    close: async () => {
      await ui.close()
      await app.close()
    },
  }
}
