// A commune of simulated meshlets on an in-memory bus (issue 9 item 7): every meshlet keeps its own
// view, built only from the records delivered to it, and runs the real scheduling core on it —
// plan() with the fair-share audit, the rounds, eligibility, selection and its spread tie-break, the
// fast reopen, and the presence vouching — exactly as the daemon's executor does. Time is
// simulated: the core takes `now` as an input, so an hour of a commune runs in seconds, and a seed
// makes every run repeatable. What is measured is how often the meshlets' views disagree, for how
// long, and what that costs: replicas running twice, replicas waiting unplaced.
import { NSID, type Resources } from '../../core/lexicon/index.js'
import { vouchFor } from '../../core/presence/index.js'
import { Audit } from '../../core/fairshare/index.js'
import {
  DEFAULT_CONFIG,
  ENDING_STATES,
  bidRkey,
  plan,
  roundHistory,
  type BidView,
  type ClusterView,
  type LocalReplica,
  type PresenceView,
  type SchedulingConfig,
  type StatusView,
  type WorkloadView,
} from '../../core/scheduling/index.js'

// --- randomness and delays ------------------------------------------------------------------

/** mulberry32: small, fast and seeded, so a run can be repeated exactly. */
export function rng(seed: number): () => number {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

function normal(random: () => number): number {
  // Box–Muller; 1 - u keeps log away from 0.
  const u = 1 - random()
  const v = random()
  return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v)
}

/** How long a record takes from its author's write to one peer's view. */
export interface DelayModel {
  name: string
  /** Median one-way delay (ms) of a delivered record. */
  medianMs: number
  /** Spread of the log-normal: 0.5 is tight, 1.5 a long tail (p99 ≈ 33 × median). */
  sigma: number
  /** Share of deliveries that are lost on the stream and only arrive with the next backfill. */
  lost: number
  /** When a lost record arrives instead: uniform in [min, max] ms after its write. */
  backfillMs: [number, number]
}

export const DELAYS: readonly DelayModel[] = [
  { name: 'LAN, 50 ms', medianMs: 50, sigma: 0.5, lost: 0, backfillMs: [0, 0] },
  { name: 'net, 300 ms', medianMs: 300, sigma: 1, lost: 0.001, backfillMs: [15_000, 60_000] },
  { name: 'slow, 1 s', medianMs: 1_000, sigma: 1.2, lost: 0.01, backfillMs: [15_000, 60_000] },
  { name: 'bad, 5 s', medianMs: 5_000, sigma: 1, lost: 0.02, backfillMs: [30_000, 120_000] },
]

function sampleDelay(model: DelayModel, random: () => number): { ms: number; lost: boolean } {
  if (model.lost > 0 && random() < model.lost) {
    const [lo, hi] = model.backfillMs
    return { ms: lo + random() * (hi - lo), lost: true }
  }
  return { ms: model.medianMs * Math.exp(model.sigma * normal(random)), lost: false }
}

// --- records on the bus ---------------------------------------------------------------------

type Collection = 'workload' | 'bid' | 'status' | 'presence'

interface Write {
  /** Global write sequence: a later write of the same URI has a larger one. */
  seq: number
  uri: string
  collection: Collection
  author: number
  /** Absent for a delete. */
  view?: WorkloadView | BidView | StatusView | PresenceView
  writtenAt: number
}

/** One write on its way to every other meshlet: receivers in arrival order. */
interface Broadcast {
  write: Write
  to: Int32Array
  at: Float64Array
  next: number
}

class Heap<T> {
  private items: { at: number; seq: number; value: T }[] = []
  private seq = 0
  get size(): number {
    return this.items.length
  }
  push(at: number, value: T): void {
    const items = this.items
    items.push({ at, seq: this.seq++, value })
    let i = items.length - 1
    while (i > 0) {
      const p = (i - 1) >> 1
      if (!less(items[i]!, items[p]!)) break
      ;[items[i], items[p]] = [items[p]!, items[i]!]
      i = p
    }
  }
  peekAt(): number {
    return this.items[0]?.at ?? Infinity
  }
  pop(): { at: number; value: T } | undefined {
    const items = this.items
    const top = items[0]
    if (top === undefined) return undefined
    const last = items.pop()!
    if (items.length > 0) {
      items[0] = last
      let i = 0
      for (;;) {
        const l = 2 * i + 1
        const r = l + 1
        let m = i
        if (l < items.length && less(items[l]!, items[m]!)) m = l
        if (r < items.length && less(items[r]!, items[m]!)) m = r
        if (m === i) break
        ;[items[i], items[m]] = [items[m]!, items[i]!]
        i = m
      }
    }
    return top
  }
}

function less(a: { at: number; seq: number }, b: { at: number; seq: number }): boolean {
  return a.at < b.at || (a.at === b.at && a.seq < b.seq)
}

// --- one simulated meshlet --------------------------------------------------------------------

interface SimReplica extends LocalReplica {
  /** Whether the container runs yet (a start takes startMs). */
  up: boolean
}

interface Decision {
  opensAt: number
  winners: string
}

