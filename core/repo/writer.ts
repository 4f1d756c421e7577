import { Agent, AtpAgent } from '@atproto/api'
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

/** Signs in with an app password; the PDS is found from the DID document. */
export async function passwordSession(
  identity: IdentityResolver,
  actor: string,
  password: string,
): Promise<PasswordSession> {
  const did = await identity.resolveActor(actor)
  const { pds } = await identity.resolveDid(did)
  const agent = new AtpAgent({ service: pds })
  try {
    await agent.login({ identifier: did, password })
  } catch (err) {
    // The password never goes into the message.
    throw new SessionError(`sign-in as ${did} at ${pds} failed`, { cause: err })
  }
  return new PasswordSession(agent, did)
}

/**
 * Writes records through an `Agent`, whatever signed it in: an app password and an OAuth session
 * differ only in how the agent authenticates its requests, so the record calls live here once.
 */
export class AgentWriter<A extends Agent = Agent> implements RepoWriter {
  /** Sees the headers of every answer (the budgeted writer reads `ratelimit-*` from them). */
  observer?: (headers: Record<string, string | undefined>) => void

  constructor(
    readonly agent: A,
    readonly did: string,
  ) {}

  async put(
    collection: string,
    rkey: string,
    record: Record<string, unknown>,
    opts?: WriteOptions,
  ): Promise<WrittenRecord> {
    try {
      // validate unset: the PDS does not know our lexicons; receivers validate (DESIGN §10).
      const res = await this.agent.com.atproto.repo.putRecord(
        { repo: this.did, collection, rkey, record: { $type: collection, ...record } },
        callOptions(opts),
      )
      this.observer?.(res.headers)
      return { uri: res.data.uri, cid: res.data.cid }
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
      const res = await this.agent.com.atproto.repo.createRecord(
        { repo: this.did, collection, record: { $type: collection, ...record } },
        callOptions(opts),
      )
      this.observer?.(res.headers)
      return { uri: res.data.uri, cid: res.data.cid }
    } catch (err) {
      this.observeError(err)
      throw this.writeError(`createRecord ${collection} as ${this.did} failed`, err)
    }
  }

  async delete(collection: string, rkey: string, opts?: WriteOptions): Promise<void> {
    try {
      const res = await this.agent.com.atproto.repo.deleteRecord(
        { repo: this.did, collection, rkey },
        callOptions(opts),
      )
      this.observer?.(res.headers)
    } catch (err) {
      this.observeError(err)
      throw this.writeError(`deleteRecord ${collection}/${rkey} as ${this.did} failed`, err)
    }
  }

  async uploadBlob(data: Uint8Array, mimeType: string): Promise<UploadedBlob> {
    try {
      const res = await this.agent.com.atproto.repo.uploadBlob(data, { encoding: mimeType })
      return res.data.blob.ipld() as unknown as UploadedBlob
    } catch (err) {
      throw this.writeError(`uploadBlob as ${this.did} failed`, err)
    }
  }

  private observeError(err: unknown): void {
    const headers = (err as { headers?: Record<string, string> } | undefined)?.headers
    if (headers && typeof headers === 'object') this.observer?.(headers)
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
export class PasswordSession extends AgentWriter<AtpAgent> {}
