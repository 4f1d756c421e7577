// Machine accounts against a real PDS, with and without invite codes.
import { TestNetworkNoAppView } from '@atproto/dev-env'
import { AtpAgent } from '@atproto/api'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import {
  ensureMachineAccount,
  machineHandle,
  MachineAccountError,
  MACHINE_ACCOUNT_KEY,
  pdsOrigin,
  savedMachine,
} from '../../../core/accounts/index.js'
import { MemorySecretStore } from '../../../core/secrets.js'
import { createAccount, startNetwork, type Account, type Network } from '../../_util.js'

describe('machineHandle (pure)', () => {
  const domains = ['.test', '.example']
  it.each([
    [undefined, 'alice.test', 'alice-mesh-abcd.test'],
    [undefined, undefined, 'machine-mesh-abcd.test'],
    [undefined, 'Ali_ce.Example.com', 'alice-mesh-abcd.test'],
    [undefined, 'averyveryverylongname.test', 'averyver-mesh-abcd.test'],
    ['.example', 'alice.test', 'alice-mesh-abcd.example'],
    ['laptop', 'alice.test', 'laptop.test'],
    ['@Laptop.Alice.Example.com', 'alice.test', 'laptop.alice.example.com'],
  ])('requested %s, owner %s → %s', (requested, ownerHandle, expected) => {
    expect(
      machineHandle({
        ...(requested !== undefined ? { requested } : {}),
        ...(ownerHandle !== undefined ? { ownerHandle } : {}),
        domains,
        suffix: 'abcd',
      }),
    ).toBe(expected)
  })

  it('refuses what is not a handle, and a label with no domain offered', () => {
    expect(() => machineHandle({ requested: 'bad handle', domains, suffix: 'abcd' })).toThrow(
      MachineAccountError,
    )
    expect(() => machineHandle({ domains: [], suffix: 'abcd' })).toThrow(/no handle domain/)
  })

  it('accepts https, and http only on this machine', () => {
    expect(pdsOrigin('https://pds.example.com/xrpc')).toBe('https://pds.example.com')
    expect(pdsOrigin('http://localhost:2583')).toBe('http://localhost:2583')
    expect(() => pdsOrigin('http://pds.example.com')).toThrow(/https/)
    expect(() => pdsOrigin('not a url')).toThrow(/not a URL/)
  })
})

