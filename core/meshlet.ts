// One meshlet: composes identity, sync, scheduling, fair share, runtime and publishing. The
// decisions are pure (scheduling/, fairshare/); this file feeds them the records seen and `now`,
// then applies the resulting plan to Docker and to the meshlet's repo, one action at a time. Its
// parts are made and joined in meshlet/wiring.ts; what each does is in meshlet/README.md.
import { EventEmitter } from 'node:events'
import { checkDates, wakeDelay } from './clock/index.js'
import { arch as osArch } from 'node:os'
import { computeCluster, type ClusterReport, type ClusterView } from './identity/cluster.js'
import { NSID, type Resources } from './lexicon/index.js'
import { errorFields, type Logger } from './log.js'
import type { RepoReader } from './repo/reader.js'
import { vouchFor, type PresencePublisher, type VouchedReplica } from './presence/index.js'
import type { LivenessWatch } from './liveness/index.js'
import { DEFAULT_RETENTION_MS } from './hygiene/index.js'
import type { HygieneSweeper } from './hygiene/sweeper.js'
import type { BudgetState, BudgetedWriter } from './repo/budget.js'
import type { RecordEvent, RecordSync } from './sync/index.js'
import { RecordStore } from './state.js'
import {
  describeReason,
  plan,
  add,
  type Action,
  type CapacityView,
  type LocalReplica,
  type PresenceIndex,
  type SchedulingConfig,
  type SelfState,
} from './scheduling/index.js'
import { Audit, belowFloor, type Account } from './fairshare/index.js'
// Not runtime/index.js: it would load dockerode for a meshlet without Docker.
import { EngineAvailability, type EngineChange } from './runtime/availability.js'
import { replicaKey, type PlanApplier } from './applier/index.js'
import {
  isLending,
  membershipRecord,
  selfStateOf,
  type ImagePolicy,
  type Lender,
} from './meshlet/lender.js'
import type { Follower } from './meshlet/follower.js'
import type { ImageSizes } from './meshlet/image-sizes.js'
import type { Refusals } from './meshlet/refusals.js'
import type { ReplicaRunner } from './meshlet/replica-runner.js'
import type { OwnRecords } from './meshlet/own-records.js'
import type { LenderSettings, SettingsView } from './meshlet/settings.js'
import { wireMeshlet, type MeshletOptions } from './meshlet/wiring.js'
import type { SettlementWriter } from './settlement/index.js'
import type { ManagedReplica } from './runtime/index.js'
import { publishMeshletKey, type SealingKeyring } from './sealing/index.js'

export interface MeshletEvents {
  cluster: [ClusterReport]
  record: [RecordEvent]
  action: [Action]
  replica: [{ workloadUri: string; state: string; round: number }]
  /** The write budget changed state (rate limited, or queue length). */
  budget: [BudgetState]
  /** The Docker engine went away (the meshlet stopped lending) or came back. */
  docker: [EngineChange]
  /** A plan ran; `wakeInMs` is the timer set for the next one (absent: none). Lets tests count
   *  plan runs and check timers instead of measuring CPU. */
  planned: [{ at: number; wakeInMs?: number }]
  error: [Error]
}

/** How peers judge this meshlet's liveness now (`Meshlet.livenessMode`). */
export type LivenessMode =
  { mode: 'challenge' } | { mode: 'interval'; reason: 'no-endpoint' | 'unreachable' }

export class MeshletError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options)
    this.name = 'MeshletError'
  }
}

