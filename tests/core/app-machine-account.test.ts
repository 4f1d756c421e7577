// "Create this machine's account" in the app: the owner signed in, one call makes, signs in and
// links the machine; a restart signs it in again from the kept password alone.
import { mkdtemp } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { ApiError } from '../../core/api.js'
import { openApp, type MeshletApp } from '../../core/app.js'
import { NSID } from '../../core/lexicon/index.js'
import { MemorySecretStore } from '../../core/secrets.js'
import {
  createAccount,
  eventually,
  localNetworkConfig,
  startNetwork,
  type Account,
  type Network,
} from '../_util.js'

let net: Network
let alice: Account
const open: MeshletApp[] = []

beforeAll(async () => {
  net = await startNetwork()
  alice = await createAccount(net, 'alice')
})

afterAll(async () => {
  for (const a of open) await a.close()
  await net?.close()
})

async function desktop(dataDir: string, secrets: MemorySecretStore): Promise<MeshletApp> {
  const app = await openApp({
    dataDir,
    network: localNetworkConfig(net),
    secrets,
    docker: false,
    retryMs: 200,
  })
  open.push(app)
  return app
}

describe('creating this machine’s account from the app', () => {
  const secrets = new MemorySecretStore()
  let dir: string
  let app: MeshletApp
  let machineDid: string

  it('needs the owner signed in first', async () => {
    dir = await mkdtemp(join(tmpdir(), 'meshlet-app-machine-'))
    app = await desktop(dir, secrets)
    const err = await app
      .call('auth.createMachineAccount', { pds: net.pds.url, email: 'm@example.test' })
      .catch((e: unknown) => e)
    expect(err).toBeInstanceOf(ApiError)
    expect((err as ApiError).code).toBe('not-signed-in')
  })

  it('says what the PDS asks for, as a message the user can act on', async () => {
    await app.call('auth.signInWithPassword', {
      role: 'owner',
      handle: alice.handle,
      password: alice.password,
    })
    const err = await app
      .call('auth.createMachineAccount', { pds: net.pds.url })
      .catch((e: unknown) => e)
    expect(err).toMatchObject({ code: 'invalid-args' })
    expect((err as Error).message).toMatch(/asks for an email address/)
    expect(app.snapshot().meshlet).toBeUndefined()
  })

  it('makes, signs in and links the machine; lending starts', async () => {
    const account = await app.call('auth.createMachineAccount', {
      pds: net.pds.url,
      email: 'laptop@example.test',
    })
    machineDid = account.did
    expect(account).toMatchObject({ method: 'app-password' })
    expect(account.handle).toMatch(/^alice\d+-mesh-[a-z2-7]{4}\.test$/)
    expect(app.snapshot().meshlet?.did).toBe(machineDid)
    const repo = alice.session.agent.com.atproto.repo
    const named = await repo.getRecord({
      repo: alice.did,
      collection: NSID.meshlet,
      rkey: machineDid,
    })
    expect(named.data.value).toMatchObject({ meshlet: machineDid })
    await eventually('lending', () => app.snapshot().phase === 'lending')
  })

  it('keeps the same machine when asked again', async () => {
    const again = await app.call('auth.createMachineAccount', {
      pds: net.pds.url,
      email: 'another@example.test',
    })
    expect(again.did).toBe(machineDid)
  })

  it('signs the machine in from its kept password after a restart, without a session', async () => {
    await app.close()
    await secrets.delete(`session:${machineDid}`)
    const reopened = await desktop(dir, secrets)
    expect(reopened.snapshot().meshlet?.did).toBe(machineDid)
    await eventually('lending again', () => reopened.snapshot().phase === 'lending')
  })
})
