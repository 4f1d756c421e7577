import { Client, type DidString, type NsidString, type TypedLexMap } from '@atproto/lex'
import { PasswordSession as LexPasswordSession } from '@atproto/lex-password-session'
import type { IdentityResolver } from '../identity/resolver.js'
import type { WorkloadStatusRecord } from '../lexicon/index.js'
import { RepoWriteError, SessionError } from './errors.js'

export interface WrittenRecord {
  uri: string
  cid: string
}

/** How one write is sent: `signal` aborts it (the budgeted writer's timeout). */
export interface WriteOptions {
  signal?: AbortSignal
}

/** What publishing needs from a signed-in account. App-password sessions (headless) and OAuth
 *  sessions (desktop) both implement it. */
export interface RepoWriter {
  readonly did: string
  put(collection: string, rkey: string, record: Record<string, unknown>): Promise<WrittenRecord>
  create(collection: string, record: Record<string, unknown>): Promise<WrittenRecord>
  delete(collection: string, rkey: string): Promise<void>
  /** Uploads a blob for a record to reference (sealed results). */
  uploadBlob?(data: Uint8Array, mimeType: string): Promise<UploadedBlob>
}

/** A blob reference as a record carries it. */
export type UploadedBlob = NonNullable<WorkloadStatusRecord['result']>

/**
 * What signs and sends a session's requests: `@atproto/lex`'s `Agent` (a path and a fetch init
 * in, a response out). A lex password session, an OAuth session and an `@atproto/api` agent all
 * are one, so the record calls below serve every kind of sign-in.
 */
export interface SessionAgent {
  fetchHandler(path: string, init: RequestInit): Promise<Response>
}

/** A session that can be ended at its PDS. */
export interface EndableAgent extends SessionAgent {
  logout(): Promise<void>
}

/**
 * Signs in with an app password; the PDS is found from the DID document. The session
 * (`@atproto/lex-password-session`) refreshes its tokens itself and keeps them in memory only.
 */
export async function passwordSession(
  identity: IdentityResolver,
  actor: string,
  password: string,
): Promise<PasswordSession> {
  const did = await identity.resolveActor(actor)
  const { pds } = await identity.resolveDid(did)
  let session: LexPasswordSession
  try {
    // Over the identity resolver's fetch: the PDS is what the DID document names, and that fetch
    // is node:http with the SSRF guard (core/net), the one HTTP stack a daemon loads.
    session = await LexPasswordSession.login({
      service: pds,
      identifier: did,
      password,
      fetch: identity.fetch,
    })
  } catch (err) {
    // The password never goes into the message.
    throw new SessionError(`sign-in as ${did} at ${pds} failed`, { cause: err })
  }
  return new PasswordSession(session, did)
}

/**
 * Writes records through a `SessionAgent`, whatever signed it in: an app password and an OAuth
 * session differ only in how the agent authenticates its requests, so the record calls live here
 * once (`@atproto/lex`'s client, which knows the few `com.atproto.repo.*` methods it needs).
 */
export class AgentWriter<A extends SessionAgent = SessionAgent> implements RepoWriter {
  /** Sees the headers of every answer (the budgeted writer reads `ratelimit-*` from them). */
  observer?: (headers: Record<string, string | undefined>) => void
  private readonly client: Client

  constructor(
    readonly agent: A,
    readonly did: string,
  ) {
    this.client = new Client({
      did: did as DidString,
      fetchHandler: (path, init) => agent.fetchHandler(path, init),
    })
  }

  async put(
    collection: string,
    rkey: string,
    record: Record<string, unknown>,
    opts?: WriteOptions,
  ): Promise<WrittenRecord> {
    try {
      // validate unset: the PDS does not know our lexicons; receivers validate (DESIGN §10).
      const res = await this.client.putRecord(typed(collection, record), rkey, {
        repo: this.did as DidString,
        ...callOptions(opts),
      })
      this.observer?.(plainHeaders(res.headers))
      return { uri: res.body.uri, cid: res.body.cid }
    } catch (err) {
      this.observeError(err)
      throw this.writeError(`putRecord ${collection}/${rkey} as ${this.did} failed`, err)
    }
  }

  async create(
    collection: string,
    record: Record<string, unknown>,
    opts?: WriteOptions,
  ): Promise<WrittenRecord> {
    try {
      const res = await this.client.createRecord(typed(collection, record), undefined, {
        repo: this.did as DidString,
        ...callOptions(opts),
      })
      this.observer?.(plainHeaders(res.headers))
      return { uri: res.body.uri, cid: res.body.cid }
    } catch (err) {
      this.observeError(err)
      throw this.writeError(`createRecord ${collection} as ${this.did} failed`, err)
    }
  }

  async delete(collection: string, rkey: string, opts?: WriteOptions): Promise<void> {
    try {
      const res = await this.client.deleteRecord(collection as NsidString, rkey, {
        repo: this.did as DidString,
        ...callOptions(opts),
      })
      this.observer?.(plainHeaders(res.headers))
    } catch (err) {
      this.observeError(err)
      throw this.writeError(`deleteRecord ${collection}/${rkey} as ${this.did} failed`, err)
    }
  }

  async uploadBlob(data: Uint8Array, mimeType: string): Promise<UploadedBlob> {
    try {
      const res = await this.client.uploadBlob(data, {
        encoding: mimeType as `${string}/${string}`,
      })
      return res.body.blob as UploadedBlob
    } catch (err) {
      throw this.writeError(`uploadBlob as ${this.did} failed`, err)
    }
  }

  private observeError(err: unknown): void {
    const headers = (err as { headers?: unknown } | undefined)?.headers
    if (headers instanceof Headers) this.observer?.(plainHeaders(headers))
  }

  /** The error a failed write throws. Subclasses add what they know about why (an OAuth session
   *  that has ended), so callers can tell "sign in again" from "try again". */
  protected writeError(message: string, cause: unknown): RepoWriteError {
    return new RepoWriteError(message, { cause })
  }
}

function callOptions(opts: WriteOptions | undefined): { signal: AbortSignal } | undefined {
  return opts?.signal ? { signal: opts.signal } : undefined
}

/** An app-password session: the headless daemon's way to write. */
export class PasswordSession<A extends EndableAgent = EndableAgent> extends AgentWriter<A> {}

/** The record as sent: typed with its collection (a `$type` of its own wins, as it always did). */
function typed(collection: string, record: Record<string, unknown>): TypedLexMap<NsidString> {
  return { $type: collection, ...record } as TypedLexMap<NsidString>
}

function plainHeaders(headers: Headers): Record<string, string> {
  return Object.fromEntries(headers)
}