export class Meshlet extends EventEmitter<MeshletEvents> {
  readonly store = new RecordStore()
  readonly config: SchedulingConfig
  private readonly sync: RecordSync
  /** The one way this meshlet writes: budgeted, 429-aware, endings first. */
  private readonly writer: BudgetedWriter
  /** Our writes through it, seen at once (core/meshlet/own-records.ts). */
  private readonly own: OwnRecords
  private readonly reader: RepoReader
  private readonly log: Logger
  private readonly now: () => number
  private report: ClusterReport = { peers: [], rejected: [] }
  private readonly view: ClusterView
  /** Settings the owner may change while the meshlet runs (the desktop app's sliders). */
  private readonly settingsNow: LenderSettings
  /** Whether Docker answers: while it does not, nothing is lent and no bid is made. */
  private readonly engine = new EngineAvailability()
  /** Workload versions whose guest the lender stopped here: never bid on again. */
  private readonly refusals: Refusals
  private running = false
  private used = false
  /** Initial backfill done: from here on, record changes re-form the cluster at once. */
  private synced = false
  /** Started completely: plans may run. */
  private ready = false
  private queue: Promise<void> = Promise.resolve()
  private tickPending = false
  private wakeTimer?: NodeJS.Timeout
  /** Liveness: one presence record for all replicas, at a steady interval. */
  private readonly presence: PresencePublisher
  /** Probes of peers that ask for it, challenges, answers (core/liveness). */
  private readonly liveness: LivenessWatch
  /** Whose records we read, kept up to date; failed look-ups back off (core/meshlet/follower.ts). */
  private readonly following: Follower
  private readonly watchAbort = new AbortController()
  /** Applies plans: bids, declines, and starts and stops under way (core/applier). */
  private readonly applier: PlanApplier<ManagedReplica>
  /** Starts, stops and reports the end of our guests (core/meshlet/replica-runner.ts). */
  private readonly runner: ReplicaRunner
  /** Where the offer went, as the last plan reckoned it. */
  private capacity?: CapacityView
  /** Attests the audited winners of our owner's workloads' rounds (core/settlement). */
  private readonly settlements: SettlementWriter
  /** Image sizes against the lender's maximum, asked of registries before bidding. */
  private readonly imageSizes: ImageSizes
  /** Deletes our own records nobody needs any more (core/hygiene). */
  private readonly hygiene: HygieneSweeper
  private explain = new Map<string, unknown>()
  /** Containers as the last plan saw them (undefined before the first listing). */
  private lastReplicas?: ManagedReplica[]
  /** This meshlet's sealing key: owners seal secrets to it (core/sealing). */
  readonly sealingKeys: SealingKeyring

  constructor(readonly opts: MeshletOptions) {
    super()
    const parts = wireMeshlet(opts, this.store, {
      planAgain: () => this.scheduleTick(),
      fail: (stage, err) => this.fail(stage, err),
      running: () => this.running,
      onRecord: (evt) => this.onRecord(evt),
      followedLater: () => {
        this.recomputeCluster()
        if (this.ready && this.opts.runtime) void this.enqueue(() => this.runner.reconcile())
      },
      audit: () => this.audit(),
      vouchable: () => this.vouchable(),
      declareLiveness: () => this.declareLiveness(),
      onBudget: (state) => this.emit('budget', state),
      onAction: (action) => this.emit('action', action),
      onReplica: (change) => this.emit('replica', change),
    })
    this.config = parts.config
    this.log = parts.log
    this.now = parts.now
    this.settingsNow = parts.settings
    this.imageSizes = parts.imageSizes
    this.view = parts.view
    this.hygiene = parts.hygiene
    this.sealingKeys = parts.sealingKeys
    this.presence = parts.presence
    this.liveness = parts.liveness
    this.writer = parts.writer
    this.own = parts.own
    this.refusals = parts.refusals
    this.settlements = parts.settlements
    this.applier = parts.applier
    this.reader = parts.reader
    this.sync = parts.sync
    this.following = parts.following
    this.runner = parts.runner
  }

  get did(): string {
    return this.opts.did
  }

  get clusterReport(): ClusterReport {
    return this.report
  }

  /** Each meshlet's presence with the challenges that count against it (core/liveness): what
   *  every decision here judges liveness by. */
  get presenceIndex(): PresenceIndex {
    return this.liveness.index()
  }

  /** Points spent, what waits, and until when the PDS refuses writes. */
  get writeBudget(): BudgetState {
    return this.writer.state
  }

  get isPaused(): boolean {
    return this.settingsNow.paused
  }

  get isLending(): boolean {
    return isLending(this.lender())
  }