describe('ensureMachineAccount on an open PDS', () => {
  let net: Network
  let owner: Account

  beforeAll(async () => {
    net = await startNetwork()
    owner = await createAccount(net, 'alice')
  })
  afterAll(async () => {
    await net?.close()
  })

  const opts = (store: MemorySecretStore, extra: object = {}) => ({
    store,
    pds: net.pds.url,
    owner: owner.did,
    ownerHandle: owner.handle,
    ...extra,
  })

  it('creates the account once, keeps its credentials, and finds it again', async () => {
    const store = new MemorySecretStore()
    const first = await ensureMachineAccount(opts(store, { email: 'first@example.test' }))
    expect(first.created).toBe(true)
    expect(first.credentials.did).toMatch(/^did:plc:/)
    expect(first.credentials.handle).toMatch(/^alice\d+-mesh-[a-z2-7]{4}\.test$/)
    expect(first.credentials.password.length).toBeGreaterThanOrEqual(32)
    expect(first.agent.session?.did).toBe(first.credentials.did)
    expect(await savedMachine(store)).toEqual(first.credentials)

    const again = await ensureMachineAccount(opts(store, { email: 'other@example.test' }))
    expect(again.created).toBe(false)
    expect(again.credentials.did).toBe(first.credentials.did)
    expect(again.agent.session?.did).toBe(first.credentials.did)
  })

  it('says an email is needed when the PDS asks, and keeps nothing', async () => {
    const store = new MemorySecretStore()
    const err = await ensureMachineAccount(opts(store)).catch((e: unknown) => e)
    expect(err).toBeInstanceOf(MachineAccountError)
    expect(err).toMatchObject({ problem: 'email-required', field: 'email' })
    expect((err as Error).message).toMatch(/email address/)
    expect(await store.get(MACHINE_ACCOUNT_KEY)).toBeUndefined()
  })

  it('says an email or a chosen handle is taken', async () => {
    const taken = await ensureMachineAccount(
      opts(new MemorySecretStore(), { email: 'taken@example.test' }),
    )
    await expect(
      ensureMachineAccount(opts(new MemorySecretStore(), { email: 'taken@example.test' })),
    ).rejects.toMatchObject({ problem: 'email-taken', field: 'email' })
    await expect(
      ensureMachineAccount(
        opts(new MemorySecretStore(), {
          email: 'fresh@example.test',
          handle: taken.credentials.handle,
        }),
      ),
    ).rejects.toMatchObject({ problem: 'handle-taken', field: 'handle' })
  })

  it('draws another generated handle when the first is taken', async () => {
    // The first draw names a handle someone already has; the second is free.
    const byte = (n: number) => Buffer.alloc(n, 0)
    const draws = [byte, (n: number) => Buffer.alloc(n, 1)]
    let call = 0
    const random = (n: number) => (n === 4 ? draws[Math.min(call++, 1)]!(n) : Buffer.alloc(n, 7))
    const squatter = new AtpAgent({ service: net.pds.url })
    const firstHandle = machineHandle({
      ownerHandle: owner.handle,
      domains: ['.test'],
      suffix: 'aaaa',
    })
    await squatter.createAccount({
      handle: firstHandle,
      email: 'squatter@example.test',
      password: 'squatter-password',
    })
    const made = await ensureMachineAccount(
      opts(new MemorySecretStore(), { email: 'redraw@example.test', random }),
    )
    expect(made.credentials.handle).not.toBe(firstHandle)
    expect(made.credentials.handle).toMatch(/-mesh-bbbb\.test$/)
  })

  it('finds an account created before its DID could be saved', async () => {
    const store = new MemorySecretStore()
    const agent = new AtpAgent({ service: net.pds.url })
    await agent.createAccount({
      handle: 'crashed-mesh.test',
      email: 'crashed@example.test',
      password: 'a-long-generated-password',
    })
    await store.set(
      MACHINE_ACCOUNT_KEY,
      JSON.stringify({
        handle: 'crashed-mesh.test',
        pds: pdsOrigin(net.pds.url),
        password: 'a-long-generated-password',
        owner: owner.did,
        createdAt: new Date().toISOString(),
      }),
    )
    const found = await ensureMachineAccount(opts(store, { email: 'unused@example.test' }))
    expect(found.credentials.did).toBe(agent.session!.did)
    expect((await savedMachine(store))?.did).toBe(agent.session!.did)
  })

  it('refuses to make a second machine in a store that holds another owner’s or PDS’s', async () => {
    const store = new MemorySecretStore()
    await ensureMachineAccount(opts(store, { email: 'mine@example.test' }))
    await expect(
      ensureMachineAccount({ ...opts(store), owner: 'did:plc:someoneelse' }),
    ).rejects.toMatchObject({ problem: 'other-machine', field: 'dataDir' })
    await expect(
      ensureMachineAccount({ ...opts(store), pds: 'https://pds.example.com' }),
    ).rejects.toMatchObject({ problem: 'other-machine' })
  })

  it('says when the PDS cannot be reached', async () => {
    await expect(
      ensureMachineAccount({ ...opts(new MemorySecretStore()), pds: 'http://127.0.0.1:9' }),
    ).rejects.toMatchObject({ problem: 'unreachable', field: 'pds' })
  })
})

describe('ensureMachineAccount on a PDS that requires invites', () => {
  let net: TestNetworkNoAppView
  const owner = 'did:plc:owner'

  beforeAll(async () => {
    net = await TestNetworkNoAppView.create({ pds: { inviteRequired: true } })
  })
  afterAll(async () => {
    await net?.close()
  })

  async function inviteCode(): Promise<string> {
    const agent = new AtpAgent({ service: net.pds.url })
    const res = await agent.com.atproto.server.createInviteCode(
      { useCount: 1 },
      { headers: { authorization: net.pds.adminAuth() }, encoding: 'application/json' },
    )
    return res.data.code
  }

  it('asks for an invite code before trying', async () => {
    const store = new MemorySecretStore()
    const err = await ensureMachineAccount({
      store,
      pds: net.pds.url,
      owner,
      email: 'a@example.test',
    }).catch((e: unknown) => e)
    expect(err).toMatchObject({ problem: 'invite-required', field: 'inviteCode' })
    expect((err as Error).message).toMatch(/invite code/)
    expect(await store.keys()).toEqual([])
  })

  it('says a wrong or used-up code is not accepted', async () => {
    await expect(
      ensureMachineAccount({
        store: new MemorySecretStore(),
        pds: net.pds.url,
        owner,
        email: 'b@example.test',
        inviteCode: 'not-a-code',
      }),
    ).rejects.toMatchObject({ problem: 'invite-invalid', field: 'inviteCode' })
  })

  it('creates the account with a code the operator gave', async () => {
    const code = await inviteCode()
    const made = await ensureMachineAccount({
      store: new MemorySecretStore(),
      pds: net.pds.url,
      owner,
      email: 'c@example.test',
      inviteCode: code,
    })
    expect(made.created).toBe(true)
    // The code had one use: a second machine with it is refused.
    await expect(
      ensureMachineAccount({
        store: new MemorySecretStore(),
        pds: net.pds.url,
        owner,
        email: 'd@example.test',
        inviteCode: code,
      }),
    ).rejects.toMatchObject({ problem: 'invite-invalid' })
  })
})
