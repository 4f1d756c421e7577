// `meshlet init` as a person runs it: from an owner account alone to a linked machine, then the
// daemon lending with the kept credentials (no MESHLET_PASSWORD), against a real PDS and Docker.
import { spawn, type ChildProcess } from 'node:child_process'
import { mkdtemp, rm, stat } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { TestNetworkNoAppView } from '@atproto/dev-env'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { main, type Io } from '../../../core/cli/main.js'
import { NSID } from '../../../core/lexicon/index.js'
import { LABEL_MESHLET } from '../../../core/runtime/index.js'
import { TEST_IMAGE } from '../../infra.js'
import { containersOf, removeContainersOf } from '../../e2e/_util.js'
import { createAccount, eventually, startNetwork, type Account, type Network } from '../../_util.js'

const BIN = new URL('../../../bin/meshlet.js', import.meta.url).pathname
let net: Network
let alice: Account
const dirs: string[] = []
let daemon: ChildProcess | undefined
let machineDid: string | undefined

async function tempDir(): Promise<string> {
  const d = await mkdtemp(join(tmpdir(), 'meshlet-init-'))
  dirs.push(d)
  return d
}

async function run(argv: string[], env: NodeJS.ProcessEnv, network: Network = net) {
  const out: string[] = []
  const err: string[] = []
  const io: Io = { out: (l) => out.push(l), err: (l) => err.push(l), env }
  const code = await main([...argv, '--plc', network.plc.url], io)
  return { code, out: out.join('\n'), err: err.join('\n') }
}

beforeAll(async () => {
  net = await startNetwork()
  alice = await createAccount(net, 'alice')
})

afterAll(async () => {
  daemon?.kill('SIGKILL')
  if (machineDid) await removeContainersOf([machineDid])
  await net?.close()
  for (const d of dirs) await rm(d, { recursive: true, force: true })
})

const repo = () => alice.session.agent.com.atproto.repo

