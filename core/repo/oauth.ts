// Sign-in with a Bluesky handle through atproto OAuth, as a native app (RFC 8252): the user
// approves in their own browser, on their own PDS's pages, and the browser comes back to a
// loopback HTTP server this module runs on 127.0.0.1 for as long as a sign-in is pending. The app
// never sees a password, and each session may write only the collections its role needs.
//
// Sessions (tokens and DPoP keys) rest in the SecretStore the shell gives us, which seals them;
// they never reach a log line or an error message.
import { randomUUID } from 'node:crypto'
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { isValidHandle } from '@atproto/syntax'
import {
  HandleResolverError,
  NodeOAuthClient,
  OAuthCallbackError as ClientCallbackError,
  TokenRevokedError,
  buildAtprotoLoopbackClientMetadata,
  isAtprotoDid,
  requestLocalLock,
  type HandleResolver,
  type NodeSavedSession,
  type NodeSavedState,
  type OAuthSession,
} from '@atproto/oauth-client-node'
import type { Role } from '../api.js'
import { silentLogger, type Logger } from '../log.js'
import type { SecretStore } from '../secrets.js'
import { releaseClientMetadata } from './client-metadata.js'
import { RepoWriteError } from './errors.js'
import { AgentWriter } from './writer.js'

export const OAUTH_CALLBACK_PATH = '/callback'
/** How long a sign-in may wait for the browser before it fails. */
export const DEFAULT_SIGN_IN_TIMEOUT_MS = 5 * 60_000

// One client_id for the app, whatever the port. The refresh and revocation of a token are bound
// to the client_id it was issued to, and a loopback client's id spells out its redirect URIs; with
// the ephemeral port in it, every restart would orphan the stored sessions. So the id registers
// the port-less redirect and each sign-in names its port at request time, which RFC 8252 §7.3
// requires the server to accept for loopback redirects.
const REGISTERED_REDIRECT = `http://127.0.0.1${OAUTH_CALLBACK_PATH}` as const
/** What identity resolution reports for a handle the DID document does not confirm. */
const HANDLE_INVALID = 'handle.invalid'

type LoopbackRedirect = `http://127.0.0.1:${number}${typeof OAUTH_CALLBACK_PATH}`

// What each role may write: core/repo/scopes.ts (light, for the app to check a restored session).
import { clientScope, scopeFor } from './scopes.js'
export { clientScope, missingScopes, scopeFor } from './scopes.js'

// ---------------------------------------------------------------------------------------------
// Errors: one class per stage, so the UI can say what happened and what to do.

export class OAuthError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options)
    this.name = 'OAuthError'
  }
}

/** The sign-in could not start: the handle does not resolve, or its PDS cannot be reached. */
export class OAuthBeginError extends OAuthError {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options)
    this.name = 'OAuthBeginError'
  }
}

/** The browser came back, but not with a usable answer: an error from the server, a state this
 *  app did not issue, or a code the server would not exchange. */
export class OAuthCallbackError extends OAuthError {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options)
    this.name = 'OAuthCallbackError'
  }
}

/** No account has this handle (or the text is not a handle at all): most likely a typo. */
export class OAuthUnknownHandleError extends OAuthBeginError {
  constructor(
    readonly handle: string,
    options?: { cause?: unknown },
  ) {
    super(`no account has the handle ${handle}; check the spelling`, options)
    this.name = 'OAuthUnknownHandleError'
  }
}

/** The user chose not to grant access on their PDS's page. */
export class OAuthDeniedError extends OAuthCallbackError {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options)
    this.name = 'OAuthDeniedError'
  }
}

export class OAuthTimeoutError extends OAuthError {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options)
    this.name = 'OAuthTimeoutError'
  }
}

/** cancel() was called, a newer sign-in for the same role replaced this one, or the app closed. */
export class OAuthCancelledError extends OAuthError {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options)
    this.name = 'OAuthCancelledError'
  }
}

/** The stored session can no longer be refreshed (expired, or revoked from the account's
 *  settings): the user must sign in again. The stored session is already gone. */
