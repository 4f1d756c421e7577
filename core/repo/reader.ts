import { AtpAgent } from '@atproto/api'
import type { IdentityResolver } from '../identity/resolver.js'
import { RepoReadError } from './errors.js'

export interface ListedRecord {
  uri: string
  cid: string
  value: unknown
}

/** Reads public records straight from each repo's PDS (no session needed). */
export class RepoReader {
  private readonly agents = new Map<string, AtpAgent>()

  constructor(private readonly identity: IdentityResolver) {}

  private async agentFor(did: string): Promise<AtpAgent> {
    const { pds } = await this.identity.resolveDid(did)
    let agent = this.agents.get(pds)
    if (!agent) {
      this.agents.set(pds, (agent = new AtpAgent({ service: pds, fetch: this.identity.fetch })))
    }
    return agent
  }

  /** Every record of a collection in a repo, following cursors. `max` bounds a hostile repo. */
  async listAll(did: string, collection: string, max = 10_000): Promise<ListedRecord[]> {
    const agent = await this.agentFor(did)
    const out: ListedRecord[] = []
    let cursor: string | undefined
    try {
      do {
        const res = await agent.com.atproto.repo.listRecords({
          repo: did,
          collection,
          limit: 100,
          cursor,
        })
        for (const r of res.data.records) out.push({ uri: r.uri, cid: r.cid, value: r.value })
        cursor = res.data.records.length > 0 ? res.data.cursor : undefined
      } while (cursor && out.length < max)
    } catch (err) {
      throw new RepoReadError(`listRecords ${collection} of ${did} failed`, { cause: err })
    }
    return out
  }

  /** One record, or undefined when it does not exist. */
  async get(did: string, collection: string, rkey: string): Promise<ListedRecord | undefined> {
    const agent = await this.agentFor(did)
    try {
      const res = await agent.com.atproto.repo.getRecord({ repo: did, collection, rkey })
      return { uri: res.data.uri, cid: res.data.cid ?? '', value: res.data.value }
    } catch (err) {
      if ((err as { error?: string }).error === 'RecordNotFound') return undefined
      throw new RepoReadError(`getRecord ${collection}/${rkey} of ${did} failed`, { cause: err })
    }
  }

  /** A blob of a repo, refused when larger than `max` bytes (the PDS serves it to anyone). */
  async blob(did: string, cid: string, max: number): Promise<Uint8Array> {
    const agent = await this.agentFor(did)
    let data: Uint8Array
    try {
      data = (await agent.com.atproto.sync.getBlob({ did, cid })).data
    } catch (err) {
      throw new RepoReadError(`getBlob ${cid} of ${did} failed`, { cause: err })
    }
    if (data.length > max) {
      throw new RepoReadError(`blob ${cid} of ${did} is ${data.length} bytes (at most ${max})`)
    }
    return data
  }

  /** The repo's current revision: events at or before it are already in a listing made after. */
  async latestRev(did: string): Promise<string> {
    const agent = await this.agentFor(did)
    try {
      const res = await agent.com.atproto.sync.getLatestCommit({ did })
      return res.data.rev
    } catch (err) {
      throw new RepoReadError(`getLatestCommit of ${did} failed`, { cause: err })
    }
  }
}
