// The app's two sessions on the real local network: an app-password sign-in keeps refreshed
// tokens (never the password), a kept session is restored — or found to have ended, or to wait
// for its PDS —, the two roles stay two accounts, and sign-out forgets what was kept.
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { ApiError } from '../../../core/api.js'
import { resolveActor, Sessions } from '../../../core/app/sessions.js'
import { silentLogger } from '../../../core/log.js'
import { MemorySecretStore } from '../../../core/secrets.js'
import {
  createMember,
  localIdentity,
  localNetworkConfig,
  startNetwork,
  type Member,
  type Network,
} from '../../_util.js'

let net: Network
let alice: Member

beforeAll(async () => {
  net = await startNetwork()
  alice = await createMember(net, 'alice')
})

afterAll(async () => {
  await net?.close()
})

function sessions(secrets = new MemorySecretStore()) {
  const expired: string[] = []
  const errors: string[] = []
  const s = new Sessions({
    secrets,
    identity: localIdentity(net),
    network: localNetworkConfig(net),
    onExpired: (did) => expired.push(did),
    onError: (stage) => errors.push(stage),
    log: silentLogger,
  })
  return { s, secrets, expired, errors }
}

async function code(p: Promise<unknown>): Promise<string | undefined> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  )
  expect(err).toBeInstanceOf(ApiError)
  return (err as ApiError).code
}

describe('Sessions', () => {
  it('signs in with an app password and keeps the tokens, not the password', async () => {
    const { s, secrets } = sessions()
    const session = await s.withPassword('owner', alice.owner.handle, alice.owner.password)
    expect(session.account).toEqual({
      did: alice.owner.did,
      method: 'app-password',
      handle: alice.owner.handle,
    })
    const kept = await secrets.get(`session:${alice.owner.did}`)
    expect(kept).toBeDefined()
    expect(kept).not.toContain(alice.owner.password)
    expect(JSON.parse(kept!)).toMatchObject({ pds: net.pds.url, data: { did: alice.owner.did } })
  })

  it('refuses a wrong password with a message that does not repeat it, keeping nothing', async () => {
    const { s, secrets } = sessions()
    const err = await s
      .withPassword('owner', alice.owner.handle, 'wrong-secret-123')
      .catch((e: unknown) => e as ApiError)
    expect(err).toBeInstanceOf(ApiError)
    expect((err as ApiError).code).toBe('not-signed-in')
    expect((err as ApiError).message).not.toContain('wrong-secret-123')
    expect(await secrets.keys('session:')).toEqual([])
  })

  it('keeps the owner and this machine two accounts', async () => {
    const { s } = sessions()
    s.owner = await s.withPassword('owner', alice.owner.handle, alice.owner.password)
    expect(await code(s.withPassword('meshlet', alice.owner.handle, alice.owner.password))).toBe(
      'conflict',
    )
    expect(() => s.checkDistinct('owner', alice.owner.did)).not.toThrow()
    expect(s.roleOf(alice.owner.did)).toBe('owner')
    expect(s.roleOf(alice.meshlet.did)).toBeUndefined()
    expect(s.requireOwner()).toBe(s.owner)
    s.set('owner', undefined)
    expect(() => s.requireOwner()).toThrow(ApiError)
  })

  it('restores a kept session after a restart, and says when nothing is kept', async () => {
    const first = sessions()
    const made = await first.s.withPassword('meshlet', alice.meshlet.handle, alice.meshlet.password)
    const again = sessions(first.secrets)
    const restored = await again.s.restore(made.account.did, 'app-password')
    expect(restored.kind).toBe('restored')
    if (restored.kind !== 'restored') return
    expect(restored.session.account).toEqual(made.account)
    // The restored session writes.
    await restored.session.writer.put('commune.scheduler.membership', 'self', {
      members: [alice.owner.did],
      createdAt: new Date().toISOString(),
    })
    expect(await sessions().s.restore(made.account.did, 'app-password')).toEqual({ kind: 'none' })
  })

  it('finds a revoked session ended, and one whose PDS is away waiting', async () => {
    const { s, secrets } = sessions()
    const made = await s.withPassword('owner', alice.owner.handle, alice.owner.password)
    const kept = (await secrets.get(`session:${alice.owner.did}`))!
    // Signed out elsewhere: the kept tokens are revoked.
    await s.forget(made)
    expect(await secrets.get(`session:${alice.owner.did}`)).toBeUndefined()
    await secrets.set(`session:${alice.owner.did}`, kept)
    const ended = await sessions(secrets).s.restore(alice.owner.did, 'app-password')
    expect(ended.kind).toBe('ended')
    // The same tokens at a PDS that does not answer: kept for later.
    const away = JSON.stringify({ ...JSON.parse(kept), pds: 'http://127.0.0.1:9' })
    await secrets.set(`session:${alice.owner.did}`, away)
    const later = await sessions(secrets).s.restore(alice.owner.did, 'app-password')
    expect(later.kind).toBe('later')
  })
})

describe('resolveActor', () => {
  it('finds a handle’s DID, and says clearly what it cannot find', async () => {
    const identity = localIdentity(net)
    expect(await resolveActor(identity, alice.owner.handle)).toBe(alice.owner.did)
    expect(await code(resolveActor(identity, 'nobody-here.test'))).toBe('not-found')
    expect(await code(resolveActor(identity, 'not a handle'))).toBe('invalid-args')
  })
})