export class OAuthSessionExpiredError extends OAuthError {
  constructor(
    readonly did: string,
    options?: { cause?: unknown },
  ) {
    super(`the session of ${did} has expired or was revoked; sign in again`, options)
    this.name = 'OAuthSessionExpiredError'
  }
}

/** Restoring failed for a reason that may pass (the PDS is unreachable); the session is kept. */
export class OAuthRestoreError extends OAuthError {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options)
    this.name = 'OAuthRestoreError'
  }
}

/** True when `err`, or an error in its chain of causes, says the session has ended for good. */
export function isSessionExpired(err: unknown): boolean {
  for (let e = err, depth = 0; e instanceof Error && depth < 10; e = e.cause, depth++) {
    if (e instanceof OAuthSessionExpiredError) return true
  }
  return false
}

// ---------------------------------------------------------------------------------------------
// The session: a RepoWriter whose requests the OAuth client signs (DPoP) and refreshes.

export interface OAuthRepoSessionInfo {
  /** The role it signed in for; unknown only if the note kept beside the session is lost. */
  role?: Role
  /** The handle, when it was known and verified at sign-in. */
  handle?: string
  /** The scope the server granted, as it reported it. */
  scope: string
  /** Whether the sign-in service has seen this session end (its refresh refused). */
  hasExpired: () => boolean
}

export class OAuthRepoSession extends AgentWriter<OAuthSession> {
  readonly role?: Role
  readonly handle?: string
  readonly scope: string
  private readonly hasExpired: () => boolean

  constructor(
    readonly oauth: OAuthSession,
    info: OAuthRepoSessionInfo,
  ) {
    super(oauth, oauth.did)
    this.role = info.role
    this.handle = info.handle
    this.scope = info.scope
    this.hasExpired = info.hasExpired
  }

  protected override writeError(message: string, cause: unknown): RepoWriteError {
    // The client drops a session whose refresh fails and hands back the server's 401, which on
    // its own reads like any failed request; say it is over, so the UI asks for a new sign-in.
    if (this.hasExpired()) {
      return new RepoWriteError(message, {
        cause: new OAuthSessionExpiredError(this.did, { cause }),
      })
    }
    return new RepoWriteError(message, { cause })
  }
}

// ---------------------------------------------------------------------------------------------
// Stores: the client's state and session stores over the SecretStore, as JSON under a prefix.

const PREFIX = 'oauth:'
const STATE_PREFIX = `${PREFIX}state:`
const SESSION_PREFIX = `${PREFIX}session:`
const ACCOUNT_PREFIX = `${PREFIX}account:`

interface JsonStore<V> {
  get(key: string): Promise<V | undefined>
  set(key: string, value: V): Promise<void>
  del(key: string): Promise<void>
}

function jsonStore<V>(secrets: SecretStore, prefix: string): JsonStore<V> {
  return {
    async get(key) {
      const raw = await secrets.get(prefix + key)
      if (raw === undefined) return undefined
      try {
        return JSON.parse(raw) as V
      } catch (err) {
        // The message names the key only: the value is a secret, even when broken.
        throw new OAuthError(`the stored value under ${prefix}… is not JSON`, { cause: err })
      }
    },
    set: (key, value) => secrets.set(prefix + key, JSON.stringify(value)),
    del: (key) => secrets.delete(prefix + key),
  }
}

interface StoredAccount {
  role: Role
  handle?: string
}

export interface SignedInAccount {
  did: string
  role: Role
  handle?: string
}

// ---------------------------------------------------------------------------------------------
// The sign-in flow.

