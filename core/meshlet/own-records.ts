// Our own records, written and seen at once. Every write of the meshlet goes through the
// budgeted writer; what it wrote is applied to the record store as soon as the PDS took it, so the
// next plan does not wait for the firehose to echo it (a bid must count in its own round, a
// member removed must stop counting now), and the event source is told, so that the echo, when it
// comes, is known for ours.
import type { Collection } from '../lexicon/index.js'
import type { WriteClass } from '../repo/budget.js'
import type { RecordEvent } from '../sync/index.js'

export interface OwnRecordsOptions {
  /** Our own DID: the repo written to. */
  did: string
  writer: {
    put(
      collection: string,
      rkey: string,
      record: Record<string, unknown>,
      cls?: WriteClass,
    ): Promise<{ uri: string; cid: string }>
    delete(collection: string, rkey: string, cls?: WriteClass): Promise<void>
  }
  /** The record store's `apply`. */
  apply: (evt: RecordEvent) => void
  /** The event source's `wrote`: the echo of this write is ours. */
  wrote: (uri: string, cid: string) => void
}

export class OwnRecords {
  constructor(private readonly opts: OwnRecordsOptions) {}

  /** Writes a record (its class judged by the writer unless given), then sees it. */
  async put(
    collection: Collection,
    rkey: string,
    record: Record<string, unknown>,
    cls?: WriteClass,
  ): Promise<void> {
    const written = await this.opts.writer.put(collection, rkey, record, cls)
    this.opts.wrote(written.uri, written.cid)
    this.opts.apply({
      event: 'put',
      source: 'own',
      did: this.opts.did,
      collection,
      rkey,
      uri: written.uri,
      cid: written.cid,
      record: { $type: collection, ...record },
    })
  }

  /** Deletes a record, then stops seeing it (`uri`: as listed, when it was). */
  async delete(
    collection: Collection,
    rkey: string,
    cls?: WriteClass,
    uri = `at://${this.opts.did}/${collection}/${rkey}`,
  ): Promise<void> {
    await this.opts.writer.delete(collection, rkey, cls)
    this.opts.apply({
      event: 'delete',
      source: 'own',
      did: this.opts.did,
      collection,
      rkey,
      uri,
    })
  }
}
