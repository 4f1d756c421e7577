// Secrets in, results out, end to end: a real PLC + PDS, real Docker, the real CLI. The owner
// seals a secret with `meshlet submit --secret`; the winning meshlet opens it in memory and hands
// it to the guest, which prints only its hash; the host seals the output to the owner, who reads
// it with `meshlet logs` after the host went away. A member who joins later waits until the
// owner's side runs again and shares. Then: no plaintext in any repo, log or data directory.
import { createHash, randomBytes } from 'node:crypto'
import { mkdtemp, readdir, readFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { main, type Io } from '../../core/cli/main.js'
import { ownerKeyFile, ownerKeys } from '../../core/cli/sealing.js'
import { NSID } from '../../core/lexicon/index.js'
import { jsonLogger } from '../../core/log.js'
import type { MeshletApp } from '../../core/app.js'
import type { Meshlet } from '../../core/meshlet.js'
import { RepoReader } from '../../core/repo/reader.js'
import {
  generateKeyPair,
  openWorkloadSecrets,
  readResults,
  WAITING_FOR_SECRETS,
} from '../../core/sealing/index.js'
import { FileSecretStore } from '../../core/secrets.js'
import { TEST_IMAGE } from '../infra.js'
import {
  createMember,
  eventually,
  link,
  localIdentity,
  memberApp,
  setMembership,
  startNetwork,
  type Member,
  type Network,
} from '../_util.js'
import { containersOf, dockerMeshlet, removeContainersOf, statusesOf } from './_util.js'

let net: Network
let alice: Member
let bob: Member
let carol: Member
let eve: Member
const logs: string[] = []
const dirs: string[] = []
let configDir: string
/** Where `meshlet logs` keeps the owner's session (never the secret: scanned like the rest). */
let sessions: string
const SECRET = `tok-${randomBytes(18).toString('base64url')}`
const HASH = createHash('sha256').update(SECRET).digest('hex')
// Short rounds so a round without bids reopens quickly; every meshlet here agrees on them.
const config = { lostAfterMs: 10_000, heartbeatMs: 2_000, graceMs: 500 }

async function tempDir(prefix: string): Promise<string> {
  const d = await mkdtemp(join(tmpdir(), prefix))
  dirs.push(d)
  return d
}

function logTo(name: string) {
  return jsonLogger((l) => logs.push(l), { base: { name } })
}

async function daemonMeshlet(m: Member, members: Member[], offerMiB: number): Promise<Meshlet> {
  const dataDir = await tempDir(`seal-${m.name}-`)
  return dockerMeshlet(net, m, members, {
    dataDir,
    keyStore: new FileSecretStore(join(dataDir, 'secrets.json')),
    offer: { cpuMillis: 1000, memoryMiB: offerMiB },
    log: logTo(m.name),
    config,
  })
}

async function cli(argv: string[], who: Member = alice) {
  const out: string[] = []
  const err: string[] = []
  const io: Io = {
    out: (l) => out.push(l),
    err: (l) => err.push(l),
    env: { OWNER_PASSWORD: who.owner.password, MESHLET_CONFIG_DIR: configDir },
  }
  const [command = '', ...rest] = argv
  const network = ['--plc', net.plc.url, '--handle-resolver', net.pds.url]
  const code = await main([command, ...network, ...rest], io)
  logs.push(...out, ...err)
  return { code, out: out.join('\n'), err: err.join('\n') }
}

/** Submits a one-shot guest that prints the hash of $TOKEN (never the value). */
async function submitSecretJob(memoryMiB: number): Promise<string> {
  const res = await cli([
    'submit',
    '--owner',
    alice.owner.did,
    '--image',
    TEST_IMAGE,
    '--memory',
    String(memoryMiB),
    '--bid-window',
    '2000',
    '--secret',
    `TOKEN=${SECRET}`,
    '--',
    'sh',
    '-c',
    'echo "token-sha256=$(printf %s "$TOKEN" | sha256sum | cut -d" " -f1)"',
  ])
  expect(res.code, res.err).toBe(0)
  return res.out.trim()
}

const bobMeshlets: Meshlet[] = []
let carolMeshlet: Meshlet
let aliceApp: MeshletApp | undefined

beforeAll(async () => {
  net = await startNetwork()
  configDir = await tempDir('seal-config-')
  sessions = await tempDir('seal-sessions-')
  alice = await createMember(net, 'alice')
  bob = await createMember(net, 'bob')
  carol = await createMember(net, 'carol')
  eve = await createMember(net, 'eve')
  for (const m of [alice, bob, carol, eve]) await link(m)
  // Alice's own meshlet stays off (no Docker here): she is the owner. Carol joins later.
  await setMembership(alice, [alice, bob])
  await setMembership(eve, [alice, bob, eve])
  const b = await daemonMeshlet(bob, [alice], 256)
  bobMeshlets.push(b)
  await b.start()
  // Carol lends more memory than bob: a workload too big for bob can only land on her.
  carolMeshlet = await daemonMeshlet(carol, [], 1024)
  await carolMeshlet.start()
})

afterAll(async () => {
  await aliceApp?.close()
  for (const m of [...bobMeshlets, carolMeshlet]) await m?.stop({ stopReplicas: true })
  await removeContainersOf([bob, carol].filter(Boolean).map((m) => m.meshlet.did))
  await net?.close()
})

describe('secrets in, results out', () => {
  let first: string

  it('publishes each meshlet’s sealing key on its meshletOwner record', async () => {
    const reader = new RepoReader(localIdentity(net))
    const rec = await reader.get(bob.meshlet.did, NSID.meshletOwner, 'self')
    const key = (rec?.value as { sealingKey?: { publicKey: Uint8Array } }).sealingKey?.publicKey
    expect(key).toBeInstanceOf(Uint8Array)
    expect(
      Buffer.from(key!).equals(
        Buffer.from((await bobMeshlets[0]!.sealingKeys.current()).publicKey),
      ),
    ).toBe(true)
  })

  it('runs a guest that sees TOKEN, and its owner reads the output with the host offline', async () => {
    first = await submitSecretJob(32)
    const ended = await eventually(
      'bob’s replica to end',
      async () => (await statusesOf(alice, [bob], first)).find((s) => s.state === 'exited'),
      60_000,
    )
    expect(ended.meshlet).toBe(bob.meshlet.did)
    // The host goes away; the sealed result stays on its PDS.
    await bobMeshlets[0]!.stop({ stopReplicas: true })
    const res = await cli(['logs', first, '--owner', alice.owner.did, '--data-dir', sessions])
    expect(res.code, res.err).toBe(0)
    expect(res.out).toContain(`token-sha256=${HASH}`)
    expect(res.out).toMatch(/\[exited \(exit code 0\) at /)
  })

  it('refuses the output to anyone but the owner; another member’s key does not open it', async () => {
    const res = await cli(['logs', first, '--owner', bob.owner.did, '--data-dir', sessions], bob)
    expect(res.code).toBe(1)
    expect(res.err).toMatch(/refused: the output of .* is sealed to its owner/)
    expect(res.out).not.toContain(HASH)
    // Even with the records in hand, bob's key (or any other) opens nothing.
    const reader = new RepoReader(localIdentity(net))
    const results = await readResults(reader, first, generateKeyPair())
    expect(results.length).toBeGreaterThan(0)
    expect(results.every((r) => !r.ok)).toBe(true)
    // The owner on a machine without her key is refused with the reason.
    const elsewhere = await tempDir('seal-elsewhere-')
    const io: Io = {
      out: () => undefined,
      err: (l) => logs.push(l),
      env: { OWNER_PASSWORD: alice.owner.password, MESHLET_CONFIG_DIR: elsewhere },
    }
    const argv = ['logs', first, '--plc', net.plc.url, '--handle-resolver', net.pds.url]
    expect(await main([...argv, '--data-dir', sessions], io)).toBe(1)
    expect(logs.at(-1)).toMatch(/no sealing key of .* here/)
  })

  let second: string

  it('a member who joins later cannot start until the owner’s side runs again and shares', async () => {
    // Too big for bob (whose meshlet is gone anyway): only carol can win it, and she is not a
    // member yet, so nothing is sealed to her.
    second = await submitSecretJob(512)
    await setMembership(alice, [alice, bob, carol])
    await carolMeshlet.setMembers([alice.owner.did])
    const waiting = await eventually(
      'carol to wait for the secrets',
      async () =>
        (await statusesOf(alice, [carol], second)).find(
          (s) => s.state === 'starting' && s.message === WAITING_FOR_SECRETS,
        ),
      60_000,
    )
    expect(waiting.meshlet).toBe(carol.meshlet.did)
    expect(await containersOf(second, true)).toHaveLength(0)
    expect(logs.some((l) => l.includes('replica.waiting') && l.includes('not-shared'))).toBe(true)

    // Alice's app (owner side, no Docker) runs again: it finds the waiting winner and shares.
    aliceApp = await memberApp(net, alice, {
      dataDir: await tempDir('seal-alice-app-'),
      ownerKeyStore: new FileSecretStore(ownerKeyFile({ MESHLET_CONFIG_DIR: configDir })),
      initial: { members: [bob.owner.did, carol.owner.did] },
      scheduling: config,
      log: logTo('alice-app'),
    })
    await eventually(
      'carol’s replica to run to its end',
      async () => (await statusesOf(alice, [carol], second)).find((s) => s.state === 'exited'),
      60_000,
    )
    // Read until it opens, not once: readResults passes over a repo or blob it could not read
    // (a PDS slow under load looks like no result yet). What it saw goes into the failure.
    const reader = new RepoReader(localIdentity(net))
    const keys = await ownerKeys({ MESHLET_CONFIG_DIR: configDir }, alice.owner.did).current()
    const mine = await eventually(
      'the owner to open carol’s sealed result',
      async () => {
        const results = await readResults(reader, second, keys)
        const found = results.find((r) => r.meshlet === carol.meshlet.did && r.ok)
        if (found?.ok) return found
        const statuses = await statusesOf(alice, [carol], second)
        throw new Error(
          `results ${JSON.stringify(results)}; carol's statuses ${JSON.stringify(statuses)}`,
        )
      },
      60_000,
    )
    expect(mine.summary.output).toContain(`token-sha256=${HASH}`)
    // The app's Logs view: carol serves no API (behind NAT), so the sealed result answers. It
    // reads the same records, so it too is asked until it answers.
    const texts = await eventually(
      'the app’s Logs view to show carol’s sealed output',
      async () => {
        const view = await aliceApp!.call('workloads.logs', {
          uri: second,
          meshlet: carol.meshlet.did,
        })
        const lines = view.hosts.flatMap((h) =>
          h.replicas.flatMap((r) => r.lines.map((l) => l.text)),
        )
        if (lines.length > 0) return lines
        throw new Error(`the view answered ${JSON.stringify(view)}`)
      },
      60_000,
    )
    expect(texts).toContain(`token-sha256=${HASH}`)
  })

  it('after a key rotation, what was sealed to the old key cannot be opened', async () => {
    const reader = new RepoReader(localIdentity(net))
    const w = await reader.get(alice.owner.did, NSID.workload, second.split('/').pop()!)
    const view = {
      uri: second,
      cid: w!.cid,
      owner: alice.owner.did,
      record: w!.value as never,
    }
    expect((await openWorkloadSecrets(reader, carolMeshlet.sealingKeys, view)).ok).toBe(true)
    await carolMeshlet.rotateSealingKey()
    expect(await openWorkloadSecrets(reader, carolMeshlet.sealingKeys, view)).toEqual({
      ok: false,
      why: 'sealed-to-old-key',
    })
  })

  it('leaves the plaintext in no record of any repo, no log and no data directory', async () => {
    const needle = Buffer.from(SECRET)
    const agent = alice.owner.session.agent
    for (const m of [alice, bob, carol, eve]) {
      for (const did of [m.owner.did, m.meshlet.did]) {
        const car = await agent.com.atproto.sync.getRepo({ did })
        expect(Buffer.from(car.data).includes(needle), `repo of ${did}`).toBe(false)
      }
    }
    expect(logs.length).toBeGreaterThan(20)
    expect(logs.filter((l) => l.includes(SECRET))).toEqual([])
    for (const dir of dirs) {
      for (const file of await filesUnder(dir)) {
        expect((await readFile(file)).includes(needle), file).toBe(false)
      }
    }
  })
})

async function filesUnder(dir: string): Promise<string[]> {
  const out: string[] = []
  for (const e of await readdir(dir, { withFileTypes: true, recursive: true })) {
    if (e.isFile()) out.push(join(e.parentPath, e.name))
  }
  return out
}
