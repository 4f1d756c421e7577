// The daemon plans through indexes (bids and statuses by workload in the record store; verified
// meshlets and recognised members per owner in the linkage records, dropped on change) so that
// planning scales as a sort. These properties check that the indexed path plans exactly what a
// straightforward scan of the same records plans, including after records change under a
// cache that was already built.
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { clusterView } from '../../../core/identity/cluster.js'
import { NSID } from '../../../core/lexicon/index.js'
import {
  DEFAULT_CONFIG,
  bidUri,
  compareStrings,
  plan,
  statusUri,
  type BidView,
  type ClusterView,
  type PlanInput,
  type StatusView,
  type WorkloadView,
} from '../../../core/scheduling/index.js'
import { RecordStore } from '../../../core/state.js'
import type { RecordEvent } from '../../../core/sync/index.js'
import { SEC, T0, iso, self } from './_util.js'

const OWNERS = ['did:plc:o0', 'did:plc:o1', 'did:plc:o2']
const MESHLETS = ['did:plc:m0', 'did:plc:m1', 'did:plc:m2', 'did:plc:m3']
const SPAN = 300 * SEC
const STATES = ['starting', 'running', 'failed', 'exited', 'stopped', 'yielded']

const workloadUri = (owner: number, rkey: number) =>
  `at://${OWNERS[owner]}/${NSID.workload}/w${rkey}`

const arbOp = fc.oneof(
  fc.record({
    kind: fc.constant('ownerMeshlet' as const),
    owner: fc.nat(2),
    meshlet: fc.nat(3),
    present: fc.boolean(),
  }),
  fc.record({
    kind: fc.constant('meshletOwner' as const),
    meshlet: fc.nat(3),
    owner: fc.option(fc.nat(2), { nil: undefined }),
  }),
  fc.record({
    kind: fc.constant('membership' as const),
    meshlet: fc.nat(3),
    members: fc.option(fc.subarray([0, 1, 2], { minLength: 1 }), { nil: undefined }),
  }),
  fc.record({
    kind: fc.constant('workload' as const),
    owner: fc.nat(2),
    rkey: fc.nat(1),
    version: fc.nat(1),
    replicas: fc.integer({ min: 1, max: 3 }),
    mode: fc.constantFrom('never', 'on-failure', 'always'),
    present: fc.boolean(),
  }),
  fc.record({
    kind: fc.constant('bid' as const),
    meshlet: fc.nat(3),
    owner: fc.nat(2),
    rkey: fc.nat(1),
    version: fc.nat(1),
    round: fc.nat(3),
    priority: fc.nat(3),
    at: fc.nat(SPAN),
    present: fc.boolean(),
  }),
  // Takes back an earlier record: deletes are where a stale index would show.
  fc.record({ kind: fc.constant('undo' as const), target: fc.nat(1000) }),
  fc.record({
    kind: fc.constant('status' as const),
    meshlet: fc.nat(3),
    owner: fc.nat(2),
    rkey: fc.nat(1),
    version: fc.nat(1),
    round: fc.nat(3),
    state: fc.constantFrom(...STATES),
    at: fc.nat(SPAN),
    present: fc.boolean(),
  }),
)
type Op = typeof arbOp extends fc.Arbitrary<infer T> ? T : never

type Written = Extract<RecordEvent, { event: 'put' | 'delete' }>

function eventsOf(ops: Op[]): Written[] {
  const events: Written[] = []
  ops.forEach((op, i) => {
    if (op.kind !== 'undo') return void events.push(eventOf(op, i))
    if (events.length === 0) return
    const e = events[op.target % events.length]!
    const { did, collection, rkey, uri, source } = e
    events.push({ event: 'delete', source, did, collection, rkey, uri })
  })
  return events
}