  /** The lender's settings and this meshlet's state, for its records and plans. */
  private lender(): Lender {
    return this.settingsNow.lender({
      meshlet: this.opts.did,
      owner: this.opts.owner,
      dockerAvailable: this.engine.available,
      hasRuntime: this.opts.runtime !== undefined,
      arch: dockerArch(),
    })
  }

  /** Why Docker keeps this meshlet from lending, for people; undefined while it answers. */
  get dockerProblem(): string | undefined {
    return this.engine.detail
  }

  /** Docker went away or came back (the event watch says): publish it, and plan again. */
  private onEngine(available: boolean, cause?: unknown): void {
    const change = this.engine.set(available, cause)
    if (!change || !this.running) return
    this.log.log(available ? 'info' : 'warn', 'docker', { ...change })
    this.emit('docker', change)
    void this.publishMembership().catch((e: unknown) => this.fail('membership', e as Error))
    // Containers may have ended while it was away: find out before planning on them.
    if (available) void this.enqueue(() => this.runner.reconcile())
    this.scheduleTick()
  }

  /** Why a workload got the decisions it got here (the last plan's explanation). */
  explanation(workloadUri: string): unknown {
    return this.explain.get(workloadUri)
  }

  /** Starts the meshlet. One use: a stopped meshlet is not started again (make a new one). If
   *  starting fails part-way, what was started is stopped before the error is thrown. */
  async start(): Promise<void> {
    if (this.used) throw new MeshletError('a Meshlet starts once; create a new one to restart')
    this.used = true
    this.running = true
    try {
      await this.startUp()
    } catch (err) {
      await this.stop().catch((e: unknown) => this.fail('stop', e as Error))
      throw err
    }
  }

  private async startUp(): Promise<void> {
    // Docker first: a meshlet that cannot run containers should say so before it publishes
    // anything that invites work — and say so where owners look, so that a record left by an
    // earlier run does not keep saying it lends.
    if (this.opts.runtime) {
      try {
        await this.opts.runtime.ping()
        this.engine.set(true)
      } catch (err) {
        this.engine.set(false, err)
        await this.publishMembership().catch((e: unknown) => this.fail('membership', e as Error))
        throw err
      }
    }
    await this.refusals.load()
    await this.publishSealingKey()
    await this.publishMembership()
    await this.sync.start()
    this.following.add([this.opts.did, this.opts.owner, ...this.settingsNow.members])
    await this.following.followAll()
    this.synced = true
    this.recomputeCluster()
    if (this.opts.runtime) {
      await this.runner.reconcile()
      this.opts.runtime.watch(
        (e) => {
          this.log.log('info', 'container', { ...e })
          this.enqueue(() => this.runner.containerEvent(e.containerId, e.action, e.exitCode))
        },
        this.watchAbort.signal,
        (available, cause) => this.onEngine(available, cause),
      )
      this.presence.start()
      this.liveness.start()
      this.hygiene.start()
    }
    this.log.log('info', 'started', {
      meshlet: this.opts.did,
      owner: this.opts.owner,
      members: this.settingsNow.members,
      lending: this.isLending,
      offer: this.settingsNow.offer,
      // Where it learns about records: a daemon's log says which source it runs on.
      source: this.opts.source?.kind ?? 'relay',
    })
    // Only now may plans act: with a partial view of the records, our own replica could look
    // unselected and be stopped, which peers would read as a lost replica.
    this.ready = true
    this.scheduleTick()
  }

  async stop(opts: { stopReplicas?: boolean } = {}): Promise<void> {
    if (!this.running) return
    this.running = false
    this.synced = false
    this.ready = false
    clearTimeout(this.wakeTimer)
    this.following.stop()
    this.watchAbort.abort()
    await this.sync.stop()
    if (opts.stopReplicas && this.opts.runtime) {
      await this.applier.settled()
      await this.enqueue(async () => {
        // Each on its own and all at once: a status that cannot be published (offline, session
        // gone) must not leave the next guest running, and a process manager's stop timeout
        // should not run out while guests stop one by one. `draining`: this meshlet goes away,
        // and peers place its guests again at once. A container that already ended keeps the
        // ending its status says (a finished batch job must not look drained and run again).
        const replicas = await this.opts.runtime!.list()
        await Promise.all(
          replicas.map((r) =>
            this.runner
              .stop(r, r.state === 'running' ? 'draining' : undefined)
              .catch((err: unknown) => this.fail('stop', err as Error)),
          ),
        )
      })
    }
    await this.queue
    await this.applier.settled()
    // Endings of guests that ended on their own, still making their result (bounded).
    await this.runner.settled()
    await this.liveness.stop()
    await this.presence.stop()
    await this.hygiene.stop()
    await this.settlements.settled()
    this.writer.close()
    this.log.log('info', 'stopped', { meshlet: this.opts.did })
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.stop()
  }