export interface OAuthSignInOptions {
  /** Where state, sessions and DPoP keys rest (sealed by the shell). */
  secrets: SecretStore
  /** PLC directory, e.g. https://plc.directory. */
  plcDirectoryUrl: string
  /** A service answering com.atproto.identity.resolveHandle (dev-env handles resolve only so). */
  handleResolver: string
  /** Only for a local network: lets the client talk to an http:// PDS and authorization server. */
  allowHttp?: boolean
  /** A released build's hosted client-metadata URL (client-metadata.ts); absent: the
   *  development loopback client. */
  clientId?: string
  /** How long a sign-in waits for the browser; default five minutes. */
  timeoutMs?: number
  log?: Logger
  fetch?: typeof globalThis.fetch
  /** A stored session ended without the app asking (refresh refused: expired, or revoked from the
   *  account's settings). The app should show "sign in again" for that account. */
  onSessionExpired?: (did: string) => void
}

export interface SignInStart {
  /** The page the user must open in their browser to approve the sign-in. */
  url: string
  /** Where the browser comes back to: this machine's loopback server, open while the sign-in
   *  is pending. For diagnostics; nothing needs to open it. */
  callbackUrl: string
  /** Settles when the browser comes back; rejects with an OAuthError subclass. */
  done: Promise<OAuthRepoSession>
}

interface Pending {
  id: string
  role: Role
  input: string
  /** The DID and handle the input resolved to before the browser was involved. */
  did?: string
  handle?: string
  settled: boolean
  /** Why it ended, when it ended without a session. */
  error?: OAuthError
  abort: AbortController
  timer: NodeJS.Timeout
  resolve(session: OAuthRepoSession): void
  reject(err: OAuthError): void
  done: Promise<OAuthRepoSession>
}

interface Loopback {
  server: Server
  redirectUri: LoopbackRedirect
  client: NodeOAuthClient
}

/**
 * Signs accounts in through atproto OAuth and keeps their sessions. One pending sign-in per role
 * at a time (a new begin() for a role replaces the pending one). The loopback server runs only
 * while a sign-in is pending.
 */
export class OAuthSignIn implements AsyncDisposable {
  private readonly secrets: SecretStore
  private readonly log: Logger
  private readonly timeoutMs: number
  private readonly stateStore: JsonStore<NodeSavedState>
  private readonly sessionStore: JsonStore<NodeSavedSession>
  private readonly accounts: JsonStore<StoredAccount>
  /** Restores, refreshes and revokes; needs no port, since it never redirects. */
  private readonly client: NodeOAuthClient
  private readonly handles: HandleResolver
  private loopback?: Promise<Loopback>
  private readonly pending = new Map<Role, Pending>()
  /** Our sign-in id → the client's state key, so a cancelled sign-in's state can be forgotten
   *  and a late browser cannot complete it. */
  private readonly stateKeys = new Map<string, string>()
  /** DIDs whose sessions this service handed out and has not signed out: the ones whose loss
   *  the app must hear about. */
  private readonly live = new Set<string>()
  /** DIDs whose stored session the client dropped because the server refused it. */
  private readonly expired = new Set<string>()
  private readonly chores = new Set<Promise<void>>()
  private disposed = false

  constructor(private readonly opts: OAuthSignInOptions) {
    this.secrets = opts.secrets
    this.log = opts.log ?? silentLogger
    this.timeoutMs = opts.timeoutMs ?? DEFAULT_SIGN_IN_TIMEOUT_MS
    const states = jsonStore<NodeSavedState>(opts.secrets, STATE_PREFIX)
    this.stateStore = {
      ...states,
      set: async (key, value) => {
        if (typeof value.appState === 'string') this.stateKeys.set(value.appState, key)
        await states.set(key, value)
      },
    }
    this.sessionStore = jsonStore<NodeSavedSession>(opts.secrets, SESSION_PREFIX)
    this.accounts = jsonStore<StoredAccount>(opts.secrets, ACCOUNT_PREFIX)
    this.handles = xrpcHandleResolver(opts.handleResolver, opts.fetch ?? globalThis.fetch)
    this.client = this.newClient(REGISTERED_REDIRECT)
  }

  /** Accounts with a stored session, for restoring them at start. */
  async signedIn(): Promise<SignedInAccount[]> {
    const out: SignedInAccount[] = []
    for (const key of await this.secrets.keys(SESSION_PREFIX)) {
      const did = key.slice(SESSION_PREFIX.length)
      const account = await this.accounts.get(did)
      if (account) out.push({ did, ...account })
    }
    return out
  }

