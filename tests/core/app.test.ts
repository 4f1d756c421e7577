// The app behind the dashboard, on the real local network: the desktop flow (sign in the owner,
// sign in this machine's account, link, lend), the commune as the UI shows it, and settings and
// sessions that survive a restart. Docker is off here; guests are tested end to end elsewhere.
import { mkdtemp, readFile, readdir, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { ApiError, type DashboardState } from '../../core/api.js'
import { openApp, type AppOptions, type MeshletApp } from '../../core/app.js'
import { defaultSettings } from '../../core/app/settings.js'
import { NSID } from '../../core/lexicon/index.js'
import { FileSecretStore } from '../../core/secrets.js'
import {
  createMember,
  eventually,
  link,
  setMembership,
  startNetwork,
  type Member,
  type Network,
  localNetworkConfig,
} from '../_util.js'

let net: Network
let alice: Member
let bob: Member
const open: MeshletApp[] = []

beforeAll(async () => {
  net = await startNetwork()
  alice = await createMember(net, 'alice')
  bob = await createMember(net, 'bob')
  await link(bob)
})

afterAll(async () => {
  for (const a of open) await a.close()
  await net?.close()
})

async function desktop(dataDir: string, extra: Partial<AppOptions> = {}): Promise<MeshletApp> {
  const app = await openApp({
    dataDir,
    network: localNetworkConfig(net),
    secrets: new FileSecretStore(join(dataDir, 'secrets.json')),
    docker: false,
    canStartAtLogin: true,
    ...extra,
  })
  open.push(app)
  return app
}

async function rejects(p: Promise<unknown>, code: string, message?: RegExp) {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  )
  expect(err).toBeInstanceOf(ApiError)
  expect((err as ApiError).code).toBe(code)
  if (message) expect((err as ApiError).message).toMatch(message)
}

const state = (app: MeshletApp): DashboardState => app.snapshot()

