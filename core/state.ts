// What a meshlet knows of the commune: the latest version of every record that matters, kept
// in memory and rebuilt from backfill on start. Applying an event is idempotent, so the
// at-least-once delivery of the firehose is harmless.
import { LinkageRecords } from './identity/cluster.js'
import {
  NSID,
  type BidRecord,
  type ChallengeRecord,
  type MembershipRecord,
  type MeshletOwnerRecord,
  type MeshletRecord,
  type PresenceRecord,
  type SettlementRecord,
  type WorkloadRecord,
  type WorkloadStatusRecord,
} from './lexicon/index.js'
import { challengeRkey } from './scheduling/liveness.js'
import type {
  BidView,
  ChallengeView,
  PresenceView,
  StatusView,
  WorkloadView,
} from './scheduling/types.js'
import type { SettlementView } from './settlement/index.js'
import type { RecordEvent } from './sync/index.js'
import {
  countedVersion,
  distinctVersions,
  endedVersion,
  isTombstone,
  versionTombstoneProblem,
} from './tombstone/index.js'

export type { BidView, StatusView, WorkloadView }

export type Change = 'linkage' | 'workload' | 'bid' | 'status' | 'settlement' | 'secrets' | 'none'

export class RecordStore {
  readonly linkage = new LinkageRecords()
  readonly workloads = new Map<string, WorkloadView>()
  /** Workloads whose record was deleted while we watched: every replica must stop. */
  readonly deletedWorkloads = new Set<string>()
  /** Workloads their owner deleted whose tombstone is still there, as the version each ends:
   *  nothing runs them any more, but the ledger still counts them (core/tombstone). */
  readonly tombstones = new Map<string, WorkloadView>()
  /** Tombstones of versions their owner replaced (an update), by their own URI, each as the
   *  version it ends of the workload it names: never scheduled, counted by the ledger. */
  readonly versions = new Map<string, WorkloadView>()
  /** Each meshlet's membership record as published: its lending policy, for "why not?". */
  readonly policies = new Map<string, MembershipRecord>()
  private readonly bids = new Map<string, BidView>()
  private readonly statuses = new Map<string, StatusView>()
  /** Each meshlet's presence (liveness), by meshlet DID. */
  readonly presence = new Map<string, PresenceView>()
  /** Challenges of silent hosts (core/liveness), by record URI: one per (author, subject). */
  readonly challenges = new Map<string, ChallengeView>()
  /** Where each meshlet says it serves farm.meshlet.* (its meshletOwner record's endpoint). */
  readonly endpoints = new Map<string, string>()
  /** Other origins a meshlet answers at (its meshletOwner record's `alternateEndpoints`). */
  readonly alternateEndpoints = new Map<string, readonly string[]>()
  // The same records by the workload they name, so a workload's bids and statuses are a lookup,
  // not a scan of every record seen (the scan made planning quadratic in the number of bids).
  private readonly bidsByWorkload = new Index<BidView>()
  private readonly statusesByWorkload = new Index<StatusView>()
  /** Settled rounds' winners as the workloads' owners attested them (core/settlement). */
  private readonly settlements = new Map<string, SettlementView>()
  private readonly settlementsByWorkload = new Index<SettlementView>()