function eventOf(op: Exclude<Op, { kind: 'undo' }>, i: number): Written {
  const source = 'firehose' as never
  const event = (did: string, collection: string, rkey: string, present: boolean, record: object) =>
    (present
      ? {
          event: 'put',
          source,
          did,
          collection,
          rkey,
          uri: `at://${did}/${collection}/${rkey}`,
          cid: `bafy${i}`,
          record,
        }
      : {
          event: 'delete',
          source,
          did,
          collection,
          rkey,
          uri: `at://${did}/${collection}/${rkey}`,
        }) as Written
  switch (op.kind) {
    case 'ownerMeshlet':
      return event(OWNERS[op.owner]!, NSID.meshlet, MESHLETS[op.meshlet]!, op.present, {
        meshlet: MESHLETS[op.meshlet],
        createdAt: iso(T0),
      })
    case 'meshletOwner':
      return event(MESHLETS[op.meshlet]!, NSID.meshletOwner, 'self', op.owner !== undefined, {
        owner: OWNERS[op.owner ?? 0],
        createdAt: iso(T0),
      })
    case 'membership':
      return event(MESHLETS[op.meshlet]!, NSID.membership, 'self', op.members !== undefined, {
        members: (op.members ?? []).map((o) => OWNERS[o]),
        createdAt: iso(T0),
      })
    case 'workload': {
      const e = event(OWNERS[op.owner]!, NSID.workload, `w${op.rkey}`, op.present, {
        $type: NSID.workload,
        image: 'commune-test/busybox:1',
        resources: { cpuMillis: 500, memoryMiB: 256 },
        replicas: op.replicas,
        restartPolicy: { mode: op.mode },
        createdAt: iso(T0 + op.version * 60 * SEC),
      })
      // Versions are named by their CID, so a bid can name this version or another.
      return e.event === 'put' ? { ...e, cid: `bafyw${op.version}` } : e
    }
    case 'bid': {
      const uri = workloadUri(op.owner, op.rkey)
      const rkey = bidUri(MESHLETS[op.meshlet]!, uri, op.round, `bafyw${op.version}`)
        .split('/')
        .pop()!
      return event(MESHLETS[op.meshlet]!, NSID.bid, rkey, op.present, {
        $type: NSID.bid,
        workload: { uri, cid: `bafyw${op.version}` },
        round: op.round,
        priority: op.priority,
        offer: { cpuMillis: 500, memoryMiB: 256 },
        createdAt: iso(T0 + (op.round === 0 ? op.at % (5 * SEC) : op.at)),
      })
    }
    case 'status': {
      const uri = workloadUri(op.owner, op.rkey)
      const rkey = statusUri(MESHLETS[op.meshlet]!, uri, op.round, `bafyw${op.version}`)
        .split('/')
        .pop()!
      return event(MESHLETS[op.meshlet]!, NSID.workloadStatus, rkey, op.present, {
        $type: NSID.workloadStatus,
        workload: { uri, cid: `bafyw${op.version}` },
        round: op.round,
        state: op.state,
        exitCode: 1,
        updatedAt: iso(T0 + op.at),
      })
    }
  }
}

/** The same records kept as plain lists and judged by scanning them: the reference. */
class ScanStore {
  workloads = new Map<string, WorkloadView>()
  deleted = new Set<string>()
  bids: BidView[] = []
  statuses: StatusView[] = []
  ownerMeshlets: [string, string][] = []
  meshletOwner: [string, string][] = []
  membership: [string, readonly string[]][] = []

  apply(e: RecordEvent): void {
    if (e.event !== 'put' && e.event !== 'delete') return
    const put = e.event === 'put'
    const record = (put ? e.record : undefined) as Record<string, unknown> | undefined
    switch (e.collection) {
      case NSID.meshlet:
        this.ownerMeshlets = this.ownerMeshlets.filter(([o, m]) => !(o === e.did && m === e.rkey))
        if (put) this.ownerMeshlets.push([e.did, e.rkey])
        break
      case NSID.meshletOwner:
        this.meshletOwner = this.meshletOwner.filter(([m]) => m !== e.did)
        if (put) this.meshletOwner.push([e.did, record!.owner as string])
        break
      case NSID.membership:
        this.membership = this.membership.filter(([m]) => m !== e.did)
        if (put) this.membership.push([e.did, record!.members as string[]])
        break
      case NSID.workload:
        if (put) {
          this.workloads.set(e.uri, {
            uri: e.uri,
            cid: e.cid,
            owner: e.did,
            record: record as never,
          })
          this.deleted.delete(e.uri)
        } else if (this.workloads.delete(e.uri)) {
          this.deleted.add(e.uri)
          this.bids = this.bids.filter((b) => b.record.workload.uri !== e.uri)
        }
        break
      case NSID.bid:
        this.bids = this.bids.filter((b) => b.uri !== e.uri)
        if (put) this.bids.push({ uri: e.uri, cid: e.cid, meshlet: e.did, record: record as never })
        break
      case NSID.workloadStatus:
        this.statuses = this.statuses.filter((s) => s.uri !== e.uri)
        if (put) {
          this.statuses.push({ uri: e.uri, cid: e.cid, meshlet: e.did, record: record as never })
        }
        break
    }
  }