describe('the desktop flow', () => {
  let dir: string
  let app: MeshletApp

  it('starts signed out, with the host’s capacity read', async () => {
    dir = await mkdtemp(join(tmpdir(), 'meshlet-app-'))
    app = await desktop(dir)
    const s = state(app)
    expect(s.phase).toBe('signed-out')
    expect(s.capacity.host.cpuMillis).toBeGreaterThanOrEqual(1000)
    expect(s.capacity.host.memoryMiB).toBeGreaterThan(0)
    expect(s.canStartAtLogin).toBe(true)
  })

  it('refuses a wrong app password, storing nothing', async () => {
    await rejects(
      app.call('auth.signInWithPassword', {
        role: 'owner',
        handle: alice.owner.handle,
        password: 'wrong-password',
      }),
      'not-signed-in',
      /refused the app password/,
    )
    expect(state(app).phase).toBe('signed-out')
    expect(await readdir(dir)).not.toContain('secrets.json')
  })

  it('says clearly when a handle does not exist', async () => {
    await rejects(
      app.call('auth.signInWithPassword', {
        role: 'owner',
        handle: 'nobody-here.test',
        password: 'x',
      }),
      'not-found',
      /cannot find nobody-here\.test/,
    )
  })

  it('signs in the owner, then asks for this machine’s own account', async () => {
    const account = await app.call('auth.signInWithPassword', {
      role: 'owner',
      handle: '@' + alice.owner.handle,
      password: alice.owner.password,
    })
    expect(account).toMatchObject({ did: alice.owner.did, method: 'app-password' })
    expect(state(app).phase).toBe('needs-meshlet')
    await rejects(
      app.call('auth.signInWithPassword', {
        role: 'meshlet',
        handle: alice.owner.handle,
        password: alice.owner.password,
      }),
      'conflict',
      /own account/,
    )
    // The refused sign-in touched nothing: the owner's session still writes.
    expect(state(app).owner?.did).toBe(alice.owner.did)
    await app.call('auth.signInWithPassword', {
      role: 'meshlet',
      handle: alice.meshlet.handle,
      password: alice.meshlet.password,
    })
    const s = state(app)
    expect(s.phase).toBe('needs-meshlet')
    expect(s.meshlet?.did).toBe(alice.meshlet.did)
    expect(s.detail).toMatch(/Link this machine/)
  })

  it('links this machine both ways and starts lending', async () => {
    await app.call('meshlet.link', undefined)
    const repo = alice.owner.session.agent.com.atproto.repo
    const named = await repo.getRecord({
      repo: alice.owner.did,
      collection: NSID.meshlet,
      rkey: alice.meshlet.did,
    })
    expect((named.data.value as { meshlet: string }).meshlet).toBe(alice.meshlet.did)
    const owner = await repo.getRecord({
      repo: alice.meshlet.did,
      collection: NSID.meshletOwner,
      rkey: 'self',
    })
    expect((owner.data.value as { owner: string }).owner).toBe(alice.owner.did)
    await eventually('lending', () => state(app).phase === 'lending')
    expect(state(app).members[0]).toMatchObject({ did: alice.owner.did, state: 'self' })
  })

  it('adds a member by handle, who is waiting until they list us, then mutual', async () => {
    await rejects(app.call('members.add', { handle: 'nobody-here.test' }), 'not-found')
    await rejects(app.call('members.add', { handle: alice.owner.handle }), 'conflict', /you/)
    const added = await app.call('members.add', { handle: bob.owner.handle })
    expect(added).toMatchObject({ did: bob.owner.did, state: 'waiting' })
    await rejects(app.call('members.add', { handle: bob.owner.handle }), 'conflict', /already/)
    await eventually('bob waiting for us', () => {
      const m = state(app).members.find((x) => x.did === bob.owner.did)
      return (
        m?.state === 'waiting' && /Waiting for .* to (add you|come online)/.test(m.reason ?? '')
      )
    })
    await setMembership(bob, [alice])
    await eventually('bob mutual', () =>
      state(app).members.some((x) => x.did === bob.owner.did && x.state === 'mutual'),
    )
    // bob's meshlet lists alice, so the cluster check passes both ways.
    const bobView = state(app).members.find((x) => x.did === bob.owner.did)!
    expect(bobView.meshlets).toEqual([bob.meshlet.did])
    expect(bobView.handle).toBe(bob.owner.handle)
  })

  it('shows a stranger who lists us, and removes a member', async () => {
    const eve = await createMember(net, 'eve')
    await link(eve)
    await setMembership(eve, [alice])
    await eventually('eve shown as a stranger', () =>
      state(app).members.some((x) => x.did === eve.owner.did && x.state === 'stranger'),
    )
    await rejects(app.call('members.remove', { did: eve.owner.did }), 'not-found')
    await app.call('members.remove', { did: bob.owner.did })
    expect(state(app).settings.members).not.toContain(bob.owner.did)
  })

  it('pauses by the toggle and by the system, keeping the two apart', async () => {
    const membership = async () =>
      (
        await alice.meshlet.session.agent.com.atproto.repo.getRecord({
          repo: alice.meshlet.did,
          collection: NSID.membership,
          rkey: 'self',
        })
      ).data.value as { lending: boolean }
    await app.call('lending.set', { lending: false })
    expect(state(app)).toMatchObject({ phase: 'paused', detail: 'Paused by you.' })
    expect((await membership()).lending).toBe(false)
    await app.call('lending.set', { lending: true })
    expect(state(app).phase).toBe('lending')
    expect((await membership()).lending).toBe(true)

    // On battery pauses only when the user asked for it.
    await app.setSystemPause('battery', true)
    expect(state(app).phase).toBe('lending')
    await app.call('settings.set', { pauseOnBattery: true })
    await app.setSystemPause('battery', true)
    await app.setSystemPause('suspend', true)
    expect(state(app)).toMatchObject({
      phase: 'paused',
      detail: 'Paused while on battery and asleep.',
    })
    await app.setSystemPause('suspend', false)
    await app.setSystemPause('battery', false)
    expect(state(app).phase).toBe('lending')
  })

  it('reads records from the source chosen in the settings, and says so', async () => {
    expect(state(app).settings.source).toBe('relay')
    await app.call('settings.set', { source: 'pds' })
    expect(state(app).settings.source).toBe('pds')
    expect(state(app).activity.some((a) => a.text === 'Reading records from pds now')).toBe(true)
    await eventually('lending again, on the members’ PDS', () => state(app).phase === 'lending')
    await app.call('settings.set', { source: 'relay' })
    await eventually('lending again, on the relay', () => state(app).phase === 'lending')
    expect(state(app).settings.source).toBe('relay')
  })

  it('refuses capacity beyond the host or below one step', async () => {
    const host = state(app).capacity.host
    await rejects(
      app.call('capacity.set', { ...state(app).settings.offer, cpuMillis: host.cpuMillis + 1000 }),
      'invalid-args',
      /more than this machine has/,
    )
    await rejects(
      app.call('capacity.set', { ...state(app).settings.offer, memoryMiB: 1 }),
      'invalid-args',
      /at least/,
    )
    await app.call('capacity.set', { cpuMillis: 500, memoryMiB: 512, storageMiB: 256 })
    expect(state(app).capacity.offer).toEqual({ cpuMillis: 500, memoryMiB: 512, storageMiB: 256 })
  })

  it('publishes and deletes the owner’s workloads, and only theirs', async () => {
    const { uri } = await app.call('workloads.submit', {
      image: 'commune-test/busybox:1',
      cpuMillis: 100,
      memoryMiB: 32,
      replicas: 1,
      command: ['sleep', '5'],
    })
    await eventually('workload listed', () => state(app).workloads.some((w) => w.uri === uri))
    const listed = state(app).workloads.find((w) => w.uri === uri)!
    expect(listed).toMatchObject({ image: 'commune-test/busybox:1', replicas: 1 })
    expect(listed.headline).toMatch(/Round 0|Not placed|Placed/)
    const bobs = `at://${bob.owner.did}/${NSID.workload}/3kabcdefghij2`
    await rejects(app.call('workloads.delete', { uri: bobs }), 'not-found', /not one of your/)
    await app.call('workloads.delete', { uri })
    await eventually('workload gone', () => !state(app).workloads.some((w) => w.uri === uri))
    // Asking for the network is carried into the record; peers that do not allow it never bid.
    const online = await app.call('workloads.submit', {
      image: 'commune-test/busybox:1',
      cpuMillis: 100,
      memoryMiB: 32,
      replicas: 1,
      command: [],
      egress: true,
    })
    const rkey = online.uri.split('/').pop()!
    const rec = await alice.owner.session.agent.com.atproto.repo.getRecord({
      repo: alice.owner.did,
      collection: NSID.workload,
      rkey,
    })
    expect(rec.data.value).toMatchObject({ network: 'egress' })
    expect(rec.data.value).not.toHaveProperty('command')
    await app.call('workloads.delete', { uri: online.uri })
  })

  it('keeps settings and sessions across a restart, sealed at rest and without passwords', async () => {
    await app.close()
    const raw = await readFile(join(dir, 'secrets.json'), 'utf8')
    expect(raw).not.toContain(alice.owner.password)
    expect(raw).not.toContain(alice.meshlet.password)
    const again = await desktop(dir)
    await eventually('lending again', () => state(again).phase === 'lending')
    const s = state(again)
    expect(s.owner?.did).toBe(alice.owner.did)
    expect(s.meshlet?.did).toBe(alice.meshlet.did)
    expect(s.settings.offer).toEqual({ cpuMillis: 500, memoryMiB: 512, storageMiB: 256 })
    expect(s.settings.pauseOnBattery).toBe(true)
    app = again
  })

  it('signs this machine out: it stops lending and forgets the session', async () => {
    await app.call('auth.signOut', { role: 'meshlet' })
    const s = state(app)
    expect(s.phase).toBe('needs-meshlet')
    expect(s.meshlet).toBeUndefined()
    const secrets = new FileSecretStore(join(dir, 'secrets.json'))
    expect(await secrets.keys(`session:${alice.meshlet.did}`)).toEqual([])
  })
})

