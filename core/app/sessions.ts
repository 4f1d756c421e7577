// The app's two sessions — the owner's and this machine's account — and how each is made, kept
// and ended: app-password logins (refreshed tokens kept sealed in the secret store, never the
// password), atproto OAuth (loaded on first use), the machine account this app made (signed in
// again with its kept password), restoring at start, and forgetting at sign-out. What a sign-in
// means for the meshlet (stop, link, start) is the app's to decide; this only holds the sessions.
import type { AtpAgent, AtpSessionData } from '@atproto/api'
import { ApiError, type Account, type Role } from '../api.js'
import { savedMachine } from '../accounts/index.js'
import { IdentityError, InvalidActorError, type IdentityResolver } from '../identity/resolver.js'
import type { Logger } from '../log.js'
import type { OAuthSignIn } from '../repo/oauth.js'
import { PasswordSession, type RepoWriter } from '../repo/writer.js'
import type { SecretStore } from '../secrets.js'

export interface Session {
  writer: RepoWriter
  account: Account
}

/** What became of a kept session at start. */
export type Restored =
  | { kind: 'restored'; session: Session }
  /** Nothing kept to restore it with. */
  | { kind: 'none' }
  /** The PDS is away (or Wi-Fi not up yet at login): the session is kept; try again. */
  | { kind: 'later'; error: unknown }
  /** Expired (public OAuth clients' sessions last two weeks) or revoked: sign in again. */
  | { kind: 'ended'; error: unknown }

export interface SessionsOptions {
  /** Sessions rest here (sealed with safeStorage in Electron, 0600 for the daemon). */
  secrets: SecretStore
  identity: IdentityResolver
  network: { plcUrl: string; handleResolverUrl: string; local?: boolean }
  /** The released app's hosted OAuth client_id; absent: the development loopback client. */
  oauthClientId?: string
  /** A handle already known for a DID, to name an account whose sign-in did not say it. */
  knownHandle?: (did: string) => string | undefined
  /** A session ended without us (expired, revoked from the account's settings). */
  onExpired: (did: string) => void
  onError: (stage: string, err: unknown) => void
  log: Logger
}

export class Sessions {
  owner?: Session
  machine?: Session
  /** The OAuth sign-in waiting for the browser, if any. */
  pending?: { role: Role; handle: string; url: string }
  /** Roles whose kept session could not be restored because the network was away. */
  readonly restoreLater = new Set<Role>()
  /** Loaded on first use: a daemon signed in with app passwords never needs OAuth, and its
   *  client library is among the heaviest imports of a start. */
  private oauthLoaded?: Promise<{ mod: typeof import('../repo/oauth.js'); signIn: OAuthSignIn }>

  constructor(private readonly opts: SessionsOptions) {}

  get(role: Role): Session | undefined {
    return role === 'owner' ? this.owner : this.machine
  }

  set(role: Role, session: Session | undefined): void {
    if (role === 'owner') this.owner = session
    else this.machine = session
  }

  /** Which of the two a DID signs in, if either. */
  roleOf(did: string): Role | undefined {
    return this.owner?.account.did === did
      ? 'owner'
      : this.machine?.account.did === did
        ? 'meshlet'
        : undefined
  }

  /** A session over a writer made elsewhere (the daemon's app passwords), or just now. */
  sessionOf(writer: RepoWriter, method: Account['method'], handle?: string): Session {
    const known = handle ?? this.opts.knownHandle?.(writer.did)
    return { writer, account: { did: writer.did, method, ...(known ? { handle: known } : {}) } }
  }

  requireOwner(): Session {
    if (!this.owner) throw new ApiError('not-signed-in', 'sign in with your Bluesky handle first')
    return this.owner
  }

  /** The owner and this machine must be two accounts: checked before signing in, because a
   *  second session for the same DID would replace the first one's stored tokens. */
  checkDistinct(role: Role, did: string): void {
    const other = role === 'owner' ? this.machine : this.owner
    if (other?.account.did === did) {
      throw new ApiError('conflict', 'this machine needs its own account, not the owner’s')
    }
  }

  /** Signs in with an app password; the refreshed tokens are kept, the password is not. */
  async withPassword(role: Role, actor: string, password: string): Promise<Session> {
    const did = await resolveActor(this.opts.identity, actor)
    this.checkDistinct(role, did)
    const { pds } = await this.opts.identity.resolveDid(did)
    const agent = await this.passwordAgent(did, pds)
    try {
      await agent.login({ identifier: did, password })
    } catch (err) {
      // The password never reaches a message or a log.
      throw new ApiError('not-signed-in', `the PDS refused the app password for ${actor}`, {
        cause: err,
      })
    }
    await this.keep(did, pds, agent.session)
    return this.sessionOf(new PasswordSession(agent, did), 'app-password', actor)
  }

  /** Starts an OAuth sign-in (replacing one pending): the page to open, and the session once
   *  the browser comes back. */
  async beginOAuth(role: Role, actor: string): Promise<{ url: string; done: Promise<Session> }> {
    if (this.pending) await (await this.oauth()).cancel(this.pending.role)
    this.checkDistinct(role, await resolveActor(this.opts.identity, actor))
    const oauth = await this.oauth()
    const { url, done } = await oauth.begin(actor, role).catch((err: unknown) => {
      throw new ApiError('invalid-args', `cannot sign in as ${actor}: ${messageOf(err)}`, {
        cause: err,
      })
    })
    this.pending = { role, handle: actor, url }
    return {
      url,
      done: done.then(
        (session) => this.sessionOf(session, 'oauth', session.handle),
        (err: unknown) => {
          if (this.pending?.url === url) this.pending = undefined
          throw err
        },
      ),
    }
  }

