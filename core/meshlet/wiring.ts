// How a meshlet's parts are made from its options and joined to each other: the budgeted writer
// and our own records over it, the event source, the follower, the presence publisher and the
// liveness watch, hygiene, the status and settlement writers, the plan applier and the replica
// runner. What the parts ask of the meshlet itself — plan again, the audit, the replicas to vouch
// for, its events — is `MeshletHooks`; everything else they ask of each other is joined here.
// Nothing runs yet: `Meshlet.start` starts the parts.
import { join } from 'node:path'
import { clusterView, type ClusterView } from '../identity/cluster.js'
import type { IdentityResolver } from '../identity/resolver.js'
import { NSID, type Resources } from '../lexicon/index.js'
import { silentLogger, type Logger } from '../log.js'
import { RepoReader } from '../repo/reader.js'
import type { RepoWriter } from '../repo/writer.js'
import { PresencePublisher, type VouchedReplica } from '../presence/index.js'
import { LivenessWatch, type LivenessWatchOptions } from '../liveness/index.js'
import { DEFAULT_RETENTION_MS } from '../hygiene/index.js'
import { HygieneSweeper } from '../hygiene/sweeper.js'
import { BudgetedWriter, type BudgetState, type BudgetedWriterOptions } from '../repo/budget.js'
import { RecordSync, type RecordEvent, type SourceConfig } from '../sync/index.js'
import type { RecordStore } from '../state.js'
import {
  authorityOf,
  bidRkey,
  challengeRkey,
  DEFAULT_CONFIG,
  ENDING_STATES,
  type Action,
  type SchedulingConfig,
} from '../scheduling/index.js'
import type { Audit } from '../fairshare/index.js'
import { PlanApplier } from '../applier/index.js'
import { SettlementWriter } from '../settlement/index.js'
import type { LookupBackoffOptions } from '../lookups/index.js'
import type { ManagedReplica, Runtime } from '../runtime/index.js'
import { MemorySecretStore, type SecretStore } from '../secrets.js'
import { SealingKeyring } from '../sealing/index.js'
import { Follower } from './follower.js'
import { ImageSizes } from './image-sizes.js'
import { OwnRecords } from './own-records.js'
import { Refusals } from './refusals.js'
import { ReplicaRunner, type ReplicaChange } from './replica-runner.js'
import { LenderSettings } from './settings.js'
import { StatusWriter } from './status-writer.js'

export interface MeshletOptions {
  did: string
  owner: string
  /** Owner DIDs this meshlet recognises (--cluster-members). */
  members: string[]
  identity: IdentityResolver
  /** Signed in as the meshlet's own account. Every write goes through a BudgetedWriter over it. */
  writer: RepoWriter
  /** How long our own bids and statuses nobody needs are kept before they are deleted
   *  (default a day; core/hygiene). Half of it is how long a round stays audited and a deleted
   *  workload's usage keeps counting: every meshlet of a commune must use the same. */
  retentionMs?: number
  /** The account's write budget (default: bsky.social's published limits). */
  budget?: BudgetedWriterOptions['budget']
  /** Back-off of failed look-ups of DIDs and repos (default 5 s doubling to 5 min). */
  lookupBackoff?: LookupBackoffOptions
  /** Relay or PDS whose firehose to follow (the `relay` source). */
  firehose: string
  /** Where live records come from (sync/source.ts); default the relay at `firehose`. */
  source?: SourceConfig
  dataDir?: string
  offer: Resources
  lending?: boolean
  /** Start paused (the desktop app paused by the user or the system): no bids until resumed. */
  paused?: boolean
  allowEgress?: boolean
  /** Free-rider floor in milli-units (DESIGN §6): no bids for owners whose audited balance is
   *  below it. Absent: no floor. */
  minBalance?: number
  /** The lender's image policy (core/runtime README): registry allow-list and largest download. */
  allowRegistries?: string[]
  maxImageMiB?: number
  /** The Docker engine; without one the meshlet follows and explains but never bids. */
  runtime?: Runtime
  config?: Partial<SchedulingConfig>
  log?: Logger
  now?: () => number
  /** Probe timings (core/liveness); tests shorten them. */
  liveness?: Pick<LivenessWatchOptions, 'probeMs' | 'timeoutMs' | 'silenceMs'>
  /** Where the meshlet's sealing key rests (the OS keychain in the app, a 0600 file for the
   *  daemon); default: memory, so a new key on every start. */
  keyStore?: SecretStore
}