describe('settings changed while the meshlet starts', () => {
  it('holds a pause and an offer asked for while linking', async () => {
    const carol = await createMember(net, 'carol')
    const app = await desktop(await mkdtemp(join(tmpdir(), 'meshlet-app-race-')))
    for (const [role, account] of [
      ['owner', carol.owner],
      ['meshlet', carol.meshlet],
    ] as const) {
      await app.call('auth.signInWithPassword', {
        role,
        handle: account.handle,
        password: account.password,
      })
    }
    const linking = app.call('meshlet.link', undefined)
    await app.call('lending.set', { lending: false })
    await app.call('capacity.set', { cpuMillis: 300, memoryMiB: 256, storageMiB: 0 })
    await linking
    await eventually('paused', () => state(app).phase === 'paused')
    const membership = await eventually('membership published', () =>
      carol.meshlet.session.agent.com.atproto.repo
        .getRecord({ repo: carol.meshlet.did, collection: NSID.membership, rkey: 'self' })
        .then((r) => r.data.value as { lending: boolean; offer: { cpuMillis: number } }),
    )
    expect(membership.lending).toBe(false)
    expect(membership.offer.cpuMillis).toBe(300)
  })
})

describe('bad settings on disk', () => {
  it('sets an unreadable settings file aside and starts with defaults', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'meshlet-app-bad-'))
    await writeFile(join(dir, 'settings.json'), '{ this is not json')
    const app = await desktop(dir)
    expect(state(app).phase).toBe('signed-out')
    expect(state(app).activity.some((a) => /could not be read/.test(a.text))).toBe(true)
    const files = await readdir(dir)
    expect(files.some((f) => f.startsWith('settings.json.unreadable-'))).toBe(true)
  })

  it('moves settings saved with the API off by default to serving it, once, and keeps a choice', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'meshlet-app-v1-'))
    const file = join(dir, 'settings.json')
    const v1 = { settings: { ...defaultSettings(), serveApi: false, allowEgress: true } }
    await writeFile(file, JSON.stringify(v1))
    const app = await desktop(dir)
    expect(state(app).settings).toMatchObject({ serveApi: true, allowEgress: true })
    const told = (a: MeshletApp) =>
      state(a).activity.filter((e) => /now serves its API/.test(e.text)).length
    expect(told(app)).toBe(1)
    const saved = JSON.parse(await readFile(file, 'utf8'))
    expect(saved).toMatchObject({ settingsVersion: 2, settings: { serveApi: true } })
    // Turned off under this version, it stays off, and nothing is said.
    await app.call('settings.set', { serveApi: false })
    await app.close()
    const again = await desktop(dir)
    expect(state(again).settings.serveApi).toBe(false)
    expect(told(again)).toBe(0)
  })

  it('refuses start at login where the shell cannot do it', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'meshlet-app-login-'))
    const app = await desktop(dir, { canStartAtLogin: false })
    await rejects(app.call('settings.set', { startAtLogin: true }), 'unavailable')
  })
})
