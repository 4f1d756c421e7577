// What a meshlet knows of the commune: the latest version of every record that matters, kept
// in memory and rebuilt from backfill on start. Applying an event is idempotent, so the
// at-least-once delivery of the firehose is harmless.
import { LinkageRecords } from './identity/cluster.js'
import {
  NSID,
  type BidRecord,
  type MembershipRecord,
  type MeshletOwnerRecord,
  type MeshletRecord,
  type WorkloadRecord,
  type WorkloadStatusRecord,
} from './lexicon/index.js'
import type { BidView, StatusView, WorkloadView } from './scheduling/types.js'
import type { RecordEvent } from './sync/index.js'

export type { BidView, StatusView, WorkloadView }

export type Change = 'linkage' | 'workload' | 'bid' | 'status' | 'none'

export class RecordStore {
  readonly linkage = new LinkageRecords()
  readonly workloads = new Map<string, WorkloadView>()
  /** Workloads whose record was deleted while we watched: every replica must stop. */
  readonly deletedWorkloads = new Set<string>()
  private readonly bids = new Map<string, BidView>()
  private readonly statuses = new Map<string, StatusView>()

  /** Applies a validated record event; returns what kind of state changed, or a reason the
   *  record was refused beyond its lexicon (e.g. a meshlet record keyed by another DID). */
  apply(evt: RecordEvent): { change: Change; refused?: string } {
    if (evt.event !== 'put' && evt.event !== 'delete') return { change: 'none' }
    const { did, rkey, uri } = evt
    const put = evt.event === 'put'
    switch (evt.collection) {
      case NSID.meshlet: {
        if (put && (evt.record as MeshletRecord).meshlet !== rkey) {
          return { change: 'none', refused: 'meshlet record key differs from its meshlet DID' }
        }
        this.linkage.setOwnerMeshlet(did, rkey, put)
        return { change: 'linkage' }
      }
      case NSID.meshletOwner:
        if (rkey !== 'self') return { change: 'none', refused: 'meshletOwner key is not self' }
        this.linkage.setMeshletOwner(
          did,
          put ? (evt.record as MeshletOwnerRecord).owner : undefined,
        )
        return { change: 'linkage' }
      case NSID.membership:
        if (rkey !== 'self') return { change: 'none', refused: 'membership key is not self' }
        this.linkage.setMembership(did, put ? (evt.record as MembershipRecord).members : undefined)
        return { change: 'linkage' }
      case NSID.workload:
        if (put) {
          this.workloads.set(uri, {
            uri,
            cid: evt.cid,
            owner: did,
            record: evt.record as WorkloadRecord,
          })
          this.deletedWorkloads.delete(uri)
        } else if (this.workloads.delete(uri)) {
          this.deletedWorkloads.add(uri)
          for (const [k, b] of this.bids) if (b.record.workload.uri === uri) this.bids.delete(k)
        }
        return { change: 'workload' }
      case NSID.bid:
        if (put) {
          this.bids.set(uri, { uri, cid: evt.cid, meshlet: did, record: evt.record as BidRecord })
        } else this.bids.delete(uri)
        return { change: 'bid' }
      case NSID.workloadStatus:
        if (put) {
          this.statuses.set(uri, {
            uri,
            cid: evt.cid,
            meshlet: did,
            record: evt.record as WorkloadStatusRecord,
          })
        } else this.statuses.delete(uri)
        return { change: 'status' }
    }
  }

  allBids(): BidView[] {
    return [...this.bids.values()]
  }

  allStatuses(): StatusView[] {
    return [...this.statuses.values()]
  }

  bidsFor(workloadUri: string): BidView[] {
    return this.allBids().filter((b) => b.record.workload.uri === workloadUri)
  }

  statusesFor(workloadUri: string): StatusView[] {
    return this.allStatuses().filter((s) => s.record.workload.uri === workloadUri)
  }
}