  async cancelOAuth(): Promise<void> {
    // Nothing to cancel unless a sign-in ever began.
    if (this.oauthLoaded) await (await this.oauth()).cancel()
    this.pending = undefined
  }

  /** Signs in the machine account this app made (its password kept in the secret store). */
  async machineLogin(did: string): Promise<Session | undefined> {
    const kept = await savedMachine(this.opts.secrets)
    if (kept?.did !== did) return undefined
    const agent = await this.passwordAgent(did, kept.pds)
    await agent.login({ identifier: did, password: kept.password })
    await this.keep(did, kept.pds, agent.session)
    return this.sessionOf(new PasswordSession(agent, did), 'app-password', kept.handle)
  }

  /** Restores a kept session (at start, or again once the network is back). */
  async restore(did: string, method: Account['method']): Promise<Restored> {
    try {
      const session = await this.tryRestore(did, method)
      return session ? { kind: 'restored', session } : { kind: 'none' }
    } catch (err) {
      const oauthMod = this.oauthLoaded && (await this.oauthLoaded).mod
      if ((oauthMod && err instanceof oauthMod.OAuthRestoreError) || isNetworkError(err)) {
        return { kind: 'later', error: err }
      }
      return { kind: 'ended', error: err }
    }
  }

  private async tryRestore(did: string, method: Account['method']) {
    if (method === 'oauth') {
      // Refreshed now, so a session revoked while the app was closed shows at once.
      const session = await (await this.oauth()).restore(did, { refresh: true })
      return session ? this.sessionOf(session, 'oauth', session.handle) : undefined
    }
    const stored = await this.opts.secrets.get(`session:${did}`)
    if (!stored) return await this.machineLogin(did)
    const { pds, data } = JSON.parse(stored) as { pds: string; data: AtpSessionData }
    const agent = await this.passwordAgent(did, pds)
    try {
      await agent.resumeSession(data)
    } catch (err) {
      // A machine account this app made signs in again with its kept password.
      if (isNetworkError(err)) throw err
      const again = await this.machineLogin(did)
      if (again) return again
      throw err
    }
    return this.sessionOf(new PasswordSession(agent, did), 'app-password', data.handle)
  }

  /** Signs a session out where it was made and forgets what was kept of it. */
  async forget(session: Session): Promise<void> {
    const did = session.account.did
    if (session.account.method === 'oauth') {
      await (
        await this.oauth()
      )
        .signOut(did)
        .catch((err: unknown) => this.opts.onError('sign-out', err))
    } else if (session.writer instanceof PasswordSession) {
      await session.writer.agent.logout().catch(() => undefined)
    }
    await this.opts.secrets.delete(`session:${did}`)
  }

  async [Symbol.asyncDispose](): Promise<void> {
    if (this.oauthLoaded) await (await this.oauthLoaded).signIn[Symbol.asyncDispose]()
  }

  private async keep(did: string, pds: string, data: AtpSessionData | undefined): Promise<void> {
    await this.opts.secrets.set(`session:${did}`, JSON.stringify({ pds, data }))
  }

  private async passwordAgent(did: string, pds: string): Promise<AtpAgent> {
    // Loaded here: a daemon (its sessions given to it) never signs in through the app.
    const { AtpAgent } = await import('@atproto/api')
    // Refreshed tokens are kept, sealed, so the session survives a restart without the password.
    return new AtpAgent({
      service: pds,
      persistSession: (evt, data) => {
        if (evt === 'expired') this.opts.onExpired(did)
        if (data) {
          void this.keep(did, pds, data).catch((err: unknown) => this.opts.onError('session', err))
        }
      },
    })
  }

  private async oauth(): Promise<OAuthSignIn> {
    const { network } = this.opts
    this.oauthLoaded ??= import('../repo/oauth.js').then((mod) => ({
      mod,
      signIn: new mod.OAuthSignIn({
        secrets: this.opts.secrets,
        plcDirectoryUrl: network.plcUrl,
        handleResolver: network.handleResolverUrl,
        allowHttp: network.local ?? false,
        ...(this.opts.oauthClientId ? { clientId: this.opts.oauthClientId } : {}),
        log: this.opts.log,
        onSessionExpired: (did) => this.opts.onExpired(did),
      }),
    }))
    return (await this.oauthLoaded).signIn
  }
}

/** A handle or DID typed by the user, as a DID; an `ApiError` the UI can show otherwise. */
export async function resolveActor(identity: IdentityResolver, actor: string): Promise<string> {
  try {
    const did = await identity.resolveActor(actor)
    if (!did.startsWith('did:')) throw new IdentityError(`not a DID: ${did}`)
    return did
  } catch (err) {
    if (err instanceof InvalidActorError) throw new ApiError('invalid-args', err.message)
    throw new ApiError('not-found', `cannot find ${actor}: ${messageOf(err)}`, { cause: err })
  }
}

export function isNetworkError(err: unknown): boolean {
  return /fetch failed|ECONNREFUSED|ENOTFOUND|EAI_AGAIN|ETIMEDOUT|ECONNRESET/.test(chainOf(err))
}

export function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err)
}

/** Every message of an error and its causes, for matching what went wrong underneath. */
export function chainOf(err: unknown): string {
  const parts: string[] = []
  for (let e: unknown = err; e instanceof Error; e = e.cause) parts.push(`${e.name}: ${e.message}`)
  return parts.join(' / ')
}