  /** Starts a sign-in: resolves the handle and asks its PDS for an authorization page. */
  async begin(handle: string, role: Role): Promise<SignInStart> {
    if (this.disposed) throw new OAuthBeginError('the sign-in service is closed')
    const scope = scopeFor(role)
    const input = handle.trim().replace(/^@/, '')
    const previous = this.pending.get(role)
    if (previous) {
      this.settle(previous, new OAuthCancelledError(`replaced by a new sign-in as ${role}`))
    }
    const p = this.track(role, input)
    try {
      const { did, handle: verified } = await this.resolveAccount(input, p.abort.signal)
      p.did = did
      p.handle = verified
      const other = await this.accounts.get(did)
      if (other && other.role !== role && (await this.sessionStore.get(did))) {
        // One stored session per account: signing it in for the other role would replace (and
        // revoke) that role's session. The owner and the meshlet are separate accounts.
        throw new OAuthBeginError(
          `${input} is already signed in as the ${other.role}; the ${role} needs its own account`,
        )
      }
      const loopback = await this.openLoopback()
      p.abort.signal.throwIfAborted()
      const url = await loopback.client
        .authorize(input, { scope, state: p.id, signal: p.abort.signal })
        .catch((err: unknown) => {
          throw new OAuthBeginError(`cannot start the sign-in for ${input}: ${reason(err)}`, {
            cause: err,
          })
        })
      p.abort.signal.throwIfAborted()
      this.log.log('info', 'oauth.begin', { role, handle: input, did })
      return { url: url.href, callbackUrl: loopback.redirectUri, done: p.done }
    } catch (err) {
      // A cancel or timeout while starting wins over whatever the abort caused downstream.
      const error = p.error
        ? p.error
        : err instanceof OAuthError
          ? err
          : new OAuthBeginError(`cannot start the sign-in for ${input}: ${reason(err)}`, {
              cause: err,
            })
      this.settle(p, error)
      this.log.log('warn', 'oauth.begin-failed', { role, handle: input, error })
      throw error
    }
  }

  /** Cancels the pending sign-in of `role`, or every pending sign-in. */
  async cancel(role?: Role): Promise<void> {
    for (const p of [...this.pending.values()]) {
      if (role === undefined || p.role === role) {
        this.settle(p, new OAuthCancelledError(`the sign-in as ${p.role} was cancelled`))
      }
    }
    await this.idle()
  }

  /**
   * The stored session of `did`, ready to write; undefined when none is stored. `refresh` forces
   * a token refresh, which proves the session is still alive at the server. Throws
   * OAuthSessionExpiredError when the server refuses it (sign in again), OAuthRestoreError when
   * the server cannot be reached (the session is kept; try again later).
   */
  async restore(
    did: string,
    opts: { refresh?: boolean } = {},
  ): Promise<OAuthRepoSession | undefined> {
    if (this.disposed) throw new OAuthRestoreError('the sign-in service is closed')
    if ((await this.sessionStore.get(did)) === undefined) return undefined
    let session: OAuthSession
    try {
      session = await this.client.restore(did, opts.refresh ? true : 'auto')
    } catch (err) {
      // The client itself decides when a session is beyond saving, and deletes it then; a
      // session still stored is one a later attempt may restore (the PDS was unreachable).
      if ((await this.sessionStore.get(did)) === undefined) {
        await this.accounts.del(did)
        const error = new OAuthSessionExpiredError(did, { cause: err })
        this.log.log('warn', 'oauth.restore-expired', { did, error })
        throw error
      }
      throw new OAuthRestoreError(`cannot restore the session of ${did}: ${reason(err)}`, {
        cause: err,
      })
    }
    const account = await this.accounts.get(did)
    this.log.log('info', 'oauth.restored', { did, role: account?.role })
    return this.repoSession(session, account?.role, account?.handle)
  }