  /** Stops lending: no new bids; running replicas publish `draining` and stop. */
  async pause(): Promise<void> {
    this.settingsNow.setPaused(true)
    // The drain happens whether or not peers can be told (offline): the tick runs regardless.
    try {
      await this.publishMembership()
    } finally {
      this.scheduleTick()
    }
  }

  async resume(): Promise<void> {
    this.settingsNow.setPaused(false)
    try {
      await this.publishMembership()
    } finally {
      this.scheduleTick()
    }
  }

  /** What this meshlet lends. Applies to the next bid at once; replicas already running stay
   *  (stopping a guest because a slider moved would punish its owner for our change of mind). */
  async setOffer(offer: Resources): Promise<void> {
    this.settingsNow.setOffer(offer)
    if (!this.running) return
    await this.publishMembership()
    this.scheduleTick()
  }

  /** The owners this meshlet recognises. The cluster re-forms at once. */
  async setMembers(members: string[]): Promise<void> {
    this.settingsNow.setMembers(members)
    if (!this.running) return
    this.following.add(this.settingsNow.members)
    await this.publishMembership()
    await this.following.followAll()
    this.recomputeCluster()
    this.scheduleTick()
  }

  async setAllowEgress(allow: boolean): Promise<void> {
    this.settingsNow.setAllowEgress(allow)
    if (this.running) await this.publishMembership()
    this.scheduleTick()
  }

  /** The free-rider floor in milli-units; undefined turns it off. Published, so owners see it. */
  async setMinBalance(floor: number | undefined): Promise<void> {
    this.settingsNow.setMinBalance(floor)
    if (this.running) await this.publishMembership()
    this.scheduleTick()
  }

  /** The lender's image policy: enforced by the runtime, published so owners see why. */
  async setImagePolicy(policy: ImagePolicy): Promise<void> {
    this.settingsNow.setImagePolicy(policy)
    if (this.running) await this.publishMembership()
    this.scheduleTick()
  }

  get settings(): SettingsView {
    return this.settingsNow.view()
  }

  /** Capacity held now, as the last plan reckoned it: by replicas running here (or about to
   *  start) and by open bids. */
  committed(): Resources {
    const c = this.capacity
    return c ? add(c.held, c.bidding) : this.selfState(this.lastReplicas ?? []).committed
  }

  /** The guest containers this meshlet runs, as last listed. */
  get replicas(): readonly ManagedReplica[] {
    return this.lastReplicas ?? []
  }

  /**
   * The lender (or, over XRPC, the workload's owner) stops a guest: the container is removed and
   * `stopped` published, which peers read as a lost replica and place elsewhere in a new round.
   * This meshlet does not bid on that workload version again.
   */
  async stopGuest(
    containerId: string,
    reason: 'stopped-by-lender' | 'stopped-by-owner' = 'stopped-by-lender',
  ): Promise<boolean> {
    const runtime = this.opts.runtime
    if (!runtime || !this.running) return false
    const r = (await runtime.list()).find((x) => x.containerId === containerId)
    if (!r) return false
    await this.refusals.add(r.workloadUri, r.cid)
    this.log.log('info', 'replica.stop', {
      workload: r.workloadUri,
      round: r.round,
      reason,
    })
    let done!: Promise<void>
    await this.enqueue(async () => {
      done = this.applier.track(r, 'stop', () => this.runner.stop(r, 'stopped'))
    })
    await done
    return true
  }

