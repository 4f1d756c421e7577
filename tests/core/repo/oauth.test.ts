// atproto OAuth against the real thing: a dev-env PDS (its own authorization server, pages and
// token store) and Chromium clicking through those pages as a user would.
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto'
import { copyFile, mkdtemp, readFile, readdir, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { AtpAgent } from '@atproto/api'
import type { Browser } from 'playwright-core'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { NSID } from '../../../core/lexicon/index.js'
import { jsonLogger } from '../../../core/log.js'
import {
  OAuthBeginError,
  OAuthCancelledError,
  OAuthDeniedError,
  OAuthRestoreError,
  OAuthSessionExpiredError,
  OAuthSignIn,
  OAuthTimeoutError,
  OAuthUnknownHandleError,
  isSessionExpired,
  missingScopes,
  scopeFor,
  type OAuthRepoSession,
  type OAuthSignInOptions,
} from '../../../core/repo/oauth.js'
import { RepoWriteError } from '../../../core/repo/errors.js'
import { FileSecretStore, MemorySecretStore, type Sealer } from '../../../core/secrets.js'
import type { Role } from '../../../core/api.js'
import { createAccount, startNetwork, type Account, type Network } from '../../_util.js'
import { launchChromium } from '../../infra.js'

describe('missingScopes', () => {
  it('names what a session granted by an older version lacks of its role’s scope', () => {
    expect(missingScopes(scopeFor('meshlet'), 'meshlet')).toEqual([])
    // Granted before settlements and challenges existed.
    const before = scopeFor('meshlet')
      .split(' ')
      .filter((s) => s !== `repo:${NSID.settlement}` && s !== `repo:${NSID.challenge}`)
      .join(' ')
    expect(missingScopes(before, 'meshlet')).toEqual([
      `repo:${NSID.challenge}`,
      `repo:${NSID.settlement}`,
    ])
    // Order and extra whitespace do not matter; more than the role needs is fine.
    expect(
      missingScopes(
        `  ${scopeFor('owner').split(' ').reverse().join('  ')} transition:generic`,
        'owner',
      ),
    ).toEqual([])
    expect(missingScopes('', 'owner')).toEqual(scopeFor('owner').split(' '))
  })
})

describe('scopeFor', () => {
  it('asks each role for its own collections only, and every collection belongs to one role', () => {
    expect(scopeFor('owner')).toBe(
      `atproto repo:${NSID.workload} repo:${NSID.meshlet} repo:${NSID.sealingKey} ` +
        `repo:${NSID.workloadSecrets}`,
    )
    expect(scopeFor('meshlet')).toBe(
      `atproto repo:${NSID.meshletOwner} repo:${NSID.membership} repo:${NSID.bid} ` +
        `repo:${NSID.workloadStatus} repo:${NSID.presence} repo:${NSID.challenge} ` +
        `repo:${NSID.settlement} ` +
        `blob:application/octet-stream`,
    )
    const granted = (['owner', 'meshlet'] as const).flatMap((role) =>
      scopeFor(role)
        .split(' ')
        .filter((s) => s.startsWith('repo:')),
    )
    expect([...granted].sort()).toEqual(
      Object.values(NSID)
        .map((c) => `repo:${c}`)
        .sort(),
    )
  })

  it('refuses a role it does not know', () => {
    expect(() => scopeFor('admin' as Role)).toThrow(TypeError)
  })
})

let net: Network
let browser: Browser
let dir: string
const disposables: AsyncDisposable[] = []
/** Every log line any OAuthSignIn wrote, to check no secret ever reaches one. */
const logLines: string[] = []

beforeAll(async () => {
  net = await startNetwork()
  browser = await launchChromium()
  dir = await mkdtemp(join(tmpdir(), 'meshlet-oauth-'))
})

afterEach(async () => {
  for (const d of disposables.splice(0)) await d[Symbol.asyncDispose]()
})

afterAll(async () => {
  await browser?.close()
  await net?.close()
  if (dir) await rm(dir, { recursive: true, force: true })
})

/** Stands in for Electron's safeStorage: real authenticated encryption under a key held in
 *  memory only. */
function testSealer(): Sealer {
  const key = randomBytes(32)
  return {
    seal(plain) {
      const iv = randomBytes(12)
      const cipher = createCipheriv('aes-256-gcm', key, iv)
      const body = Buffer.concat([cipher.update(plain, 'utf8'), cipher.final()])
      return Buffer.concat([iv, cipher.getAuthTag(), body])
    },
    open(sealed) {
      const decipher = createDecipheriv('aes-256-gcm', key, sealed.subarray(0, 12))
      decipher.setAuthTag(sealed.subarray(12, 28))
      return Buffer.concat([decipher.update(sealed.subarray(28)), decipher.final()]).toString(
        'utf8',
      )
    },
  }
}

let files = 0
function secretsFile(): string {
  return join(dir, `secrets-${++files}.json`)
}

function service(
  secrets: OAuthSignInOptions['secrets'],
  extra: Partial<OAuthSignInOptions> = {},
): OAuthSignIn {
  const signIn = new OAuthSignIn({
    secrets,
    plcDirectoryUrl: net.plc.url,
    handleResolver: net.pds.url,
    allowHttp: true,
    log: jsonLogger((line) => logLines.push(line), { level: 'debug' }),
    ...extra,
  })
  disposables.push(signIn)
  return signIn
}

type Answer = 'Authorize' | 'Deny access' | 'Cancel'

/** Does in Chromium what the user does: signs in on the PDS's page and answers the consent
 *  question. Returns where the browser landed and what the page there says. */
async function approve(
  url: string,
  account: Account,
  answer: Answer = 'Authorize',
): Promise<{ landed: URL; text: string }> {
  const context = await browser.newContext({ locale: 'en-US' })
  try {
    const page = await context.newPage()
    await page.goto(url)
    if (answer === 'Cancel') {
      await page.getByRole('button', { name: 'Cancel', exact: true }).click()
    } else {
      await page.fill('input[name="password"]', account.password)
      await page.getByRole('button', { name: 'Sign in', exact: true }).click()
      await page.getByRole('button', { name: answer, exact: true }).click()
    }
    await page.waitForURL((u) => u.hostname === '127.0.0.1')
    return { landed: new URL(page.url()), text: (await page.textContent('body')) ?? '' }
  } finally {
    await context.close()
  }
}

async function signInWith(
  signIn: OAuthSignIn,
  account: Account,
  role: Role,
): Promise<OAuthRepoSession> {
  const { url, done } = await signIn.begin(account.handle, role)
  const { text } = await approve(url, account)
  expect(text).toContain('Signed in')
  return done
}

/** The OAuth tokens the PDS holds for an account: what revocation must remove. */
async function serverTokens(did: string): Promise<unknown[]> {
  return net.pds.ctx.accountManager.db.db
    .selectFrom('token')
    .select('tokenId')
    .where('did', '=', did as `did:${string}:${string}`)
    .execute()
}

/** The secret strings inside every stored value: tokens and DPoP private keys. */
async function storedSecrets(store: OAuthSignInOptions['secrets']): Promise<string[]> {
  const out: string[] = []
  for (const key of await store.keys()) {
    const value = JSON.parse((await store.get(key)) ?? 'null') as {
      tokenSet?: { access_token?: string; refresh_token?: string }
      dpopJwk?: { d?: string }
    }
    for (const s of [value?.tokenSet?.access_token, value?.tokenSet?.refresh_token]) {
      if (s) out.push(s)
    }
    if (value?.dpopJwk?.d) out.push(value.dpopJwk.d)
  }
  return out
}

async function getWorkload(uri: string): Promise<Record<string, unknown>> {
  const [, , repo, collection, rkey] = uri.split('/')
  const res = await new AtpAgent({ service: net.pds.url }).com.atproto.repo.getRecord({
    repo: repo!,
    collection: collection!,
    rkey: rkey!,
  })
  return res.data.value as Record<string, unknown>
}

async function refused(write: Promise<unknown>): Promise<{ status?: number; error?: string }> {
  const err = await write.then(
    () => undefined,
    (e: unknown) => e,
  )
  expect(err).toBeInstanceOf(RepoWriteError)
  return (err as RepoWriteError).cause as { status?: number; error?: string }
}

async function loopbackAnswers(callbackUrl: string): Promise<boolean> {
  return fetch(callbackUrl).then(
    () => true,
    () => false,
  )
}

const workload = (image: string) => ({
  image,
  resources: { cpuMillis: 100, memoryMiB: 64 },
  replicas: 1,
  createdAt: new Date().toISOString(),
})

describe('OAuthSignIn against a dev-env PDS, in Chromium', () => {
  it('signs the owner in; the session writes workloads and nothing outside its scope', async () => {
    const alice = await createAccount(net, 'alice')
    const signIn = service(new MemorySecretStore())
    const { url, callbackUrl, done } = await signIn.begin(`@${alice.handle}`, 'owner')
    expect(new URL(url).origin).toBe(new URL(net.pds.url).origin)
    const { landed, text } = await approve(url, alice)
    expect(`${landed.origin}${landed.pathname}`).toBe(callbackUrl)
    expect(text).toContain(`Signed in as @${alice.handle}`)

    const session = await done
    expect(session).toMatchObject({ did: alice.did, handle: alice.handle, role: 'owner' })
    expect(session.scope.split(' ').sort()).toEqual(scopeFor('owner').split(' ').sort())
    // Nothing pending any more: the loopback server is gone.
    expect(await loopbackAnswers(callbackUrl)).toBe(false)

    const created = await session.create(NSID.workload, workload('busybox:1'))
    expect(await getWorkload(created.uri)).toMatchObject({
      $type: NSID.workload,
      image: 'busybox:1',
    })
    const rkey = created.uri.split('/').pop()!
    await session.put(NSID.workload, rkey, workload('busybox:2'))
    expect(await getWorkload(created.uri)).toMatchObject({ image: 'busybox:2' })
    await session.delete(NSID.workload, rkey)
    await expect(getWorkload(created.uri)).rejects.toMatchObject({ error: 'RecordNotFound' })

    const post = { text: 'not ours to write', createdAt: new Date().toISOString() }
    expect(await refused(session.create('app.bsky.feed.post', post))).toMatchObject({
      status: 403,
      error: 'ScopeMissingError',
    })
    // The meshlet's collections are not the owner's either.
    expect(await refused(session.put(NSID.bid, 'x', { round: 0 }))).toMatchObject({
      status: 403,
      error: 'ScopeMissingError',
    })

    // One stored session per account: the owner's account cannot also sign in as the meshlet.
    await expect(signIn.begin(alice.handle, 'meshlet')).rejects.toThrow(OAuthBeginError)
    expect(await signIn.signedIn()).toEqual([
      { did: alice.did, role: 'owner', handle: alice.handle },
    ])
  })

  it('signs the meshlet in; it writes bids and membership but not workloads', async () => {
    const mesh = await createAccount(net, 'mesh')
    const signIn = service(new MemorySecretStore())
    const session = await signInWith(signIn, mesh, 'meshlet')
    expect(session.role).toBe('meshlet')
    await session.put(NSID.membership, 'self', {
      members: [mesh.did],
      createdAt: new Date().toISOString(),
    })
    await session.create(NSID.bid, { round: 0, createdAt: new Date().toISOString() })
    expect(await refused(session.create(NSID.workload, workload('busybox:1')))).toMatchObject({
      status: 403,
      error: 'ScopeMissingError',
    })
  })

  it('restores after a restart from the sealed file, refreshes, and keeps no token in the clear', async () => {
    const alice = await createAccount(net, 'alice')
    const path = secretsFile()
    const sealer = testSealer()
    const first = service(new FileSecretStore(path, sealer))
    const signedIn = await signInWith(first, alice, 'owner')
    const before = await storedSecrets(new FileSecretStore(path, sealer))
    await first[Symbol.asyncDispose]()

    // The restart: a new service over a new store reading the same file.
    const store = new FileSecretStore(path, sealer)
    const second = service(store)
    expect(await second.signedIn()).toEqual([
      { did: alice.did, role: 'owner', handle: alice.handle },
    ])
    const restored = await second.restore(alice.did)
    expect(restored).toMatchObject({ did: alice.did, handle: alice.handle, role: 'owner' })
    expect(restored!.scope).toBe(signedIn.scope)
    await restored!.create(NSID.workload, workload('after-restart'))

    // A forced refresh reaches the server (new tokens; the old refresh token is spent) and still
    // works: the client is the same one the tokens were issued to, whatever port it listens on.
    const refreshed = await second.restore(alice.did, { refresh: true })
    const after = await storedSecrets(store)
    expect(after).toHaveLength(3)
    expect(after.filter((s) => before.includes(s))).toHaveLength(1) // only the DPoP key stays
    const written = await refreshed!.create(NSID.workload, workload('after-refresh'))
    expect(await getWorkload(written.uri)).toMatchObject({ image: 'after-refresh' })

    // Everything on disk, in any encoding we might have slipped into: no token, no key.
    const onDisk = await Promise.all(
      (await readdir(dir)).map((f) => readFile(join(dir, f), 'utf8')),
    )
    for (const secret of [...before, ...after]) {
      for (const form of [secret, Buffer.from(secret).toString('base64')]) {
        for (const content of onDisk) expect(content).not.toContain(form)
        for (const line of logLines) expect(line).not.toContain(form)
      }
    }
  })

  it('signs out: the PDS forgets the tokens and so does the store', async () => {
    const alice = await createAccount(net, 'alice')
    const store = new MemorySecretStore()
    const signIn = service(store)
    const session = await signInWith(signIn, alice, 'owner')
    expect(await serverTokens(alice.did)).toHaveLength(1)

    await signIn.signOut(alice.did)
    expect(await serverTokens(alice.did)).toHaveLength(0)
    expect(await store.keys()).toEqual([])
    expect(await signIn.restore(alice.did)).toBeUndefined()
    expect(await signIn.signedIn()).toEqual([])
    await refused(session.create(NSID.workload, workload('signed-out')))
  })

  it('a session revoked elsewhere ends with "sign in again", both in use and on restore', async () => {
    const alice = await createAccount(net, 'alice')
    const sealer = testSealer()
    const path = secretsFile()
    const expiredDids: string[] = []
    const here = service(new FileSecretStore(path, sealer), {
      onSessionExpired: (did) => expiredDids.push(did),
    })
    const session = await signInWith(here, alice, 'owner')
    // Two more copies of the same profile: one revokes (as the account's settings page would),
    // the other restarts later with the revoked tokens.
    const [elsewhere, later] = [secretsFile(), secretsFile()]
    await copyFile(path, elsewhere)
    await copyFile(path, later)
    await service(new FileSecretStore(elsewhere, sealer)).signOut(alice.did)
    expect(await serverTokens(alice.did)).toHaveLength(0)

    const err = await session.create(NSID.workload, workload('revoked')).catch((e: unknown) => e)
    expect(err).toBeInstanceOf(RepoWriteError)
    expect(isSessionExpired(err)).toBe(true)
    expect(expiredDids).toEqual([alice.did])
    expect(await here.restore(alice.did)).toBeUndefined()

    const restarted = service(new FileSecretStore(later, sealer))
    await expect(restarted.restore(alice.did, { refresh: true })).rejects.toThrow(
      OAuthSessionExpiredError,
    )
    expect(await restarted.signedIn()).toEqual([])
    expect(await restarted.restore(alice.did)).toBeUndefined()
  })

  it('keeps the session when the PDS cannot be reached, and says so', async () => {
    // A network of its own, to take down.
    const other = await startNetwork()
    let down = false
    try {
      const bob = await createAccount(other, 'bob')
      const store = new MemorySecretStore()
      const signIn = new OAuthSignIn({
        secrets: store,
        plcDirectoryUrl: other.plc.url,
        handleResolver: other.pds.url,
        allowHttp: true,
      })
      disposables.push(signIn)
      await signInWith(signIn, bob, 'owner')
      await other.close()
      down = true

      const err = await signIn.restore(bob.did, { refresh: true }).catch((e: unknown) => e)
      expect(err).toBeInstanceOf(OAuthRestoreError)
      expect(isSessionExpired(err)).toBe(false)
      expect(await signIn.signedIn()).toEqual([{ did: bob.did, role: 'owner', handle: bob.handle }])
    } finally {
      if (!down) await other.close()
    }
  })

  it('an unknown handle fails at begin, before any browser', async () => {
    const store = new MemorySecretStore()
    const signIn = service(store)
    const err = await signIn.begin('nobody-here.test', 'owner').catch((e: unknown) => e)
    expect(err).toBeInstanceOf(OAuthUnknownHandleError)
    expect((err as Error).message).toContain('nobody-here.test')
    await expect(signIn.begin('not a handle', 'owner')).rejects.toThrow(OAuthUnknownHandleError)
    expect(await store.keys()).toEqual([])
  })

  it.each(['Deny access', 'Cancel'] as const)(
    'the user answering "%s" rejects the sign-in and leaves no session',
    async (answer) => {
      const alice = await createAccount(net, 'alice')
      const store = new MemorySecretStore()
      const signIn = service(store)
      const { url, done } = await signIn.begin(alice.handle, 'owner')
      const { text } = await approve(url, alice, answer)
      expect(text).toContain('Sign-in cancelled')
      await expect(done).rejects.toThrow(OAuthDeniedError)
      expect(await store.keys()).toEqual([])
      expect(await serverTokens(alice.did)).toHaveLength(0)
    },
  )

  it('a callback with a forged or replayed state shows an error page and signs nothing in', async () => {
    const [alice, mesh] = [await createAccount(net, 'alice'), await createAccount(net, 'mesh')]
    const store = new MemorySecretStore()
    const signIn = service(store)
    // The meshlet's sign-in stays pending throughout, so the loopback stays up for the replay.
    const meshlet = await signIn.begin(mesh.handle, 'meshlet')
    const { url, callbackUrl, done } = await signIn.begin(alice.handle, 'owner')
    expect(meshlet.callbackUrl).toBe(callbackUrl)

    const forged = new URL(callbackUrl)
    forged.searchParams.set('state', 'forged')
    forged.searchParams.set('code', 'cod-forged')
    forged.searchParams.set('iss', net.pds.url)
    forged.searchParams.set('error_description', '<script>alert(1)</script>')
    const res = await fetch(forged)
    expect(res.status).toBe(400)
    const body = await res.text()
    expect(body).toContain('not one the app is waiting for')
    expect(body).not.toContain('<script>')
    expect(await store.keys('oauth:session:')).toEqual([])

    // The real sign-in is undisturbed...
    const { landed } = await approve(url, alice)
    await expect(done).resolves.toMatchObject({ did: alice.did })
    // ...and its callback, replayed, is refused: the state was single-use.
    const replay = await fetch(landed)
    expect(replay.status).toBe(400)
    expect(await replay.text()).toContain('not one the app is waiting for')
    expect(await serverTokens(alice.did)).toHaveLength(1)
    await signIn.cancel('meshlet')
    await expect(meshlet.done).rejects.toThrow(OAuthCancelledError)
  })

  it('cancel() rejects the pending sign-in, and its page can no longer complete it', async () => {
    const [alice, mesh] = [await createAccount(net, 'alice'), await createAccount(net, 'mesh')]
    const store = new MemorySecretStore()
    const signIn = service(store)
    const meshlet = await signIn.begin(mesh.handle, 'meshlet')
    const owner = await signIn.begin(alice.handle, 'owner')
    expect(await store.keys('oauth:state:')).toHaveLength(2)

    await signIn.cancel('owner')
    await expect(owner.done).rejects.toThrow(OAuthCancelledError)
    expect(await store.keys('oauth:state:')).toHaveLength(1)
    // The user finishes the cancelled sign-in anyway: the app no longer accepts it.
    const { text } = await approve(owner.url, alice)
    expect(text).toContain('not one the app is waiting for')
    expect(await store.keys('oauth:session:')).toEqual([])
    expect(await serverTokens(alice.did)).toHaveLength(0)

    await signIn.cancel()
    await expect(meshlet.done).rejects.toThrow(OAuthCancelledError)
    expect(await store.keys()).toEqual([])
    expect(await loopbackAnswers(owner.callbackUrl)).toBe(false)
  })

  it('a new begin for a role replaces the pending one; closing cancels the rest', async () => {
    const alice = await createAccount(net, 'alice')
    const signIn = service(new MemorySecretStore())
    const first = await signIn.begin(alice.handle, 'owner')
    const second = await signIn.begin(alice.handle, 'owner')
    await expect(first.done).rejects.toThrow(/replaced/)
    await expect(first.done).rejects.toBeInstanceOf(OAuthCancelledError)
    expect(await loopbackAnswers(second.callbackUrl)).toBe(true)

    await signIn[Symbol.asyncDispose]()
    await expect(second.done).rejects.toBeInstanceOf(OAuthCancelledError)
    expect(await loopbackAnswers(second.callbackUrl)).toBe(false)
    await expect(signIn.begin(alice.handle, 'owner')).rejects.toThrow(OAuthBeginError)
  })

  it('a sign-in not finished in time fails with OAuthTimeoutError and forgets its state', async () => {
    const alice = await createAccount(net, 'alice')
    const store = new MemorySecretStore()
    const signIn = service(store, { timeoutMs: 1_000 })
    // However slow the machine, the outcome is a timeout: while starting, or while waiting.
    const outcome = signIn.begin(alice.handle, 'owner').then((s) => s.done)
    await expect(outcome).rejects.toBeInstanceOf(OAuthTimeoutError)
    await signIn.cancel() // waits for the clean-up to finish
    expect(await store.keys()).toEqual([])
  })
})