  /** Revokes the session at the server and forgets it here. Forgetting happens even when the
   *  server cannot be reached (logged): the user asked to be signed out of this machine. */
  async signOut(did: string): Promise<void> {
    this.live.delete(did)
    try {
      if ((await this.sessionStore.get(did)) !== undefined) await this.client.revoke(did)
    } catch (err) {
      this.log.log('warn', 'oauth.revoke-failed', { did, error: err as Error })
    } finally {
      // The client deletes its session in any case; make sure, then drop what we kept beside it.
      await this.sessionStore.del(did)
      await this.accounts.del(did)
    }
    this.log.log('info', 'oauth.signed-out', { did })
  }

  async [Symbol.asyncDispose](): Promise<void> {
    if (this.disposed) return
    this.disposed = true
    await this.cancel()
  }

  // --- internals ---------------------------------------------------------------------------

  /** The DID behind a handle (or a DID as given), and the handle when the DID document confirms
   *  it. Done before the browser is involved, so a typo fails here with a clear message. */
  private async resolveAccount(
    input: string,
    signal: AbortSignal,
  ): Promise<{ did: string; handle?: string }> {
    let did: string | null = input
    if (!input.startsWith('did:')) {
      if (!isValidHandle(input)) throw new OAuthUnknownHandleError(input)
      did = await this.handles.resolve(input.toLowerCase(), { signal }).catch((err: unknown) => {
        throw new OAuthBeginError(`cannot look up the handle ${input}: ${reason(err)}`, {
          cause: err,
        })
      })
      if (did === null) throw new OAuthUnknownHandleError(input)
    }
    const identity = await this.client.identityResolver
      .resolve(did, { signal })
      .catch((err: unknown) => {
        throw new OAuthBeginError(`cannot resolve the account ${input}: ${reason(err)}`, {
          cause: err,
        })
      })
    return {
      did: identity.did,
      ...(identity.handle !== HANDLE_INVALID ? { handle: identity.handle } : {}),
    }
  }

  private newClient(redirectUri: typeof REGISTERED_REDIRECT | LoopbackRedirect): NodeOAuthClient {
    const metadata = this.opts.clientId
      ? releaseClientMetadata(this.opts.clientId, clientScope())
      : buildAtprotoLoopbackClientMetadata({
          scope: clientScope(),
          redirect_uris: [REGISTERED_REDIRECT],
        })
    return new NodeOAuthClient({
      // The id keeps the registered, port-less redirect; the client itself checks the redirect it
      // sends against this list, so this sign-in's port goes here.
      clientMetadata: { ...metadata, redirect_uris: [redirectUri] },
      stateStore: this.stateStore,
      sessionStore: this.sessionStore,
      handleResolver: this.handles,
      plcDirectoryUrl: this.opts.plcDirectoryUrl,
      allowHttp: this.opts.allowHttp ?? false,
      requestLock: requestLocalLock,
      ...(this.opts.fetch ? { fetch: this.opts.fetch } : {}),
      onSessionDeleted: (sub, cause) => this.sessionDeleted(sub, cause),
    })
  }

  private sessionDeleted(did: string, cause: unknown): void {
    // Revocations are ours: signOut(), or the client replacing a session at a new sign-in. The
    // client also reports "deleted" when it merely looks for a session that is not there (at
    // every first sign-in), so only a session in use counts.
    if (cause instanceof TokenRevokedError || !this.live.has(did)) return
    this.sessionEnded(did, cause)
  }

  /** A session the app relies on is gone without its asking: tell it, once. */
  private sessionEnded(did: string, cause: unknown): void {
    this.live.delete(did)
    if (this.expired.has(did)) return
    this.expired.add(did)
    this.log.log('warn', 'oauth.session-expired', {
      did,
      error: cause instanceof Error ? cause : String(cause),
    })
    this.chore(this.accounts.del(did))
    try {
      this.opts.onSessionExpired?.(did)
    } catch (err) {
      this.log.log('error', 'oauth.on-session-expired-failed', { did, error: err as Error })
    }
  }