  /** Replaces the sealing key: secrets sealed to the old one can no longer be opened here; the
   *  owner's side shares them again once a round picks this meshlet. */
  async rotateSealingKey(): Promise<void> {
    await this.sealingKeys.rotate()
    await this.publishSealingKey()
    this.applier.releaseWaiting()
  }

  private async publishSealingKey(): Promise<void> {
    try {
      const linked = await publishMeshletKey(
        this.reader,
        this.writer,
        await this.sealingKeys.current(),
      )
      // Not linked yet: `meshlet link` writes the record; the next start adds the key.
      if (!linked) this.log.log('warn', 'sealing.unpublished', { reason: 'not linked yet' })
    } catch (err) {
      this.fail('sealing', err as Error)
    }
  }

  private async publishMembership(): Promise<void> {
    const record = membershipRecord(this.lender(), this.now())
    // Seen at once, not when the firehose echoes it: a member removed here stops counting now.
    await this.own.put(NSID.membership, 'self', record)
    if (this.synced) this.recomputeCluster()
  }

  private onRecord(received: RecordEvent): void {
    const evt = this.checkSkew(received)
    this.emit('record', evt)
    if (evt.event === 'dropped') {
      this.log.log('warn', 'record.dropped', {
        uri: evt.uri,
        source: evt.source,
        reason: evt.reason,
      })
      return
    }
    if (evt.event === 'backfilled') {
      this.log.log('info', 'backfilled', { did: evt.did, records: evt.records })
      return
    }
    if (evt.event === 'outdated') {
      this.log.log('warn', 'sync.outdated', { source: evt.source, detail: evt.detail })
      return
    }
    if (evt.event === 'gap') {
      this.log.log('info', 'sync.gap', { source: evt.source, detail: evt.detail })
      return
    }
    if (!this.following.aboutUs(evt)) return
    const { change, refused } = this.store.apply(evt)
    if (refused) {
      this.log.log('warn', 'record.dropped', { uri: evt.uri, source: evt.source, reason: refused })
      return
    }
    this.log.log('debug', 'record', { op: evt.event, uri: evt.uri, source: evt.source })
    if (change === 'linkage') {
      // Owners we follow may name meshlets we did not know: follow (and backfill) them.
      if (this.synced && this.following.hasNewTargets()) {
        void this.following.followAll().then(() => this.recomputeCluster())
      }
      // A stranger's meshlet that lists our owner: whom does it claim to belong to?
      this.following.sawMembership(evt)
      if (this.synced) this.recomputeCluster()
    }
    if (change === 'secrets') {
      // The owner shared (again): replicas waiting for this workload's secrets may try now.
      const workload = evt.uri.replace(`/${NSID.workloadSecrets}/`, `/${NSID.workload}/`)
      this.applier.releaseWaiting(workload)
    }
    if (change === 'workload') {
      this.log.log('info', evt.event === 'put' ? 'workload.seen' : 'workload.deleted', {
        uri: evt.uri,
      })
    }
    if (
      evt.collection === NSID.challenge ||
      evt.collection === NSID.presence ||
      change === 'linkage'
    ) {
      this.liveness.recordsChanged()
    }
    if (evt.collection === NSID.meshletOwner && evt.did === this.opts.did) this.declareLiveness()
    if (change !== 'none') this.scheduleTick()
  }

  /** How peers judge whether this meshlet is up: by challenge while our meshletOwner record
   *  publishes an endpoint (the app puts it there while it serves farm.meshlet.*, ping
   *  included) and no peer has shown it cannot reach it (core/liveness, `shouldFallBack`), else
   *  by the interval rule, with the reason. Undefined for a meshlet that hosts nothing. */
  livenessMode(): LivenessMode | undefined {
    if (!this.opts.runtime) return undefined
    if (!this.store.endpoints.has(this.opts.did)) return { mode: 'interval', reason: 'no-endpoint' }
    if (this.liveness.preferInterval) return { mode: 'interval', reason: 'unreachable' }
    return { mode: 'challenge' }
  }

  private declareLiveness(): void {
    const liveness = this.livenessMode()
    if (liveness) void this.presence.setLiveness(liveness.mode)
  }