class SimMeshlet {
  readonly workloads = new Map<string, WorkloadView>()
  readonly deleted = new Set<string>()
  /** Deleted workloads' tombstones, as the version each ends (core/tombstone): the ledger
   *  still counts them, their records are kept. */
  readonly tombstones = new Map<string, WorkloadView>()
  readonly bids = new Map<string, Map<string, BidView>>()
  readonly statuses = new Map<string, Map<string, StatusView>>()
  readonly presence = new Map<string, PresenceView>()
  readonly ownBids = new Map<string, BidView>()
  /** Latest write sequence applied, per URI: a backfilled older write never overwrites. */
  readonly applied = new Map<string, number>()
  readonly local: SimReplica[] = []
  /** The first decided selection this meshlet computed for each (workload, cid, round). */
  readonly decided = new Map<string, Decision>()
  readonly lastWinners = new Map<string, string>()
  /** The last time the decided winners of a round changed in this view (while current). */
  readonly changedAt = new Map<string, number>()
  /** The current round of each workload at the last plan (for the no-op delivery rule). */
  readonly current = new Map<string, { round: number; decideAt: number }>()
  wakeAt = Infinity
  crashed = false
  lending = true
  busyUntil = -Infinity
  plannedAt = -Infinity
  tickQueued = false
  presenceSeq = 0
  listed = false

  constructor(
    readonly index: number,
    readonly did: string,
    readonly owner: string,
    readonly offer: Resources,
  ) {}

  /** Applies a delivered write; false when it was stale (an older version than held). */
  apply(write: Write): boolean {
    const seen = this.applied.get(write.uri)
    if (seen !== undefined && seen >= write.seq) return false
    this.applied.set(write.uri, write.seq)
    const view = write.view
    switch (write.collection) {
      case 'workload':
        if (view === undefined) {
          // The daemon forgets a deleted workload's records (it keeps the URI to stop replicas).
          this.workloads.delete(write.uri)
          this.deleted.add(write.uri)
          this.bids.delete(write.uri)
          this.statuses.delete(write.uri)
          for (const [uri, b] of this.ownBids) {
            if (b.record.workload.uri === write.uri) this.ownBids.delete(uri)
          }
        } else if ((view as WorkloadView).record.deletedAt !== undefined) {
          // A tombstone (what the app and the CLI write): stopped, but still counted.
          this.workloads.delete(write.uri)
          this.deleted.add(write.uri)
          this.tombstones.set(write.uri, view as WorkloadView)
        } else if (!this.deleted.has(write.uri)) {
          this.workloads.set(write.uri, view as WorkloadView)
        }
        return true
      case 'bid': {
        const bid = view as BidView
        const w = bid.record.workload.uri
        if (this.deleted.has(w) && !this.tombstones.has(w)) return false
        inner(this.bids, w).set(write.uri, bid)
        if (bid.meshlet === this.did) this.ownBids.set(write.uri, bid)
        return true
      }
      case 'status': {
        const status = view as StatusView
        const w = status.record.workload.uri
        if (this.deleted.has(w) && !this.tombstones.has(w)) return false
        inner(this.statuses, w).set(write.uri, status)
        return true
      }
      case 'presence':
        this.presence.set((view as PresenceView).meshlet, view as PresenceView)
        return true
    }
  }

  /** The records of the workloads it knows, as plan() takes them. */
  arrays(): {
    workloads: WorkloadView[]
    tombstones: WorkloadView[]
    bids: BidView[]
    statuses: StatusView[]
  } {
    const bids: BidView[] = []
    const statuses: StatusView[] = []
    for (const uri of [...this.workloads.keys(), ...this.tombstones.keys()]) {
      for (const b of this.bids.get(uri)?.values() ?? []) bids.push(b)
      for (const s of this.statuses.get(uri)?.values() ?? []) statuses.push(s)
    }
    return {
      workloads: [...this.workloads.values()],
      tombstones: [...this.tombstones.values()],
      bids,
      statuses,
    }
  }
}

function inner<V>(outer: Map<string, Map<string, V>>, key: string): Map<string, V> {
  let m = outer.get(key)
  if (m === undefined) outer.set(key, (m = new Map()))
  return m
}

// --- the simulation ---------------------------------------------------------------------------

export interface SimOptions {
  meshlets: number
  delay: DelayModel
  seed: number
  /** Simulated time during which workloads arrive; the run goes on DRAIN_MS after it. */
  durationMs: number
  /** Mean workload arrivals per simulated minute (Poisson). */
  arrivalsPerMinute: number
  /** Workloads published within 2 s, `at` ms into the run (issue 9's storm). */
  burst?: { at: number; count: number }
  /** Meshlets killed (no drain, containers gone) at random times. */
  crashes: number
  /** Share of meshlets that lend (default 1): the others follow and decide, but never bid. */
  lending?: number
  config?: Partial<SchedulingConfig>
  /** Judge every bid's priority against the public ledger, as the daemon does (default on). */
  audit?: boolean
  /**
   * Skip the plans a delivery provably cannot change (see shouldReplan; default on). Off: plan
   * on every delivery, as the daemon does. The tests check both give the same actions.
   */
  skipNoops?: boolean
  /** Container start time (ms) between `starting` and `running`. */
  startMs?: number
  /** How long a plan keeps a meshlet busy (ms, default 0): records that arrive meanwhile are
   *  planned on together when it is done, as the daemon's queue does with a tick under way. */
  tickMs?: number
  /** Record every action, for the tests. */
  trace?: boolean
}