  // DESIGN §1 read literally: a meshlet is its owner's when both linkage records agree; two
  // owners are mutual when a verified meshlet of each lists the other.
  verified(owner: string): string[] {
    return this.ownerMeshlets
      .filter(([o, m]) => o === owner && this.meshletOwner.some(([x, y]) => x === m && y === o))
      .map(([, m]) => m)
  }

  lists(meshlet: string, member: string): boolean {
    return this.membership.some(([m, members]) => m === meshlet && members.includes(member))
  }

  view(): ClusterView {
    return {
      ownerOf: (m) => {
        const owner = this.meshletOwner.find(([x]) => x === m)?.[1]
        return owner !== undefined && this.ownerMeshlets.some(([o, x]) => o === owner && x === m)
          ? owner
          : undefined
      },
      isMutual: (a, b) =>
        a === b
          ? this.verified(a).length > 0
          : this.verified(a).some((m) => this.lists(m, b)) &&
            this.verified(b).some((m) => this.lists(m, a)),
    }
  }
}

function inputs(
  meshlet: number,
  now: number,
  records: {
    workloads: WorkloadView[]
    deleted: string[]
    bids: BidView[]
    statuses: StatusView[]
    cluster: ClusterView
  },
): PlanInput {
  return {
    self: self({ meshlet: MESHLETS[meshlet]!, owner: OWNERS[meshlet % OWNERS.length]! }),
    ...records,
    running: [],
    now,
    config: DEFAULT_CONFIG,
    priorityOf: () => 1,
  }
}

const byUri = (a: { uri: string }, b: { uri: string }) => compareStrings(a.uri, b.uri)

function expectSameCluster(store: RecordStore, ref: ScanStore): void {
  const indexed = clusterView(store.linkage)
  const scanned = ref.view()
  for (const m of MESHLETS) expect(indexed.ownerOf(m)).toBe(scanned.ownerOf(m))
  for (const a of OWNERS) {
    expect(store.linkage.verifiedMeshlets(a)).toEqual(ref.verified(a).sort(compareStrings))
    for (const b of OWNERS) expect(indexed.isMutual(a, b)).toBe(scanned.isMutual(a, b))
  }
}

function expectSamePlans(store: RecordStore, ref: ScanStore, now: number): void {
  const indexed = clusterView(store.linkage)
  const scanned = ref.view()
  expectSameCluster(store, ref)
  for (let owner = 0; owner < OWNERS.length; owner++) {
    for (let rkey = 0; rkey < 2; rkey++) {
      const uri = workloadUri(owner, rkey)
      const bids = ref.bids.filter((b) => b.record.workload.uri === uri)
      const statuses = ref.statuses.filter((s) => s.record.workload.uri === uri)
      expect(store.bidsFor(uri).sort(byUri)).toEqual(bids.sort(byUri))
      expect(store.statusesFor(uri).sort(byUri)).toEqual(statuses.sort(byUri))
    }
  }
  for (let m = 0; m < MESHLETS.length; m++) {
    const a = plan(
      inputs(m, now, {
        workloads: [...store.workloads.values()],
        deleted: [...store.deletedWorkloads],
        bids: store.allBids(),
        statuses: store.allStatuses(),
        cluster: indexed,
      }),
    )
    const b = plan(
      inputs(m, now, {
        workloads: [...ref.workloads.values()],
        deleted: [...ref.deleted],
        bids: ref.bids,
        statuses: ref.statuses,
        cluster: scanned,
      }),
    )
    expect(a.actions).toEqual(b.actions)
    expect(a.nextWakeAt).toEqual(b.nextWakeAt)
    expect([...a.explain]).toEqual([...b.explain])
  }
}

describe('indexed planning (properties)', () => {
  it('plans exactly what a scan of the same records plans, before and after more records', () => {
    fc.assert(
      fc.property(
        // size 'max': fast-check's default size would keep the lists to about ten records.
        fc.array(arbOp, { minLength: 1, maxLength: 80, size: 'max' }),
        fc.uniqueArray(fc.nat({ max: 80 }), { maxLength: 4 }),
        fc.integer({ min: 0, max: 2 * SPAN }),
        (ops, cuts, at) => {
          const store = new RecordStore()
          const ref = new ScanStore()
          const events = eventsOf(ops)
          const now = T0 + at
          // Plan part-way too, so the indexes are built, then change the records under them.
          const checks = new Set(cuts.filter((c) => c < events.length))
          events.forEach((e, i) => {
            if (checks.has(i)) expectSamePlans(store, ref, now)
            store.apply(e)
            ref.apply(e)
            // Cheap enough to ask after every record: a cache that outlives a change shows here.
            expectSameCluster(store, ref)
          })
          expectSamePlans(store, ref, now)
        },
      ),
      { numRuns: 100 },
    )
  })
})