  private async repoSession(
    session: OAuthSession,
    role: Role | undefined,
    handle: string | undefined,
  ): Promise<OAuthRepoSession> {
    const did = session.did
    // The scope is in the stored token set; reading it without a refresh costs no request.
    const { scope } = await session.getTokenInfo(false)
    this.expired.delete(did)
    this.live.add(did)
    return new OAuthRepoSession(session, {
      ...(role ? { role } : {}),
      ...(handle ? { handle } : {}),
      scope,
      hasExpired: () => this.expired.has(did),
    })
  }

  private track(role: Role, input: string): Pending {
    let resolve!: (s: OAuthRepoSession) => void
    let reject!: (e: OAuthError) => void
    const done = new Promise<OAuthRepoSession>((res, rej) => {
      resolve = res
      reject = rej
    })
    // The caller may drop `done` (it only wanted the URL); a rejection then must not crash Node.
    done.catch(() => undefined)
    const p: Pending = {
      id: randomUUID(),
      role,
      input,
      settled: false,
      abort: new AbortController(),
      timer: setTimeout(() => {
        this.settle(
          p,
          new OAuthTimeoutError(
            `the sign-in as ${role} was not finished in the browser within ${Math.round(this.timeoutMs / 1000)} s`,
          ),
        )
      }, this.timeoutMs),
      resolve,
      reject,
      done,
    }
    p.timer.unref()
    this.pending.set(role, p)
    return p
  }

  /** Ends a pending sign-in once; later outcomes (a late browser) are ignored. */
  private settle(p: Pending, outcome: OAuthRepoSession | OAuthError): void {
    if (p.settled) return
    p.settled = true
    clearTimeout(p.timer)
    p.abort.abort()
    if (this.pending.get(p.role) === p) this.pending.delete(p.role)
    if (outcome instanceof OAuthError) {
      p.error = outcome
      p.reject(outcome)
    } else {
      p.resolve(outcome)
    }
    this.chore(this.forget(p))
  }

  private async forget(p: Pending): Promise<void> {
    const key = this.stateKeys.get(p.id)
    this.stateKeys.delete(p.id)
    // Already consumed when the browser came back; still there when cancelled or timed out, and
    // then it must go, so the authorization page can no longer complete this sign-in.
    if (key !== undefined) await this.stateStore.del(key)
    await this.closeLoopbackIfIdle()
  }

  private chore(work: Promise<void>): void {
    const tracked: Promise<void> = work
      .catch((err: unknown) =>
        this.log.log('error', 'oauth.cleanup-failed', { error: err as Error }),
      )
      .finally(() => this.chores.delete(tracked))
    this.chores.add(tracked)
  }

  private async idle(): Promise<void> {
    while (this.chores.size > 0) await Promise.all([...this.chores])
  }