describe('meshlet init', () => {
  it('creates and links the machine, prints its DID, and keeps the same machine on a second run', async () => {
    const dataDir = await tempDir()
    const argv = ['init', '--owner', alice.handle, '--pds', net.pds.url, '--data-dir', dataDir]
    const env = { OWNER_PASSWORD: alice.password }
    const first = await run([...argv, '--email', 'laptop@example.test'], env)
    expect(first.err).toMatch(/created alice\d+-mesh-[a-z2-7]{4}\.test/)
    expect(first.code).toBe(0)
    const did = first.out.trim()
    expect(did).toMatch(/^did:plc:[a-z2-7]{24}$/)
    expect((await stat(join(dataDir, 'secrets.json'))).mode & 0o777).toBe(0o600)

    const owned = await repo().getRecord({ repo: alice.did, collection: NSID.meshlet, rkey: did })
    expect(owned.data.value).toMatchObject({ meshlet: did })
    const back = await repo().getRecord({ repo: did, collection: NSID.meshletOwner, rkey: 'self' })
    expect(back.data.value).toMatchObject({ owner: alice.did })

    const repos = async () =>
      (await alice.session.agent.com.atproto.sync.listRepos({ limit: 1000 })).data.repos.length
    const count = await repos()
    const second = await run(argv, env)
    expect(second.code).toBe(0)
    expect(second.out.trim()).toBe(did)
    expect(second.err).toMatch(/no new account/)
    expect(await repos()).toBe(count)
  })

  it('leaves nothing behind when the owner’s password is wrong', async () => {
    const dataDir = await tempDir()
    const res = await run(
      [
        'init',
        '--owner',
        alice.did,
        '--pds',
        net.pds.url,
        '--data-dir',
        dataDir,
        '--email',
        'x@example.test',
      ],
      { OWNER_PASSWORD: 'wrong-password' },
    )
    expect(res.code).toBe(1)
    expect(res.err).not.toContain('wrong-password')
    await expect(stat(join(dataDir, 'secrets.json'))).rejects.toThrow(/ENOENT/)
  })

  it('names the flag to add when the PDS asks for an email', async () => {
    const res = await run(
      ['init', '--owner', alice.handle, '--pds', net.pds.url, '--data-dir', await tempDir()],
      { OWNER_PASSWORD: alice.password },
    )
    expect(res.code).toBe(1)
    expect(res.err).toMatch(/asks for an email address.*--email <address>/)
  })

  it('is a usage error without --owner, --pds or OWNER_PASSWORD', async () => {
    expect((await run(['init', '--pds', net.pds.url], { OWNER_PASSWORD: 'x' })).code).toBe(2)
    expect((await run(['init', '--owner', alice.did], { OWNER_PASSWORD: 'x' })).code).toBe(2)
    const noPassword = await run(['init', '--owner', alice.did, '--pds', net.pds.url], {})
    expect(noPassword.code).toBe(2)
    expect(noPassword.err).toMatch(/OWNER_PASSWORD/)
  })

  it('says what to do on a PDS that requires invites, and works with a code', async () => {
    const closed = await TestNetworkNoAppView.create({ pds: { inviteRequired: true } })
    try {
      const admin = closed.pds.getAgent()
      const makeInvite = async (forAccount?: string) =>
        (
          await admin.com.atproto.server.createInviteCode(
            { useCount: 1, ...(forAccount ? { forAccount } : {}) },
            { headers: { authorization: closed.pds.adminAuth() }, encoding: 'application/json' },
          )
        ).data.code
      // The owner has an account there (made with a code), as a commune's members would.
      const agent = closed.pds.getAgent()
      await agent.createAccount({
        handle: 'carol.test',
        email: 'carol@example.test',
        password: 'carol-password',
        inviteCode: await makeInvite(),
      })
      const argv = [
        'init',
        '--owner',
        'carol.test',
        '--pds',
        closed.pds.url,
        '--email',
        'carol+mesh@example.test',
        '--data-dir',
        await tempDir(),
      ]
      const env = { OWNER_PASSWORD: 'carol-password' }
      const refused = await run(argv, env, closed)
      expect(refused.code).toBe(1)
      expect(refused.err).toMatch(/asks for an invite code.*--invite-code <code>/)
      const ok = await run([...argv, '--invite-code', await makeInvite()], env, closed)
      expect(ok.err).toMatch(/linked/)
      expect(ok.code).toBe(0)
      expect(ok.out.trim()).toMatch(/^did:plc:/)
    } finally {
      await closed.close()
    }
  })

  it('from nothing to a lending machine: init, then run with the kept credentials', async () => {
    const dataDir = await tempDir()
    const made = await run(
      [
        'init',
        '--owner',
        alice.handle,
        '--pds',
        net.pds.url,
        '--email',
        'desktop@example.test',
        '--data-dir',
        dataDir,
      ],
      { OWNER_PASSWORD: alice.password },
    )
    expect(made.code).toBe(0)
    machineDid = made.out.trim()
    let output = ''
    const { MESHLET_PASSWORD: _unused, ...env } = process.env
    daemon = spawn(
      process.execPath,
      [
        BIN,
        'run',
        '--owner',
        alice.handle,
        '--cluster-members',
        alice.handle,
        '--data-dir',
        dataDir,
        '--plc',
        net.plc.url,
        '--handle-resolver',
        net.pds.url,
        '--firehose',
        net.pds.url,
      ],
      { env },
    )
    daemon.stdout!.on('data', (d: Buffer) => (output += d.toString()))
    daemon.stderr!.on('data', (d: Buffer) => (output += d.toString()))
    await eventually('the daemon started', () => output.includes('"event":"started"'), 30_000)
    expect(output).toContain(machineDid)
    const { uri } = await alice.session.create(NSID.workload, {
      image: TEST_IMAGE,
      command: ['sleep', '600'],
      resources: { cpuMillis: 100, memoryMiB: 32 },
      replicas: 1,
      bidWindowMs: 2000,
      createdAt: new Date().toISOString(),
    })
    const running = await eventually(
      'the replica running on the new machine',
      async () => (await containersOf(uri)).find((c) => c.State === 'running'),
      30_000,
    )
    expect(running.Labels[LABEL_MESHLET]).toBe(machineDid)
  })

  it('run without MESHLET_PASSWORD and without a kept machine says to run init', async () => {
    let message = ''
    const res = await main(
      [
        'run',
        '--owner',
        alice.did,
        '--cluster-members',
        alice.did,
        '--data-dir',
        await tempDir(),
        '--plc',
        net.plc.url,
      ],
      { out: () => undefined, err: (l) => (message += l), env: {} },
    )
    expect(res).toBe(2)
    expect(message).toMatch(/meshlet init/)
  })
})