/** What the parts ask of the meshlet itself. */
export interface MeshletHooks {
  /** Something a plan depends on changed: plan again. */
  planAgain(): void
  fail(stage: string, err: Error): void
  /** Between start and stop. */
  running(): boolean
  /** A record seen: from the event source, or a claimant's owner record read. */
  onRecord(evt: RecordEvent): void
  /** The follower's retry timer followed what it could. */
  followedLater(): void
  /** The ledger and bid audit over the records seen, now. */
  audit(): Audit
  /** The running replicas our presence vouches for. */
  vouchable(): Promise<VouchedReplica[]>
  /** The liveness watch changed its mind about our reachability: declare liveness again. */
  declareLiveness(): void
  onBudget(state: BudgetState): void
  onAction(action: Action): void
  onReplica(change: ReplicaChange): void
}

/** A meshlet's parts, made and joined, none started. */
export interface MeshletParts {
  config: SchedulingConfig
  log: Logger
  now: () => number
  settings: LenderSettings
  imageSizes: ImageSizes
  view: ClusterView
  hygiene: HygieneSweeper
  sealingKeys: SealingKeyring
  presence: PresencePublisher
  liveness: LivenessWatch
  writer: BudgetedWriter
  own: OwnRecords
  refusals: Refusals
  statuses: StatusWriter
  settlements: SettlementWriter
  applier: PlanApplier<ManagedReplica>
  reader: RepoReader
  sync: RecordSync
  following: Follower
  runner: ReplicaRunner
}