  private openLoopback(): Promise<Loopback> {
    if (this.loopback) return this.loopback
    const opening = (async () => {
      // A new loopback means no sign-in is waiting on the old one: any state still stored is
      // from an abandoned sign-in (or an earlier run, whose port is gone) and can never complete.
      for (const key of await this.secrets.keys(STATE_PREFIX)) await this.secrets.delete(key)
      const server = createServer()
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject)
        server.listen(0, '127.0.0.1', () => {
          server.off('error', reject)
          resolve()
        })
      })
      const { port } = server.address() as AddressInfo
      const redirectUri: LoopbackRedirect = `http://127.0.0.1:${port}${OAUTH_CALLBACK_PATH}`
      const loopback: Loopback = { server, redirectUri, client: this.newClient(redirectUri) }
      server.on('request', (req, res) => {
        this.onRequest(loopback, req, res).catch((err: unknown) => {
          this.log.log('error', 'oauth.callback-crashed', { error: err as Error })
          if (!res.headersSent) page(res, 500, 'Sign-in failed', 'Something went wrong here.')
        })
      })
      server.on('error', (err) => this.log.log('error', 'oauth.loopback-error', { error: err }))
      this.log.log('debug', 'oauth.loopback-open', { port })
      return loopback
    })()
    this.loopback = opening
    opening.catch(() => {
      if (this.loopback === opening) this.loopback = undefined
    })
    return opening
  }

  private async closeLoopbackIfIdle(): Promise<void> {
    if (this.pending.size > 0 || !this.loopback) return
    const opening = this.loopback
    this.loopback = undefined
    const { server } = await opening.catch(() => ({ server: undefined }))
    if (!server) return
    await new Promise<void>((resolve) => {
      server.close(() => resolve())
      // The browser may hold a kept-alive connection; the sign-in is over, so drop it.
      server.closeIdleConnections()
    })
    this.log.log('debug', 'oauth.loopback-closed', {})
  }

  private async onRequest(lb: Loopback, req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', lb.redirectUri)
    if (req.method !== 'GET' || url.pathname !== OAUTH_CALLBACK_PATH) {
      await page(res, 404, 'Not found', 'This address only receives sign-ins.')
      return
    }
    const params = url.searchParams
    let session: OAuthSession
    let appState: string | null
    try {
      ;({ session, state: appState } = await lb.client.callback(params, {
        redirect_uri: lb.redirectUri,
      }))
    } catch (err) {
      const p = err instanceof ClientCallbackError ? this.byId(err.state) : undefined
      const error = callbackError(params, err)
      if (p) this.log.log('warn', 'oauth.callback-failed', { role: p.role, error })
      else this.log.log('warn', 'oauth.callback-unknown', { error })
      if (!p) {
        await page(
          res,
          400,
          'Sign-in failed',
          'This sign-in is not one the app is waiting for (it may have been cancelled or have ' +
            'expired). Start again from the app.',
        )
      } else if (error instanceof OAuthDeniedError) {
        await page(
          res,
          400,
          'Sign-in cancelled',
          'You did not grant access, so the app is not signed in. You can close this tab.',
        )
      } else {
        await page(
          res,
          400,
          'Sign-in failed',
          `${error.message}. You can close this tab and try again from the app.`,
        )
      }
      if (p) this.settle(p, error)
      return
    }

    const p = this.byId(appState ?? undefined)
    if (!p || p.settled) {
      // The app gave up on this sign-in (cancelled, replaced, timed out) while the browser was on
      // its way back: don't leave a session nobody asked for.
      await this.client.revoke(session.did).catch((err: unknown) => {
        this.log.log('warn', 'oauth.revoke-failed', { did: session.did, error: err as Error })
      })
      await page(res, 400, 'Sign-in cancelled', 'The app is no longer waiting for this sign-in.')
      return
    }
    try {
      const before = await this.accounts.get(session.did)
      if (before && before.role !== p.role) {
        // On the PDS's page the user signed in with the account that already serves the other
        // role (the handle typed was checked at begin). The client has replaced that role's
        // session by now; undo this one and tell the app the other role must sign in again.
        await this.client.revoke(session.did)
        this.sessionEnded(session.did, new OAuthError(`replaced by a sign-in as ${p.role}`))
        throw new OAuthCallbackError(
          `you signed in with the ${before.role}'s account; the ${p.role} needs its own account`,
        )
      }
      const handle = session.did === p.did ? p.handle : await this.handleOf(lb.client, session.did)
      await this.accounts.set(session.did, { role: p.role, ...(handle ? { handle } : {}) })
      const repo = await this.repoSession(session, p.role, handle)
      this.log.log('info', 'oauth.signed-in', { role: p.role, did: session.did, handle })
      await page(
        res,
        200,
        'Signed in',
        `Signed in${handle ? ` as @${handle}` : ''} — you can close this tab.`,
      )
      this.settle(p, repo)
    } catch (err) {
      const error =
        err instanceof OAuthError
          ? err
          : new OAuthCallbackError(`the sign-in could not be saved: ${reason(err)}`, {
              cause: err,
            })
      this.log.log('warn', 'oauth.callback-failed', { role: p.role, error })
      await page(
        res,
        400,
        'Sign-in failed',
        `${error.message}. You can close this tab and try again from the app.`,
      )
      this.settle(p, error)
    }
  }

  private byId(id: string | undefined): Pending | undefined {
    return id === undefined ? undefined : [...this.pending.values()].find((p) => p.id === id)
  }

  private async handleOf(client: NodeOAuthClient, did: string): Promise<string | undefined> {
    try {
      const { handle } = await client.identityResolver.resolve(did)
      return handle === HANDLE_INVALID ? undefined : handle
    } catch (err) {
      this.log.log('warn', 'oauth.handle-unknown', { did, error: err as Error })
      return undefined
    }
  }
}

