// link, submit and delete against a real PLC + PDS, as a person would run them.
import { spawn } from 'node:child_process'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { main, type Io } from '../../../core/cli/main.js'
import { NSID } from '../../../core/lexicon/index.js'
import { createMember, startNetwork, type Member, type Network } from '../../_util.js'

let net: Network
let alice: Member

beforeAll(async () => {
  net = await startNetwork()
  alice = await createMember(net, 'alice')
})

afterAll(async () => {
  await net?.close()
})

async function run(argv: string[], env: NodeJS.ProcessEnv = {}) {
  const out: string[] = []
  const err: string[] = []
  const io: Io = { out: (l) => out.push(l), err: (l) => err.push(l), env }
  const network = ['--plc', net.plc.url, '--handle-resolver', net.pds.url]
  const [command = '', ...rest] = argv
  const code = await main([command, ...network, ...rest], io)
  return { code, out: out.join('\n'), err: err.join('\n') }
}

const repo = () => alice.owner.session.agent.com.atproto.repo

describe('meshlet commands', () => {
  it('run exits 1 with a clear message, and does not hang, when Docker is away', async () => {
    const bin = new URL('../../../bin/meshlet.js', import.meta.url).pathname
    const child = spawn(
      process.execPath,
      [
        bin,
        'run',
        '--did',
        alice.meshlet.did,
        '--owner',
        alice.owner.did,
        '--cluster-members',
        alice.owner.did,
        '--firehose',
        net.pds.url,
        '--plc',
        net.plc.url,
        '--handle-resolver',
        net.pds.url,
      ],
      {
        env: {
          ...process.env,
          MESHLET_PASSWORD: alice.meshlet.password,
          DOCKER_HOST: 'unix:///nonexistent/docker.sock',
        },
      },
    )
    let stderr = ''
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()))
    const code = await new Promise((r) => child.once('exit', r))
    expect(code).toBe(1)
    expect(stderr).toMatch(/Docker/i)
  })

  it('link writes both linkage records, by handle', async () => {
    const res = await run(['link', '--did', alice.meshlet.handle, '--owner', alice.owner.handle], {
      OWNER_PASSWORD: alice.owner.password,
      MESHLET_PASSWORD: alice.meshlet.password,
    })
    expect(res.err).toBe('')
    expect(res.code).toBe(0)
    const owned = await repo().getRecord({
      repo: alice.owner.did,
      collection: NSID.meshlet,
      rkey: alice.meshlet.did,
    })
    expect(owned.data.value).toMatchObject({ meshlet: alice.meshlet.did })
    const back = await repo().getRecord({
      repo: alice.meshlet.did,
      collection: NSID.meshletOwner,
      rkey: 'self',
    })
    expect(back.data.value).toMatchObject({ owner: alice.owner.did })
  })

  it('fails with exit 1 and no password in the message when a password is wrong', async () => {
    const res = await run(['link', '--did', alice.meshlet.did, '--owner', alice.owner.did], {
      OWNER_PASSWORD: 'not-the-password',
      MESHLET_PASSWORD: alice.meshlet.password,
    })
    expect(res.code).toBe(1)
    expect(res.err).toMatch(/sign-in as did:plc:/)
    expect(res.err).not.toContain('not-the-password')
    expect(res.err).not.toContain(alice.meshlet.password)
  })

  it('submit publishes a workload and prints its at-uri; delete leaves a tombstone', async () => {
    const env = { OWNER_PASSWORD: alice.owner.password }
    const res = await run(
      [
        'submit',
        '--owner',
        alice.owner.handle,
        '--image',
        'busybox',
        '--replicas',
        '2',
        '--cpu',
        '250',
        '--',
        'echo',
        'hi there',
      ],
      env,
    )
    expect(res.code).toBe(0)
    const uri = res.out.trim()
    expect(uri).toMatch(new RegExp(`^at://${alice.owner.did}/${NSID.workload}/`))
    const rkey = uri.split('/').pop()!
    const rec = await repo().getRecord({ repo: alice.owner.did, collection: NSID.workload, rkey })
    expect(rec.data.value).toMatchObject({
      image: 'busybox',
      replicas: 2,
      command: ['echo', 'hi there'],
      resources: { cpuMillis: 250, memoryMiB: 64 },
      network: 'none',
    })

    // Without a command the image's own default runs: none is written.
    const plain = await run(['submit', '--owner', alice.owner.did, '--image', 'busybox'], env)
    const plainRec = await repo().getRecord({
      repo: alice.owner.did,
      collection: NSID.workload,
      rkey: plain.out.trim().split('/').pop()!,
    })
    expect(plainRec.data.value).not.toHaveProperty('command')

    const deleted = await run(['delete', uri], env)
    expect(deleted.code).toBe(0)
    expect(deleted.out.trim()).toBe(`deleted ${uri}`)
    // What stays is a tombstone: the version as it was, dated, naming the version it ends.
    const tomb = await repo().getRecord({ repo: alice.owner.did, collection: NSID.workload, rkey })
    expect(tomb.data.value).toMatchObject({ ...rec.data.value, deletedVersion: rec.data.cid })
    expect(Date.parse((tomb.data.value as { deletedAt: string }).deletedAt)).toBeGreaterThan(
      Date.now() - 60_000,
    )
    const status = await run(['status', uri], env)
    expect(status.code).toBe(0)
    expect(status.out).toContain('Deleted at ')
    const update = await run(['update', uri, '--replicas', '3'], env)
    expect(update.code).not.toBe(0)
    expect(update.err).toContain('that workload was deleted')
    const missing = `at://${alice.owner.did}/${NSID.workload}/3lmissing0000`
    const gone = await run(['delete', missing], env)
    expect(gone.code).not.toBe(0)
    expect(gone.err).toContain(`no such workload: ${missing}`)
  })
})