export function wireMeshlet(
  opts: MeshletOptions,
  store: RecordStore,
  hooks: MeshletHooks,
): MeshletParts {
  const config: SchedulingConfig = { ...DEFAULT_CONFIG, ...opts.config }
  const log = opts.log ?? silentLogger
  const now = opts.now ?? Date.now
  const { did, runtime } = opts
  // One answer to "may guests reach the network?" and "which images?": the runtime refuses what
  // we would not bid on, and runs what we did bid on.
  const settings = new LenderSettings(opts)
  const imageSizes = new ImageSizes({
    maxMiB: () => (runtime ? settings.imagePolicy.maxImageMiB : undefined),
    bytesOf: (image) => runtime!.imageBytes(image),
    onLearned: () => hooks.planAgain(),
    now,
  })
  const view = clusterView(store.linkage)
  const hygiene = new HygieneSweeper({
    meshlet: did,
    retentionMs: opts.retentionMs ?? DEFAULT_RETENTION_MS,
    listOwn: (collection) => reader.listAll(did, collection),
    remove: (g) => own.delete(g.collection, g.rkey, 'hygiene', g.uri),
    workloads: () => new Map([...store.workloads, ...store.tombstones]),
    isGone: (uri) =>
      !store.workloads.has(uri) &&
      !store.tombstones.has(uri) &&
      sync.isBackfilled(authorityOf(uri)),
    audit: () => hooks.audit().expected,
    bidsFor: (uri) => store.bidsFor(uri),
    statusesFor: (uri) => store.statusesFor(uri),
    cluster: () => view,
    config,
    now,
    running: () => hooks.running(),
    log,
    onError: (err) => hooks.fail('hygiene', err),
  })
  const sealingKeys = new SealingKeyring(opts.keyStore ?? new MemorySecretStore(), did)
  const presence = new PresencePublisher({
    intervalMs: config.heartbeatMs,
    challengeIntervalMs: config.challengeHeartbeatMs,
    // Off the action queue: a bid never waits behind the container listing.
    replicas: async () => hooks.vouchable(),
    state: () => (settings.paused || !settings.lending ? 'paused' : 'lending'),
    publish: (record) => own.put(NSID.presence, 'self', { ...record }),
    onError: (err) => hooks.fail('presence', err),
    now,
  })
  const liveness = new LivenessWatch({
    self: { meshlet: did, owner: opts.owner },
    config,
    records: () => ({
      presence: store.presence,
      challenges: [...store.challenges.values()],
      endpoints: store.endpoints,
      alternateEndpoints: store.alternateEndpoints,
      cluster: view,
    }),
    // Our challenge of a silent host: a put, keyed by the host. Time-critical like a bid: the
    // host is lost only once every peer has seen it.
    challenge: (subject, at) =>
      own.put(
        NSID.challenge,
        challengeRkey(subject),
        { subject, createdAt: new Date(at).toISOString() },
        'bid',
      ),
    withdraw: async (subject) => {
      await own.delete(NSID.challenge, challengeRkey(subject), 'hygiene')
      log.log('info', 'liveness.withdrawn', { subject })
    },
    answer: async (at) => {
      await presence.answer(at)
      log.log('info', 'liveness.answered', { challengedAt: new Date(at).toISOString() })
    },
    probe: runtime !== undefined,
    ...opts.liveness,
    now,
    onError: (stage, err) => hooks.fail(stage, err),
    onChallenge: (subject, silentMs) =>
      log.log('info', 'liveness.challenge', { subject, silentMs }),
    onUnreachable: (host, strikes) => log.log('warn', 'liveness.unreachable', { host, strikes }),
    onFallback: (preferInterval) => {
      log.log(preferInterval ? 'warn' : 'info', 'liveness.fallback', { preferInterval })
      hooks.declareLiveness()
    },
  })
  const writer = new BudgetedWriter(opts.writer, {
    ...(opts.budget ? { budget: opts.budget } : {}),
    now,
    onState: (state) => hooks.onBudget(state),
    onError: (err) => hooks.fail('write', err),
  })
  const own = new OwnRecords({
    did,
    writer,
    apply: (evt) => void store.apply(evt),
    wrote: (uri, cid) => sync.wrote(uri, cid),
  })
  const refusals = new Refusals({
    ...(opts.dataDir ? { file: join(opts.dataDir, 'declined.json') } : {}),
    onError: (err) => hooks.fail('declined', err),
  })
  const statuses = new StatusWriter({
    put: (rkey, record) => own.put(NSID.workloadStatus, rkey, record),
    now,
  })
  const settlements = new SettlementWriter({
    put: (rkey, record) => own.put(NSID.settlement, rkey, record),
    onError: (err) => hooks.fail('settlement', err),
  })
  /** Our own status of a replica, as seen. */
  const ownStatus = (workloadUri: string, cid: string, round: number) =>
    store
      .statusesFor(workloadUri)
      .find((s) => s.meshlet === did && s.record.workload.cid === cid && s.record.round === round)
  const applier = new PlanApplier<ManagedReplica>({
    bid: async (action) => {
      const w = action.workload
      const record = {
        workload: { uri: w.uri, cid: w.cid },
        round: action.round,
        priority: action.priority,
        offer: action.offer,
        createdAt: new Date(now()).toISOString(),
      }
      await own.put(NSID.bid, bidRkey(w.uri, action.round, w.cid), record)
      log.log('info', 'bid', { workload: w.uri, round: action.round, priority: action.priority })
    },
    // A win the offer cannot hold beside the others: `declined` reopens its round for peers at
    // once (docs/failure-handling.md).
    decline: async (action) => {
      const w = action.workload
      await statuses.publish(w.uri, action.round, {
        workload: { uri: w.uri, cid: w.cid },
        round: action.round,
        state: 'declined',
        message: "declined: this meshlet's offer is held by its other wins",
      })
    },
    start: (action, signal) => runner.start(action.workload, action.round, signal),
    stop: (replica, action) => runner.stop(replica, action.status, action.reason),
    ended: (r) => ENDING_STATES.has(ownStatus(r.workloadUri, r.cid, r.round)?.record.state ?? ''),
    refused: (uri, cid) => refusals.has(uri, cid),
    running: () => hooks.running(),
    onAction: (action) => hooks.onAction(action),
    onSettled: () => hooks.planAgain(),
    onError: (stage, err) => hooks.fail(stage, err),
    log,
  })
  const reader = new RepoReader(opts.identity)
  const sync: RecordSync = new RecordSync({
    identity: opts.identity,
    reader,
    service: opts.firehose,
    ...(opts.source ? { source: opts.source } : {}),
    cursorFile: opts.dataDir ? join(opts.dataDir, 'cursor.json') : undefined,
    presenceWindowMs: config.lostAfterMs,
    wants: (wanted, collection) =>
      following.has(wanted) ||
      // Claims of ownership and membership from anyone: how forged linkage and strangers
      // who list us become visible (and are then rejected with a reason).
      collection === NSID.meshletOwner ||
      collection === NSID.membership,
    onEvent: (evt) => hooks.onRecord(evt),
    onError: (err) => hooks.fail('sync', err),
  })
  const following: Follower = new Follower({
    did,
    owner: opts.owner,
    members: () => settings.members,
    linkage: store.linkage,
    sync,
    reader,
    ...(opts.lookupBackoff ? { lookupBackoff: opts.lookupBackoff } : {}),
    running: () => hooks.running(),
    onRetried: () => hooks.followedLater(),
    onClaim: (evt) => hooks.onRecord(evt),
    onError: (stage, err) => hooks.fail(stage, err),
    log,
    now,
  })
  const runner: ReplicaRunner = new ReplicaRunner({
    meshlet: did,
    ...(runtime ? { runtime } : {}),
    statuses,
    applier,
    reader,
    sealingKeys,
    ...(opts.writer.uploadBlob ? { upload: opts.writer.uploadBlob.bind(opts.writer) } : {}),
    workload: (uri) => store.workloads.get(uri),
    isBackfilled: (d) => sync.isBackfilled(d),
    onEnded: () => hooks.planAgain(),
    onReplica: (change) => hooks.onReplica(change),
    onError: (stage, err) => hooks.fail(stage, err),
    log,
    now,
  })
  return {
    config,
    log,
    now,
    settings,
    imageSizes,
    view,
    hygiene,
    sealingKeys,
    presence,
    liveness,
    writer,
    own,
    refusals,
    statuses,
    settlements,
    applier,
    reader,
    sync,
    following,
    runner,
  }
}