export interface RoundAgreement {
  workload: string
  round: number
  decideAt: number
  /** Meshlets whose first decided selection (winners or window) differed from the ideal one. */
  disagreeing: number
  deciders: number
  /** A round only some views had (the ideal view never opened it: a replica judged lost on a
   *  late record, say). */
  phantom: boolean
  /** Until every live meshlet held the ideal winners' bids and its winners stopped changing
   *  (NaN for a phantom round). */
  convergedAfterMs: number
}

export interface SimResult {
  options: SimOptions
  workloads: number
  replicas: number
  rounds: RoundAgreement[]
  /** Containers started. */
  starts: number
  /** Containers stopped because their meshlet learned it had lost the round (a better late bid). */
  yielded: number
  /** Running containers stopped because peers had judged them lost (late presence or status). */
  notSelected: number
  /** Episodes with more containers of a workload running than it asks for: their lengths. */
  doubled: number[]
  /** Replica-milliseconds with more replicas running than asked. */
  excessMs: number
  /** Replica-milliseconds a wanted replica was not running, from publication to deletion. */
  unplacedMs: number
  /** Per workload: from publication until all its replicas first ran (Infinity: never). */
  placedAfterMs: number[]
  /** Per replica lost in a crash: from the kill until it ran elsewhere. */
  replacedAfterMs: number[]
  /** The largest share of a meshlet's offered CPU its running guests used (must stay ≤ 1). */
  maxOfferUse: number
  /** Decided rounds whose winners changed later in the ideal view (which holds every record at
   *  once): a change of the past no delay explains. */
  rewritten: string[]
  plans: number
  deliveries: number
  /** Wall and CPU time the simulation took (ms): the CPU time is what a loaded machine hides. */
  wallMs: number
  cpuMs: number
  trace: string[]
}

/** Simulated time after the last arrival, so late records land and rounds settle. */
export const DRAIN_MS = 2 * 60_000

const T0 = Date.UTC(2026, 0, 5, 9, 0, 0)

const SHAPES: Resources[] = [
  { cpuMillis: 250, memoryMiB: 256 },
  { cpuMillis: 500, memoryMiB: 512 },
  { cpuMillis: 1000, memoryMiB: 1024 },
]

type Event =
  | { kind: 'deliver'; b: Broadcast }
  | { kind: 'wake'; m: SimMeshlet; at: number }
  | { kind: 'tick'; m: SimMeshlet }
  | { kind: 'judge'; uri: string; at: number }
  | { kind: 'beat'; m: SimMeshlet }
  | { kind: 'running'; m: SimMeshlet; r: SimReplica }
  | { kind: 'exit'; m: SimMeshlet; r: SimReplica }
  | { kind: 'publish'; w: WorkloadView; author: number; lifetimeMs: number; batch: boolean }
  | { kind: 'delete'; uri: string; author: number }
  /** A host running replicas, picked when it happens, is killed. */
  | { kind: 'crash' }

/** What actually ran, per workload: the ground truth the views are judged by. */
interface Truth {
  replicas: number
  publishedAt: number
  endsAt: number
  batch: boolean
  lifetimeMs: number
  running: number
  done: number
  /** When the counts last changed, for the integrals. */
  since: number
  excessSince?: number
  placedAt?: number
  /** Kill times of crashed hosts that ran a replica, awaiting its replacement. */
  crashed: number[]
}