  /** A record dated beyond the allowed skew is dropped like any invalid record: a date far
   *  ahead would hold rounds and timers in the future. Our own writes are dated by us. */
  private checkSkew(evt: RecordEvent): RecordEvent {
    if (evt.event !== 'put' || evt.source === 'own') return evt
    const check = checkDates(evt.collection, evt.record, this.now())
    if (check.ok) return evt
    const { did, collection, rkey, uri, source } = evt
    return { event: 'dropped', source, did, collection, rkey, uri, reason: check.reason }
  }

  private recomputeCluster(): void {
    const next = computeCluster(
      { meshlet: this.opts.did, owner: this.opts.owner, members: this.settingsNow.members },
      this.store.linkage,
    )
    const changed = JSON.stringify(next) !== JSON.stringify(this.report)
    this.report = next
    if (!changed) return
    this.log.log('info', 'cluster', {
      peers: next.peers.map((p) => p.owner),
      rejected: next.rejected.map((r) => ({
        owner: r.owner,
        meshlet: r.meshlet,
        reason: r.reason,
      })),
    })
    this.emit('cluster', next)
    this.liveness.recordsChanged()
    this.scheduleTick()
  }

  // --- the decision loop ---------------------------------------------------------------------

  private enqueue(job: () => Promise<void>): Promise<void> {
    const next = this.queue.then(job).catch((err: unknown) => this.fail('executor', err as Error))
    this.queue = next
    return next
  }

  private scheduleTick(): void {
    if (!this.ready || this.tickPending) return
    this.tickPending = true
    void this.enqueue(async () => {
      this.tickPending = false
      if (this.ready) await this.tick()
    })
  }

  private selfState(replicas: readonly { workloadUri: string; state: string }[]): SelfState {
    return selfStateOf(
      this.lender(),
      replicas,
      (uri) => this.store.workloads.get(uri)?.record.resources,
    )
  }

  private async tick(): Promise<void> {
    if (this.opts.runtime && this.engine.available === false) {
      // Docker is away: nothing can start or stop, and the plan's reasons say why.
      this.explain = this.planOn(this.lastReplicas ?? []).explain as Map<string, unknown>
      return
    }
    // Bids first, planned on the containers as last listed: a bid must not wait for Docker,
    // which can take seconds to answer on a busy machine, or it misses its window.
    if (this.lastReplicas !== undefined) {
      const early = this.planOn(this.lastReplicas)
      await this.applier.apply(early.actions, this.lastReplicas, { bidsOnly: true })
    }
    const replicas = this.opts.runtime ? await this.opts.runtime.list() : []
    this.lastReplicas = replicas
    const result = this.planOn(replicas)
    this.explain = result.explain as Map<string, unknown>
    this.capacity = result.capacity
    await this.applier.apply(result.actions, replicas)
    // Our owner's rounds, attested while they can be audited: after that, peers take their
    // winners from these records instead of from what the bids declare.
    const settleAt = this.settlements.settle({
      meshlet: this.opts.did,
      owner: this.opts.owner,
      workloads: this.store.workloads.values(),
      audit: result.audit,
      cluster: this.view,
      siblings: this.store.linkage.verifiedMeshlets(this.opts.owner),
      now: result.now,
      config: this.config,
      bidsFor: (uri) => this.store.bidsFor(uri),
      settlementsFor: (uri) => this.store.settlementsFor(uri),
    })
    for (const uri of this.store.deletedWorkloads) {
      if (!replicas.some((r) => r.workloadUri === uri) && !this.applier.busyWith(uri)) {
        this.store.deletedWorkloads.delete(uri)
      }
    }
    clearTimeout(this.wakeTimer)
    let wakeInMs: number | undefined
    const wakeAt = Math.min(result.nextWakeAt ?? Infinity, settleAt ?? Infinity)
    if (wakeAt !== Infinity && this.running) {
      // Clamped: a far wake-up becomes a re-check, never a timer that overflows and spins.
      wakeInMs = wakeDelay(wakeAt, this.now())
      this.wakeTimer = setTimeout(() => this.scheduleTick(), wakeInMs)
    }
    this.emit('planned', { at: this.now(), ...(wakeInMs !== undefined ? { wakeInMs } : {}) })
  }