/**
 * com.atproto.identity.resolveHandle on a service. The client's own XRPC resolver knows only the
 * older answer for an unknown handle (400 InvalidRequest "Unable to resolve handle"); current
 * PDSes say 400 HandleNotFound, which it takes for a broken service. Both mean "no such handle".
 */
function xrpcHandleResolver(service: string, fetchFn: typeof globalThis.fetch): HandleResolver {
  return {
    async resolve(handle, options) {
      const url = new URL('/xrpc/com.atproto.identity.resolveHandle', service)
      url.searchParams.set('handle', handle)
      const res = await fetchFn(url, {
        redirect: 'error',
        ...(options?.signal ? { signal: options.signal } : {}),
        ...(options?.noCache ? { cache: 'no-cache' as const } : {}),
      })
      const body = (await res.json().catch(() => undefined)) as
        { did?: unknown; error?: unknown; message?: unknown } | undefined
      if (
        res.status === 400 &&
        (body?.error === 'HandleNotFound' || body?.message === 'Unable to resolve handle')
      ) {
        return null
      }
      if (!res.ok) throw new HandleResolverError(`resolveHandle answered ${res.status}`)
      if (!isAtprotoDid(body?.did)) {
        throw new HandleResolverError('resolveHandle answered without a valid DID')
      }
      return body.did
    },
  }
}

/** What went wrong at the callback, without echoing the code or state. */
function callbackError(params: URLSearchParams, err: unknown): OAuthCallbackError {
  const code = params.get('error')
  if (code === 'access_denied') {
    return new OAuthDeniedError('access was denied on the sign-in page', { cause: err })
  }
  if (code !== null) {
    // Standard OAuth error codes are a short fixed vocabulary; anything else is not repeated.
    const known = /^[a-z_]{1,40}$/.test(code) ? code : 'error'
    return new OAuthCallbackError(`the sign-in page answered ${known}`, { cause: err })
  }
  if (err instanceof ClientCallbackError && !err.state) {
    return new OAuthCallbackError('the sign-in came back with a state this app did not issue', {
      cause: err,
    })
  }
  return new OAuthCallbackError(`the sign-in could not be completed: ${reason(err)}`, {
    cause: err,
  })
}

/** A short reason from an error, for messages people read. Library messages do not carry tokens;
 *  the cause keeps the full chain for logs. */
function reason(err: unknown): string {
  return err instanceof Error ? err.message : String(err)
}

function escapeHtml(s: string): string {
  return s.replace(
    /[&<>"']/g,
    (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!,
  )
}

/** A small static page for the browser tab; no scripts, nothing cached or referred onward. */
function page(res: ServerResponse, status: number, title: string, text: string): Promise<void> {
  const body =
    `<!doctype html><html lang="en"><head><meta charset="utf-8">` +
    `<title>${escapeHtml(title)} — Commune meshlet</title>` +
    `<style>body{font:16px system-ui,sans-serif;max-width:32rem;margin:4rem auto;padding:0 1rem}</style>` +
    `</head><body><h1>${escapeHtml(title)}</h1><p>${escapeHtml(text)}</p></body></html>`
  return new Promise((resolve) => {
    res.writeHead(status, {
      'Content-Type': 'text/html; charset=utf-8',
      'Content-Security-Policy': "default-src 'none'; style-src 'unsafe-inline'",
      'Cache-Control': 'no-store',
      'Referrer-Policy': 'no-referrer',
      'X-Content-Type-Options': 'nosniff',
      Connection: 'close',
    })
    res.end(body, () => resolve())
  })
}