export function simulate(options: SimOptions): SimResult {
  const started = performance.now()
  const cpu0 = process.cpuUsage()
  const random = rng(options.seed)
  const config: SchedulingConfig = { ...DEFAULT_CONFIG, ...options.config }
  const useAudit = options.audit ?? true
  const skipNoops = options.skipNoops ?? true
  const startMs = options.startMs ?? 1500
  const tickMs = options.tickMs ?? 0
  const n = options.meshlets
  const pad = String(n).length
  const meshlets: SimMeshlet[] = []
  const ownerOf = new Map<string, string>()
  for (let i = 0; i < n; i++) {
    const id = String(i).padStart(pad, '0')
    // Lenders differ: a laptop lends a core, a home server four.
    const cores = [1, 2, 2, 4][Math.floor(random() * 4)]!
    const m = new SimMeshlet(i, `did:plc:mesh${id}`, `did:plc:owner${id}`, {
      cpuMillis: cores * 1000,
      memoryMiB: cores * 1024,
      storageMiB: 0,
    })
    m.lending = random() < (options.lending ?? 1)
    meshlets.push(m)
    ownerOf.set(m.did, m.owner)
  }
  const cluster: ClusterView = { ownerOf: (did) => ownerOf.get(did), isMutual: () => true }
  // The ideal view: every write the moment it is written. Its selection of a round, computed at
  // the round's decideAt, is what every meshlet should have computed.
  const ideal = new SimMeshlet(-1, 'did:plc:ideal', 'did:plc:ideal', { cpuMillis: 0, memoryMiB: 0 })
  const idealRounds = new Map<string, Decision & { decideAt: number }>()
  const allWinners = new Map<string, string[]>()
  const judgeAt = new Map<string, number>()
  const rewritten: string[] = []

  const heap = new Heap<Event>()
  let now = T0
  let seq = 0
  let plans = 0
  let deliveries = 0
  const trace: string[] = []
  // Authors: meshlet i is i, owner i is n + i. Per (author, receiver): the last arrival (FIFO).
  const lastArrival = new Float64Array(2 * n * n)
  /** Arrival time of each bid at each meshlet: convergence needs them. */
  const bidArrivals = new Map<string, Float64Array>()
  const truth = new Map<string, Truth>()
  const dirty = new Set<string>()
  const pendingTicks = new Set<SimMeshlet>()
  let yielded = 0
  let notSelected = 0
  let starts = 0
  let excessMs = 0
  let unplacedMs = 0
  let maxOfferUse = 0
  let totalReplicas = 0
  const doubled: number[] = []
  const replacedAfterMs: number[] = []

  const iso = (t: number) => new Date(t).toISOString()
  const cidOf = (s: number) => `bafysim${s.toString(36)}`

  function broadcast(write: Write, self?: SimMeshlet): void {
    ideal.apply(write)
    markDirty(write)
    if (self !== undefined) self.apply(write)
    const to: number[] = []
    const at: number[] = []
    for (const m of meshlets) {
      if (m === self) continue
      const d = sampleDelay(options.delay, random)
      let t = now + d.ms
      // A stream delivers one author's writes in order; a lost one comes back with a backfill.
      if (!d.lost) {
        const link = write.author * n + m.index
        t = Math.max(t, lastArrival[link]!)
        lastArrival[link] = t
      }
      to.push(m.index)
      at.push(t)
    }
    const order = to.map((_, i) => i).sort((a, b) => at[a]! - at[b]!)
    const b: Broadcast = {
      write,
      to: Int32Array.from(order.map((i) => to[i]!)),
      at: Float64Array.from(order.map((i) => at[i]!)),
      next: 0,
    }
    if (write.collection === 'bid') {
      const arrivals = new Float64Array(n).fill(Infinity)
      if (self) arrivals[self.index] = now
      for (let i = 0; i < b.to.length; i++) arrivals[b.to[i]!] = b.at[i]!
      bidArrivals.set(write.uri, arrivals)
    }
    if (b.to.length > 0) heap.push(b.at[0]!, { kind: 'deliver', b })
  }

  function write(m: SimMeshlet, collection: Collection, uri: string, view: Write['view']): void {
    broadcast({ seq: seq++, uri, collection, author: m.index, view, writtenAt: now }, m)
  }

  // --- the ideal view's judgement -------------------------------------------------------------

  function markDirty(w: Write): void {
    if (w.collection === 'workload') dirty.add(w.uri)
    else if (w.collection === 'status') dirty.add((w.view as StatusView).record.workload.uri)
    else if (w.collection === 'presence') {
      for (const r of (w.view as PresenceView).record.replicas) dirty.add(r.workload.uri)
    }
  }

  function judge(uri: string): void {
    const w = ideal.workloads.get(uri)
    if (w === undefined) return
    const { workloads, tombstones, bids, statuses } = ideal.arrays()
    const history = useAudit
      ? new Audit({
          now,
          workloads: [...workloads, ...tombstones],
          bids,
          statuses,
          cluster,
          config,
          presence: ideal.presence,
        }).history(w, now)
      : roundHistory(
          w,
          statuses.filter((s) => s.record.workload.uri === uri),
          { bids: bids.filter((b) => b.record.workload.uri === uri), cluster },
          now,
          config,
          ideal.presence,
        )
    for (const info of history.rounds) {
      if (now < info.decideAt) continue
      const key = `${uri}|${w.cid}|${info.round}`
      const selection = history.selections.get(info.round)
      const winners = selection?.winners ?? []
      const sortedWinners = [...winners].sort().join(',')
      const known = idealRounds.get(key)
      if (known !== undefined) {
        // Even a view that holds every record the moment it is written should never change a
        // decided round: that would move replicas that already run.
        if (known.winners !== sortedWinners || known.opensAt !== info.opensAt) {
          rewritten.push(`${key}: ${known.winners} -> ${sortedWinners}`)
          known.winners = sortedWinners
          known.opensAt = info.opensAt
        }
        continue
      }
      idealRounds.set(key, {
        opensAt: info.opensAt,
        winners: sortedWinners,
        decideAt: info.decideAt,
      })
      allWinners.set(key, winners)
    }
    const next = history.current.nextChangeAt
    if (next !== undefined && next !== judgeAt.get(uri)) {
      judgeAt.set(uri, next)
      heap.push(next, { kind: 'judge', uri, at: next })
    }
  }

  // --- the executor: what core/meshlet.ts does with a plan, without Docker or a PDS ---------

  // Guests hold capacity; open bids and wins about to start are the plan's to count
  // (Meshlet.selfState).
  function committed(m: SimMeshlet): Resources {
    const c = { cpuMillis: 0, memoryMiB: 0, storageMiB: 0 }
    for (const r of m.local) {
      const w = m.workloads.get(r.workloadUri)
      if (w) {
        c.cpuMillis += w.record.resources.cpuMillis
        c.memoryMiB += w.record.resources.memoryMiB
      }
    }
    return c
  }

  function auditOf(m: SimMeshlet): Audit {
    const { workloads, tombstones, bids, statuses } = m.arrays()
    const counted = [...workloads, ...tombstones]
    return new Audit({
      now,
      presence: m.presence,
      workloads: counted,
      bids,
      statuses,
      cluster,
      config,
    })
  }

  function tick(m: SimMeshlet): void {
    if (m.crashed) return
    plans++
    m.plannedAt = now

    m.busyUntil = now + tickMs
    const { workloads, bids, statuses } = m.arrays()
    const audit = useAudit ? auditOf(m) : undefined
    const local: LocalReplica[] = m.local.map((r) => ({
      workloadUri: r.workloadUri,
      cid: r.cid,
      round: r.round,
      state: r.up ? 'running' : 'created',
    }))
    const result = plan({
      self: {
        meshlet: m.did,
        owner: m.owner,
        lending: m.lending,
        paused: false,
        arch: 'amd64',
        offer: m.offer,
        committed: committed(m),
        allowEgress: false,
      },
      workloads,
      deleted: [...m.deleted],
      bids,
      statuses,
      presence: [...m.presence.values()],
      running: local,
      cluster,
      now,
      config,
      priorityOf: (_w, info) => (audit ? audit.priorityAt(m.owner, audit.cutoffOf(info)) : 0),
      ...(audit ? { audit: audit.expected } : {}),
    })
    for (const [uri, e] of result.explain) {
      m.current.set(uri, { round: e.round, decideAt: e.decideAt })
      if (!e.decided) continue
      const key = `${uri}|${e.cid}|${e.round}`
      const winners = [...e.winners].sort().join(',')
      if (!m.decided.has(key)) {
        m.decided.set(key, { opensAt: e.opensAt, winners })
        m.changedAt.set(key, now)
      } else if (m.lastWinners.get(key) !== winners) {
        m.changedAt.set(key, now)
      }
      m.lastWinners.set(key, winners)
    }
    let stopped = false
    for (const action of result.actions) {
      if (options.trace) trace.push(traceLine(now, m, action))
      switch (action.type) {
        case 'bid': {
          const w = action.workload
          const uri = `at://${m.did}/${NSID.bid}/${action.rkey}`
          write(m, 'bid', uri, {
            uri,
            cid: cidOf(seq),
            meshlet: m.did,
            record: {
              $type: NSID.bid,
              workload: { uri: w.uri, cid: w.cid },
              round: action.round,
              priority: action.priority,
              offer: action.offer,
              createdAt: iso(now),
            },
          } as BidView)
          break
        }
        case 'decline':
          // A win its offer cannot hold beside its other wins: `declined` reopens the round.
          publishStatus(m, action.workload, action.round, 'declined')
          break
        case 'start': {
          const w = action.workload
          // The daemon never runs a round again whose own status is final (startRuledOut).
          const own = m.statuses.get(w.uri)?.get(statusUriOf(m, w.uri, action.rkey))
          if (own !== undefined && ENDING_STATES.has(own.record.state)) break
          const r: SimReplica = {
            workloadUri: w.uri,
            cid: w.cid,
            round: action.round,
            state: 'created',
            up: false,
          }
          m.local.push(r)
          publishStatus(m, w, action.round, 'starting')
          heap.push(now + startMs, { kind: 'running', m, r })
          break
        }
        case 'stop': {
          const i = m.local.findIndex(
            (r) =>
              r.workloadUri === action.workloadUri &&
              r.cid === action.cid &&
              r.round === action.round,
          )
          if (i === -1) break
          const [r] = m.local.splice(i, 1)
          // The daemon plans again once a stop is done (its capacity is free then).
          stopped = true
          if (r!.up) {
            changeRunning(r!.workloadUri, -1)
            if (action.reason === 'yielded') yielded++
            if (action.reason === 'not-selected') {
              notSelected++
            }
          }
          const w = m.workloads.get(action.workloadUri) ?? ideal.workloads.get(action.workloadUri)
          if (action.status !== undefined && w !== undefined) {
            publishStatus(m, w, action.round, action.status)
          }
          break
        }
      }
    }
    if (stopped && !m.tickQueued) {
      m.tickQueued = true
      heap.push(m.busyUntil, { kind: 'tick', m })
    }
    // One wake per meshlet: a newer plan replaces the timer (the daemon clears its own).
    m.wakeAt = result.nextWakeAt ?? Infinity
    if (m.wakeAt !== Infinity) heap.push(Math.max(m.wakeAt, now), { kind: 'wake', m, at: m.wakeAt })
  }

  function statusUriOf(m: SimMeshlet, _workloadUri: string, rkey: string): string {
    return `at://${m.did}/${NSID.workloadStatus}/${rkey}`
  }

  function publishStatus(m: SimMeshlet, w: WorkloadView, round: number, state: string): void {
    const uri = statusUriOf(m, w.uri, bidRkey(w.uri, round, w.cid))
    write(m, 'status', uri, {
      uri,
      cid: cidOf(seq),
      meshlet: m.did,
      record: {
        $type: NSID.workloadStatus,
        workload: { uri: w.uri, cid: w.cid },
        round,
        state,
        resources: w.record.resources,
        updatedAt: iso(now),
        ...(state === 'exited' ? { exitCode: 0, finishedAt: iso(now) } : {}),
      },
    } as StatusView)
  }

  function beat(m: SimMeshlet): void {
    if (m.crashed) return
    heap.push(now + config.heartbeatMs, { kind: 'beat', m })
    const audit = useAudit ? auditOf(m) : undefined
    const replicas = vouchFor({
      ...(audit ? { audit: audit.expected } : {}),
      meshlet: m.did,
      running: m.local.filter((r) => r.up),
      workloads: m.workloads,
      statusesFor: (uri) => [...(m.statuses.get(uri)?.values() ?? [])],
      bidsFor: (uri) => [...(m.bids.get(uri)?.values() ?? [])],
      cluster,
      presence: m.presence,
      now,
      config,
    })
    if (replicas.length === 0 && !m.listed) return
    m.listed = replicas.length > 0
    const uri = `at://${m.did}/${NSID.presence}/self`
    write(m, 'presence', uri, {
      uri,
      cid: cidOf(seq),
      meshlet: m.did,
      record: {
        $type: NSID.presence,
        state: 'lending',
        replicas,
        seq: m.presenceSeq++,
        intervalMs: config.heartbeatMs,
        updatedAt: iso(now),
      },
    } as PresenceView)
  }

  // --- ground truth -----------------------------------------------------------------------------

  function settle(t: Truth): void {
    const end = Math.min(now, t.endsAt)
    if (end > t.since) {
      unplacedMs += Math.max(0, t.replicas - t.running - t.done) * (end - t.since)
      excessMs += Math.max(0, t.running - t.replicas) * (end - t.since)
    }
    t.since = Math.max(t.since, end)
  }

  function changeRunning(uri: string, delta: number, done = 0): void {
    const t = truth.get(uri)
    if (t === undefined) return
    settle(t)
    t.running += delta
    t.done += done
    if (delta > 0 && t.crashed.length > 0) replacedAfterMs.push(now - t.crashed.shift()!)
    if (t.running > t.replicas && t.excessSince === undefined) t.excessSince = now
    if (t.running <= t.replicas && t.excessSince !== undefined) {
      doubled.push(now - t.excessSince)
      t.excessSince = undefined
    }
    if (t.placedAt === undefined && t.running + t.done >= t.replicas) t.placedAt = now
  }

  function offerUse(m: SimMeshlet): void {
    let cpu = 0
    for (const r of m.local) {
      if (r.up) cpu += ideal.workloads.get(r.workloadUri)?.record.resources.cpuMillis ?? 0
    }
    maxOfferUse = Math.max(maxOfferUse, cpu / m.offer.cpuMillis)
  }

  // --- the workload stream ----------------------------------------------------------------------

  let wcount = 0
  function scheduleWorkload(at: number): void {
    const ownerIndex = Math.floor(random() * n)
    const owner = meshlets[ownerIndex]!.owner
    const shape = SHAPES[Math.floor(random() * SHAPES.length)]!
    const replicas = 1 + Math.floor(random() * 3)
    const batch = random() < 0.5
    // Batch jobs run half a minute to two; services two minutes to ten.
    const lifetimeMs = batch ? 30_000 + random() * 90_000 : 2 * 60_000 + random() * 8 * 60_000
    const uri = `at://${owner}/${NSID.workload}/3lsim${String(wcount++).padStart(6, '0')}`
    const w: WorkloadView = {
      uri,
      cid: cidOf(seq++),
      owner,
      record: {
        $type: NSID.workload,
        image: 'commune-test/busybox:1',
        resources: shape,
        replicas,
        // `meshlet submit` dates the record when it writes it.
        createdAt: iso(at),
        restartPolicy: { mode: 'never' },
      } as WorkloadView['record'],
    }
    totalReplicas += replicas
    heap.push(at, { kind: 'publish', w, author: n + ownerIndex, lifetimeMs, batch })
  }
  const rate = options.arrivalsPerMinute / 60_000
  for (let t = T0; ;) {
    t += -Math.log(1 - random()) / rate
    if (t > T0 + options.durationMs) break
    scheduleWorkload(Math.round(t))
  }
  if (options.burst) {
    for (let i = 0; i < options.burst.count; i++) {
      scheduleWorkload(T0 + options.burst.at + Math.round(random() * 2000))
    }
  }
  for (let i = 0; i < options.crashes; i++) {
    heap.push(T0 + 60_000 + random() * Math.max(0, options.durationMs - 60_000), { kind: 'crash' })
  }
  for (const m of meshlets) {
    // Each daemon's presence loop runs from its own start: phases differ.
    heap.push(T0 + random() * config.heartbeatMs, { kind: 'beat', m })
  }

  // Deliveries that cannot change a plan's actions are not planned on (with skipNoops): the
  // daemon plans on every record, but a plan that changes nothing costs the simulation time and
  // tells nothing. Each rule says why the actions cannot differ; the tests compare both ways.
  function shouldReplan(m: SimMeshlet, w: Write, prev: Write['view'] | undefined): boolean {
    if (!skipNoops) return true
    // Capacity an open bid of ours held came free since the last plan: any plan may bid now
    // (the executor counts open bids as committed, and no wake-up marks their expiry).
    for (const b of m.ownBids.values()) {
      const wl = m.workloads.get(b.record.workload.uri)
      if (wl === undefined) continue
      const expires =
        Date.parse(b.record.createdAt) +
        (wl.record.bidWindowMs ?? config.defaultBidWindowMs) +
        config.graceMs
      if (expires > m.plannedAt && expires <= now) return true
    }
    if (w.collection === 'bid') {
      // Before its round's decideAt a bid decides nothing: nothing starts or yields before it
      // (plan rules 19, 20), and the meshlet wakes at decideAt anyway.
      // A bid of a workload not seen yet is ignored by plan(); the workload's arrival plans.
      const bid = w.view as BidView
      if (!m.workloads.has(bid.record.workload.uri)) return false
      const cur = m.current.get(bid.record.workload.uri)
      return !(cur && cur.round === bid.record.round && now < cur.decideAt)
    }
    if (w.collection === 'presence') {
      // The same replicas, and the previous presence still fresh: whatever it vouched for was
      // alive and stays alive; only the wake-up moves later.
      const old = prev as PresenceView | undefined
      if (old === undefined) return true
      if (Date.parse(old.record.updatedAt) + config.lostAfterMs <= now) return true
      return (
        JSON.stringify(old.record.replicas) !==
        JSON.stringify((w.view as PresenceView).record.replicas)
      )
    }
    if (w.collection === 'status') {
      // `running` after a fresh `starting` of the same replica: alive before, alive after.
      const s = w.view as StatusView
      const old = prev as StatusView | undefined
      return !(
        s.record.state === 'running' &&
        old?.record.state === 'starting' &&
        Date.parse(old.record.updatedAt) + config.lostAfterMs > now
      )
    }
    return true
  }

  function previous(m: SimMeshlet, w: Write): Write['view'] | undefined {
    if (w.collection === 'presence') return m.presence.get((w.view as PresenceView).meshlet)
    if (w.collection === 'status') {
      return m.statuses.get((w.view as StatusView).record.workload.uri)?.get(w.uri)
    }
    return undefined
  }

  function wantTick(m: SimMeshlet): void {
    if (now >= m.busyUntil) pendingTicks.add(m)
    else if (!m.tickQueued) {
      m.tickQueued = true
      heap.push(m.busyUntil, { kind: 'tick', m })
    }
  }

  const endAt = T0 + options.durationMs + DRAIN_MS
  while (heap.size > 0 && heap.peekAt() <= endAt) {
    const { at, value: e } = heap.pop()!
    now = at
    switch (e.kind) {
      case 'deliver': {
        const b = e.b
        const m = meshlets[b.to[b.next]!]!
        b.next++
        if (b.next < b.to.length) heap.push(b.at[b.next]!, e)
        deliveries++
        if (m.crashed) break
        const prev = previous(m, b.write)
        if (m.apply(b.write) && shouldReplan(m, b.write, prev)) {
          wantTick(m)
        }
        break
      }
      case 'wake':
        if (e.m.wakeAt === e.at) {
          wantTick(e.m)
        }
        break
      case 'tick':
        e.m.tickQueued = false
        pendingTicks.add(e.m)
        break
      case 'judge':
        if (judgeAt.get(e.uri) === e.at) dirty.add(e.uri)
        break
      case 'beat':
        beat(e.m)
        break
      case 'running': {
        const { m, r } = e
        if (m.crashed || !m.local.includes(r)) break
        r.up = true
        r.state = 'running'
        starts++
        changeRunning(r.workloadUri, +1)
        offerUse(m)
        const w = m.workloads.get(r.workloadUri)
        if (w) publishStatus(m, w, r.round, 'running')
        const tr = truth.get(r.workloadUri)
        if (tr?.batch) heap.push(now + tr.lifetimeMs, { kind: 'exit', m, r })
        wantTick(m)
        break
      }
      case 'exit': {
        const { m, r } = e
        if (m.crashed || !m.local.includes(r)) break
        m.local.splice(m.local.indexOf(r), 1)
        changeRunning(r.workloadUri, -1, 1)
        const w = m.workloads.get(r.workloadUri)
        if (w) publishStatus(m, w, r.round, 'exited')
        wantTick(m)
        break
      }
      case 'publish': {
        const w = e.w
        truth.set(w.uri, {
          replicas: w.record.replicas,
          publishedAt: now,
          endsAt: Infinity,
          batch: e.batch,
          lifetimeMs: e.lifetimeMs,
          running: 0,
          done: 0,
          since: now,
          crashed: [],
        })
        // The owner's repo is not a meshlet's: the workload reaches every meshlet on the bus.
        broadcast({
          seq: seq++,
          uri: w.uri,
          collection: 'workload',
          author: e.author,
          view: w,
          writtenAt: now,
        })
        // Services are deleted by their owner after their lifetime; batch jobs a minute after.
        heap.push(now + e.lifetimeMs + (e.batch ? 60_000 : 0), {
          kind: 'delete',
          uri: w.uri,
          author: e.author,
        })
        break
      }
      case 'delete': {
        const tr = truth.get(e.uri)
        if (tr) {
          settle(tr)
          tr.endsAt = now
        }
        // A tombstone, as the app and `meshlet delete` write it (core/tombstone); with
        // BENCH_AGREEMENT_HARD_DELETE=1 the record goes outright, as a client that knows no
        // tombstones deletes it.
        const was = ideal.workloads.get(e.uri)
        const tombstone =
          was && process.env.BENCH_AGREEMENT_HARD_DELETE !== '1'
            ? {
                ...was,
                record: { ...was.record, deletedAt: iso(now), deletedVersion: was.cid },
              }
            : undefined
        broadcast({
          seq: seq++,
          uri: e.uri,
          collection: 'workload',
          author: e.author,
          ...(tombstone ? { view: tombstone as WorkloadView } : {}),
          writtenAt: now,
        })
        break
      }
      case 'crash': {
        const hosts = meshlets.filter((x) => !x.crashed && x.local.some((r) => r.up))
        if (hosts.length === 0) break
        const m = hosts[Math.floor(random() * hosts.length)]!
        m.crashed = true
        for (const r of m.local) {
          if (!r.up) continue
          changeRunning(r.workloadUri, -1)
          truth.get(r.workloadUri)?.crashed.push(now)
        }
        m.local.length = 0
        break
      }
    }
    if (heap.peekAt() > now) {
      // In meshlet order, so a run does not depend on the order events were queued in.
      const due = [...pendingTicks].sort((a, b) => a.index - b.index)
      pendingTicks.clear()
      for (const m of due) tick(m)
      for (const uri of dirty) judge(uri)
      dirty.clear()
    }
  }
  now = endAt
  for (const t of truth.values()) settle(t)

  return {
    options,
    workloads: truth.size,
    replicas: totalReplicas,
    rounds: judgeRounds(),
    starts,
    yielded,
    notSelected,
    doubled,
    excessMs,
    unplacedMs,
    placedAfterMs: [...truth.values()].map((t) => (t.placedAt ?? Infinity) - t.publishedAt),
    replacedAfterMs,
    maxOfferUse,
    rewritten,
    plans,
    deliveries,
    wallMs: performance.now() - started,
    cpuMs: (() => {
      const c = process.cpuUsage(cpu0)
      return (c.user + c.system) / 1000
    })(),
    trace,
  }

  // Every round that had a winner in the ideal view or in any meshlet's, against each meshlet's
  // first decided view of it.
  function judgeRounds(): RoundAgreement[] {
    const keys = new Set<string>()
    for (const [key, d] of idealRounds) if (d.winners !== '') keys.add(key)
    for (const m of meshlets) for (const [key, d] of m.decided) if (d.winners !== '') keys.add(key)
    const out: RoundAgreement[] = []
    for (const key of keys) {
      const [uri, cid, roundText] = key.split('|')
      const round = Number(roundText)
      const right = idealRounds.get(key)
      const winners = allWinners.get(key) ?? []
      let deciders = 0
      let disagreeing = 0
      const decideAt = right?.decideAt ?? Infinity
      let converged = decideAt
      for (const m of meshlets) {
        const d = m.decided.get(key)
        if (d === undefined) continue
        deciders++
        if (right === undefined || d.winners !== right.winners || d.opensAt !== right.opensAt) {
          disagreeing++
        }
        if (m.crashed) continue
        converged = Math.max(converged, m.changedAt.get(key) ?? decideAt)
        for (const winner of winners) {
          const arrivals = bidArrivals.get(
            `at://${winner}/${NSID.bid}/${bidRkey(uri!, round, cid!)}`,
          )
          converged = Math.max(converged, arrivals?.[m.index] ?? Infinity)
        }
      }
      out.push({
        workload: uri!,
        round,
        decideAt,
        disagreeing,
        deciders,
        phantom: right === undefined,
        convergedAfterMs: right === undefined ? Number.NaN : converged - decideAt,
      })
    }
    return out
  }
}

function traceLine(now: number, m: SimMeshlet, action: { type: string }): string {
  const text = JSON.stringify(action, (k, v: unknown) =>
    k === 'workload' && typeof v === 'object' && v !== null && 'record' in v
      ? (v as WorkloadView).uri
      : v,
  )
  return `${new Date(now).toISOString()} ${m.did} ${text}`
}