  /** The plan for the records seen, now, given these local containers. Pure apart from `now`. */
  private planOn(replicas: ManagedReplica[]) {
    const local: LocalReplica[] = replicas.map((r) => ({
      workloadUri: r.workloadUri,
      cid: r.cid,
      round: r.round,
      state: r.state,
      ...(r.startedAt !== undefined ? { startedAt: Date.parse(r.startedAt) } : {}),
    }))
    // A start under way counts as a replica already, so the plan never asks for it twice.
    for (const replica of this.applier.starting()) {
      const key = replicaKey(replica)
      if (!local.some((r) => replicaKey(r) === key)) local.push({ ...replica, state: 'created' })
    }
    const now = this.now()
    const self = this.selfState(local)
    // Peers audit every bid's priority against the public ledger (docs/fair-share.md): we
    // declare exactly what they will recompute.
    const audit = this.audit(now)
    const floor = this.settingsNow.minBalance
    const book = floor === undefined ? undefined : audit.ledgerAt(now)
    const result = plan({
      self,
      workloads: [...this.store.workloads.values()],
      deleted: [...this.store.deletedWorkloads],
      bids: this.store.allBids(),
      statuses: this.store.allStatuses(),
      presence: [...this.liveness.index().values()],
      running: local,
      cluster: this.view,
      now,
      config: this.config,
      priorityOf: (_w, info) => audit.priorityAt(this.opts.owner, audit.cutoffOf(info)),
      audit: audit.expected,
      ...(book !== undefined && floor !== undefined
        ? {
            declineOwner: (owner: string) =>
              // Our own owner's work is never declined here: the floor is about others.
              owner !== this.opts.owner && belowFloor(owner, book, floor),
          }
        : {}),
      imageSize: (image) => this.imageSizes.judge(image),
    })
    return { ...result, audit, now }
  }

  /** The public ledger and bid audit over the records seen (docs/fair-share.md). */
  audit(now: number = this.now()): Audit {
    return new Audit({
      now,
      presence: this.liveness.index(),
      // Tombstones too: a deleted workload's usage keeps counting (core/tombstone).
      workloads: this.store.ledgerWorkloads(),
      settleMs: (this.opts.retentionMs ?? DEFAULT_RETENTION_MS) / 2,
      bids: this.store.allBids(),
      statuses: this.store.allStatuses(),
      // Settled rounds keep the winners our peers' owners attested.
      settlements: this.store.allSettlements(),
      cluster: this.view,
      config: this.config,
    })
  }

  /** Each owner's audited account as of `at`: what the commune ranks bids by. */
  accountsAt(at: number = this.now()): Map<string, Account> {
    return this.audit(at).accountsAt(at)
  }

  /** The running replicas every peer still counts alive here: what our presence vouches for. */
  private async vouchable(): Promise<VouchedReplica[]> {
    const runtime = this.opts.runtime
    if (!runtime || !this.running) return []
    const running = (await runtime.list()).filter(
      (r) => r.state === 'running' && this.applier.busy(r) === undefined,
    )
    return vouchFor({
      meshlet: this.opts.did,
      running,
      workloads: this.store.workloads,
      statusesFor: (uri) => this.store.statusesFor(uri),
      bidsFor: (uri) => this.store.bidsFor(uri),
      cluster: this.view,
      presence: this.liveness.index(),
      now: this.now(),
      config: this.config,
      // Judged as plan() judges it, or a void bid would unseat our replica here only.
      audit: this.audit().expected,
    })
  }

  private fail(stage: string, err: Error): void {
    this.log.log('error', 'error', { stage, error: errorFields(err) })
    if (this.listenerCount('error') > 0) this.emit('error', err)
  }
}

export type { ImagePolicy, MeshletOptions }

/** Docker's name for this machine's CPU architecture. */
export function dockerArch(): string {
  const a = osArch()
  return a === 'x64' ? 'amd64' : a === 'ia32' ? '386' : a
}

export { describeReason }