// What planning keeps between calls (each bid's parsed time, spread key and author check, per
// cluster version; each round's last ranked order, where the next sort starts) must never change a
// plan: a long-lived store planned after every record plans exactly what a store built from
// scratch from the same records plans on its first call.
describe('incremental planning (properties)', () => {
  it('plans after every record exactly what a from-scratch build of the same records plans', () => {
    const planOf = (store: RecordStore, meshlet: number, now: number) =>
      plan(
        inputs(meshlet, now, {
          workloads: [...store.workloads.values()],
          deleted: [...store.deletedWorkloads],
          bids: store.allBids(),
          statuses: store.allStatuses(),
          cluster: clusterView(store.linkage),
        }),
      )
    fc.assert(
      fc.property(
        fc.array(arbOp, { minLength: 1, maxLength: 60, size: 'max' }),
        fc.integer({ min: 0, max: 2 * SPAN }),
        fc.nat(MESHLETS.length - 1),
        (ops, at, meshlet) => {
          const events = eventsOf(ops)
          const now = T0 + at
          const live = new RecordStore()
          events.forEach((e, i) => {
            live.apply(e)
            const incremental = planOf(live, meshlet, now)
            // New objects throughout: nothing kept from the live store's plans can apply.
            const fresh = new RecordStore()
            for (const old of events.slice(0, i + 1)) fresh.apply(structuredClone(old))
            const scratch = planOf(fresh, meshlet, now)
            expect(incremental.actions).toEqual(scratch.actions)
            expect(incremental.nextWakeAt).toEqual(scratch.nextWakeAt)
            expect([...incremental.explain]).toEqual([...scratch.explain])
          })
        },
      ),
      { numRuns: 60 },
    )
  })
})

describe('what selection keeps between calls', () => {
  it('judges a bid again once the linkage changes, and ranks it again once it is valid again', () => {
    const [owner, other] = OWNERS as [string, string]
    const [m0, m1] = MESHLETS as [string, string]
    const store = new RecordStore()
    const linkAll = () => {
      for (const [o, m] of [
        [owner, m0],
        [other, m1],
      ] as const) {
        store.apply(
          eventOf(
            {
              kind: 'ownerMeshlet',
              owner: OWNERS.indexOf(o),
              meshlet: MESHLETS.indexOf(m),
              present: true,
            },
            0,
          ),
        )
        store.apply(
          eventOf(
            { kind: 'meshletOwner', meshlet: MESHLETS.indexOf(m), owner: OWNERS.indexOf(o) },
            0,
          ),
        )
        store.apply(
          eventOf({ kind: 'membership', meshlet: MESHLETS.indexOf(m), members: [0, 1] }, 0),
        )
      }
    }
    linkAll()
    store.apply(
      eventOf(
        {
          kind: 'workload',
          owner: 0,
          rkey: 0,
          version: 0,
          replicas: 1,
          mode: 'never',
          present: true,
        },
        1,
      ),
    )
    for (const [m, priority] of [
      [1, 3],
      [0, 1],
    ] as const) {
      store.apply(
        eventOf(
          {
            kind: 'bid',
            meshlet: m,
            owner: 0,
            rkey: 0,
            version: 0,
            round: 0,
            priority,
            at: SEC,
            present: true,
          },
          2 + m,
        ),
      )
    }
    const winners = () => {
      const p = plan(
        inputs(0, T0 + 2 * SEC, {
          workloads: [...store.workloads.values()],
          deleted: [],
          bids: store.allBids(),
          statuses: [],
          cluster: clusterView(store.linkage),
        }),
      )
      const e = p.explain.get(workloadUri(0, 0))!
      return {
        winners: e.winners,
        reasons: e.bids.map((b) => `${b.meshlet} ${b.reason ?? 'valid'}`),
      }
    }
    expect(winners()).toEqual({ winners: [m1], reasons: [`${m1} valid`, `${m0} valid`] })
    // m1's owner stops listing it: its bid no longer counts, though nothing about the bid changed.
    store.apply(eventOf({ kind: 'ownerMeshlet', owner: 1, meshlet: 1, present: false }, 9))
    expect(winners()).toEqual({ winners: [m0], reasons: [`${m0} valid`, `${m1} author-unlinked`] })
    linkAll()
    expect(winners()).toEqual({ winners: [m1], reasons: [`${m1} valid`, `${m0} valid`] })
  })
})
