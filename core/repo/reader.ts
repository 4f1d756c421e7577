import { Client, type DidString, type NsidString } from '@atproto/lex'
import type { IdentityResolver } from '../identity/resolver.js'
import { com } from '../lexicon/index.js'
import { RepoReadError } from './errors.js'

export interface ListedRecord {
  uri: string
  cid: string
  value: unknown
}

/** Reads public records straight from each repo's PDS (no session needed), with `@atproto/lex`'s
 *  client, which checks each answer against its method's lexicon. */
export class RepoReader {
  private readonly clients = new Map<string, Client>()

  constructor(private readonly identity: IdentityResolver) {}

  private async clientFor(did: string): Promise<Client> {
    const { pds } = await this.identity.resolveDid(did)
    let client = this.clients.get(pds)
    if (!client) {
      this.clients.set(pds, (client = new Client({ service: pds, fetch: this.identity.fetch })))
    }
    return client
  }

  /** Every record of a collection in a repo, following cursors. `max` bounds a hostile repo. */
  async listAll(did: string, collection: string, max = 10_000): Promise<ListedRecord[]> {
    const client = await this.clientFor(did)
    const out: ListedRecord[] = []
    let cursor: string | undefined
    try {
      do {
        const res = await client.listRecords(collection as NsidString, {
          repo: did as DidString,
          limit: 100,
          cursor,
        })
        for (const r of res.body.records) out.push({ uri: r.uri, cid: r.cid, value: r.value })
        cursor = res.body.records.length > 0 ? res.body.cursor : undefined
      } while (cursor && out.length < max)
    } catch (err) {
      throw new RepoReadError(`listRecords ${collection} of ${did} failed`, { cause: err })
    }
    return out
  }

  /** One record, or undefined when it does not exist. */
  async get(did: string, collection: string, rkey: string): Promise<ListedRecord | undefined> {
    const client = await this.clientFor(did)
    try {
      const res = await client.getRecord(collection as NsidString, rkey, { repo: did as DidString })
      return { uri: res.body.uri, cid: res.body.cid ?? '', value: res.body.value }
    } catch (err) {
      if ((err as { error?: string }).error === 'RecordNotFound') return undefined
      throw new RepoReadError(`getRecord ${collection}/${rkey} of ${did} failed`, { cause: err })
    }
  }

  /** A blob of a repo, refused when larger than `max` bytes (the PDS serves it to anyone). */
  async blob(did: string, cid: string, max: number): Promise<Uint8Array> {
    const client = await this.clientFor(did)
    let data: Uint8Array
    try {
      data = (await client.getBlob(did as DidString, cid as never)).body
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
    const client = await this.clientFor(did)
    try {
      const res = await client.xrpc(com.atproto.sync.getLatestCommit, {
        params: { did: did as DidString },
      })
      return res.body.rev
    } catch (err) {
      throw new RepoReadError(`getLatestCommit of ${did} failed`, { cause: err })
    }
  }
}