  /** Every version the ledger counts, each once: current workloads, tombstones, and the
   *  versions updates replaced (core/tombstone). */
  ledgerWorkloads(): WorkloadView[] {
    return distinctVersions([
      ...this.workloads.values(),
      ...this.tombstones.values(),
      ...this.versions.values(),
    ])
  }

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
      case NSID.presence:
        if (rkey !== 'self') return { change: 'none', refused: 'presence key is not self' }
        if (put) {
          this.presence.set(did, {
            uri,
            cid: evt.cid,
            meshlet: did,
            record: evt.record as PresenceRecord,
          })
        } else this.presence.delete(did)
        return { change: 'status' }
      case NSID.meshletOwner:
        if (rkey !== 'self') return { change: 'none', refused: 'meshletOwner key is not self' }
        this.linkage.setMeshletOwner(
          did,
          put ? (evt.record as MeshletOwnerRecord).owner : undefined,
        )
        {
          const endpoint = put ? (evt.record as MeshletOwnerRecord).endpoint : undefined
          if (endpoint !== undefined) this.endpoints.set(did, endpoint)
          else this.endpoints.delete(did)
          const alternates = put ? (evt.record as MeshletOwnerRecord).alternateEndpoints : undefined
          if (endpoint !== undefined && alternates?.length) {
            this.alternateEndpoints.set(did, alternates)
          } else this.alternateEndpoints.delete(did)
        }
        return { change: 'linkage' }
      case NSID.membership:
        if (rkey !== 'self') return { change: 'none', refused: 'membership key is not self' }
        this.linkage.setMembership(did, put ? (evt.record as MembershipRecord).members : undefined)
        if (put) this.policies.set(did, evt.record as MembershipRecord)
        else this.policies.delete(did)
        return { change: 'linkage' }
      case NSID.workload:
        if (put && (evt.record as WorkloadRecord).versionOf !== undefined) {
          const record = evt.record as WorkloadRecord
          const problem = versionTombstoneProblem(record, uri)
          if (problem !== undefined) return { change: 'none', refused: problem }
          this.versions.set(uri, countedVersion({ uri, cid: evt.cid, owner: did, record }))
          return { change: 'workload' }
        }
        if (this.versions.delete(uri) && !put) return { change: 'workload' }
        if (put && isTombstone(evt.record as WorkloadRecord)) {
          const view = { uri, cid: evt.cid, owner: did, record: evt.record as WorkloadRecord }
          this.workloads.delete(uri)
          this.tombstones.set(uri, endedVersion(view))
          // Every replica must stop, wherever we learn of it (a backfill after a long absence).
          this.deletedWorkloads.add(uri)
        } else if (put) {
          this.workloads.set(uri, {
            uri,
            cid: evt.cid,
            owner: did,
            record: evt.record as WorkloadRecord,
          })
          this.tombstones.delete(uri)
          this.deletedWorkloads.delete(uri)
        } else if (this.workloads.delete(uri) || this.tombstones.delete(uri)) {
          // Removed for good (a tombstone after its retention, or a client that deletes outright):
          // its bids and statuses count for nothing any more.
          this.deletedWorkloads.add(uri)
          for (const b of this.bidsByWorkload.take(uri)) this.bids.delete(b.uri)
          for (const a of this.settlementsByWorkload.take(uri)) this.settlements.delete(a.uri)
        }
        return { change: 'workload' }
      case NSID.bid:
        keep(
          this.bids,
          this.bidsByWorkload,
          uri,
          put ? { uri, cid: evt.cid, meshlet: did, record: evt.record as BidRecord } : undefined,
        )
        return { change: 'bid' }
      case NSID.workloadStatus:
        keep(
          this.statuses,
          this.statusesByWorkload,
          uri,
          put
            ? { uri, cid: evt.cid, meshlet: did, record: evt.record as WorkloadStatusRecord }
            : undefined,
        )
        return { change: 'status' }
      case NSID.challenge: {
        if (put) {
          const record = evt.record as ChallengeRecord
          if (rkey !== challengeRkey(record.subject)) {
            return { change: 'none', refused: 'challenge key differs from its subject' }
          }
          if (record.subject === did) {
            return { change: 'none', refused: 'a meshlet challenging itself' }
          }
          this.challenges.set(uri, { uri, cid: evt.cid, meshlet: did, record })
        } else this.challenges.delete(uri)
        return { change: 'status' }
      }
      case NSID.settlement:
        keep(
          this.settlements,
          this.settlementsByWorkload,
          uri,
          put
            ? { uri, cid: evt.cid, meshlet: did, record: evt.record as SettlementRecord }
            : undefined,
        )
        return { change: 'settlement' }
      // Sealed material is read when needed (core/sealing); its arrival only wakes the planner.
      case NSID.workloadSecrets:
        return { change: 'secrets' }
      case NSID.sealingKey:
        return { change: 'none' }
    }
  }

  allBids(): BidView[] {
    return [...this.bids.values()]
  }

  allStatuses(): StatusView[] {
    return [...this.statuses.values()]
  }

  allSettlements(): SettlementView[] {
    return [...this.settlements.values()]
  }

  settlementsFor(workloadUri: string): SettlementView[] {
    return this.settlementsByWorkload.get(workloadUri)
  }

  bidsFor(workloadUri: string): BidView[] {
    return this.bidsByWorkload.get(workloadUri)
  }

  statusesFor(workloadUri: string): StatusView[] {
    return this.statusesByWorkload.get(workloadUri)
  }
}

/** Records (bids or statuses) by the URI of the workload they name, each keyed by its own URI. */
/** A record by its URI and in its workload's index: `view` put, or (undefined) deleted. */
function keep<T extends { uri: string; record: { workload: { uri: string } } }>(
  byUri: Map<string, T>,
  index: Index<T>,
  uri: string,
  view: T | undefined,
): void {
  index.remove(byUri.get(uri))
  if (view === undefined) {
    byUri.delete(uri)
    return
  }
  byUri.set(uri, view)
  index.add(view)
}

class Index<T extends { uri: string; record: { workload: { uri: string } } }> {
  private readonly byWorkload = new Map<string, Map<string, T>>()

  add(item: T): void {
    const key = item.record.workload.uri
    let items = this.byWorkload.get(key)
    if (items === undefined) this.byWorkload.set(key, (items = new Map()))
    items.set(item.uri, item)
  }

  remove(item: T | undefined): void {
    if (item === undefined) return
    const key = item.record.workload.uri
    const items = this.byWorkload.get(key)
    items?.delete(item.uri)
    if (items?.size === 0) this.byWorkload.delete(key)
  }

  get(workloadUri: string): T[] {
    return [...(this.byWorkload.get(workloadUri)?.values() ?? [])]
  }

  /** Removes and returns every record naming the workload. */
  take(workloadUri: string): T[] {
    const items = this.get(workloadUri)
    this.byWorkload.delete(workloadUri)
    return items
  }
}
