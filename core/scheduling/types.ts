// The data the scheduler decides on, and the plan it returns. Everything here is plain data so a
// decision can be replayed from the records that produced it.
import type {
  BidRecord,
  ChallengeRecord,
  PresenceRecord,
  Resources,
  WorkloadRecord,
  WorkloadStatusRecord,
} from '../lexicon/index.js'
import type { BidInvalidReason, NoBidReason } from './reasons.js'

export interface WorkloadView {
  uri: string
  cid: string
  /** DID of the owner: the authority of `uri`. */
  owner: string
  record: WorkloadRecord
}

export interface BidView {
  uri: string
  cid: string
  /** DID of the meshlet that wrote the bid (the authority of `uri`). */
  meshlet: string
  record: BidRecord
}

export interface StatusView {
  uri: string
  cid: string
  /** DID of the meshlet that wrote the status (the authority of `uri`). */
  meshlet: string
  record: WorkloadStatusRecord
}

export interface PresenceView {
  uri: string
  cid: string
  /** DID of the meshlet whose liveness this is (the authority of `uri`). */
  meshlet: string
  record: PresenceRecord
  /** Not a record field: when this meshlet is lost unless it answers the earliest challenge that
   *  counts against this presence (liveness.ts, `withChallenges`). */
  answerBy?: number
}

export interface ChallengeView {
  uri: string
  cid: string
  /** DID of the meshlet that found the subject silent (the authority of `uri`). */
  meshlet: string
  record: ChallengeRecord
}

/** The latest presence of each meshlet, by meshlet DID. */
export type PresenceIndex = ReadonlyMap<string, PresenceView>

/** What the identity layer knows: verified two-way linkage and mutuality. */
export interface ClusterView {
  /** The verified owner (both linkage records agree), else undefined. */
  ownerOf(meshletDid: string): string | undefined
  /** True also when ownerA === ownerB. */
  isMutual(ownerA: string, ownerB: string): boolean
  /** Present when the view changes under its holder: it moves whenever an answer may change,
   *  and a bid's author checks are kept per version (select.ts). Absent: asked every time. */
  readonly version?: number
}

export interface SelfState {
  meshlet: string
  owner: string
  lending: boolean
  paused: boolean
  /** Docker's name for this machine's architecture, e.g. 'amd64'. */
  arch: string
  /** The total the owner lends. */
  offer: Resources
  /** Held by the guest containers this meshlet runs (or is starting). The plan adds the wins
   *  it is about to start and the bids still open; capacity is held by wins, not by bids. */
  committed: Resources
  /** Promised in open bids (rounds not yet decided); the plan fills it in. */
  bidding?: Resources
  /** How many times the offer open bids and wins together may promise (default 1). */
  overcommit?: number
  allowEgress: boolean
  /** The lender's registry allow-list (absent: every registry). */
  allowRegistries?: readonly string[]
  /** False while the Docker engine does not answer: nothing can run here (absent: true). */
  dockerAvailable?: boolean
}

export interface SchedulingConfig {
  /** Bid window when the workload names none. */
  defaultBidWindowMs: number
  /** Added after the window closes before deciding, to cover firehose delay. */
  graceMs: number
  /** A replica whose host's presence (or own status) is older than this is lost. */
  lostAfterMs: number
  /** How often a meshlet running replicas rewrites its presence. Also how soon after a presence
   *  a challenge of it counts (an earlier one is void): a member can make a host answer at most
   *  once per this interval, which is what interval liveness costs anyway. */
  heartbeatMs: number
  /** Presence interval of a meshlet whose liveness is 'challenge' (it serves farm.meshlet.ping,
   *  peers probe it, and challenge it on the repo when it is silent). */
  challengeHeartbeatMs: number
  /** Such a meshlet's presence is stale after this long, challenge or not. */
  challengeLostAfterMs: number
  /** A counting challenge not answered by a presence dated after it within this long makes its
   *  subject lost. */
  challengeAnswerMs: number
  /** A round that placed fewer replicas than it had slots reopens this long after decideAt;
   *  doubled for each further short round that had bids, up to maxRetryMs. */
  retryMs: number
  maxRetryMs: number
  /** Open bids may promise up to this many times the offer: a losing bid then does not keep a
   *  meshlet from bidding elsewhere, and a winner declines what its offer cannot hold. */
  overcommit: number
}

export const DEFAULT_CONFIG: SchedulingConfig = Object.freeze({
  defaultBidWindowMs: 5_000,
  graceMs: 2_000,
  // Presence every 20 s costs 8,640 points a day whatever the number of replicas; lost after
  // 32 s leaves 12 s for a late write and puts a killed host's replica elsewhere within ~41 s
  // (32 + window 5 + grace 2 + start). The arithmetic is in docs/write-budget.md.
  lostAfterMs: 32_000,
  heartbeatMs: 20_000,
  // A reachable host is probed off the repo (no writes) and writes presence every 5 min (576
  // points a day) plus an answer per challenge. A killed one is challenged ~10 s after it falls
  // silent (20 s after its last presence at the earliest), lost 12 s later, and its replica runs
  // elsewhere ~8.5 s after that: ~31–41 s. docs/write-budget.md has the arithmetic.
  challengeHeartbeatMs: 300_000,
  challengeLostAfterMs: 330_000,
  challengeAnswerMs: 12_000,
  retryMs: 1_000,
  maxRetryMs: 60_000,
  // Twice the offer: in a burst a meshlet can bid on twice what it can host, so losing half of
  // its bids still fills it, while winning them all costs at most as many declines as it hosts.
  overcommit: 2,
})

/** One bidding/selection cycle of one workload version, as every peer computes it. */
export interface RoundInfo {
  round: number
  /** Bids are valid when created within [opensAt, closesAt] (ms epoch, inclusive). */
  opensAt: number
  /** opensAt + bid window. */
  closesAt: number
  /** closesAt + grace: the earliest moment a selection may be acted on. */
  decideAt: number
  /** Replicas this round fills: replicas minus those still held by earlier rounds. */
  slots: number
  /** Meshlets barred from this round: a placement of this version never showed up there, or the
   *  failure this round replaces happened there (that round only); sorted. */
  excluded: string[]
  /** Meshlets holding a replica of this version from an earlier round, one entry per replica
   *  (a meshlet holding two is listed twice); sorted. They bid only when `holdersMayBid`. */
  holders: string[]
  /** The round before this one placed fewer replicas than it had slots (nobody else could take
   *  them for a whole window), or this round replaces a declined win: holders may bid here,
   *  ranked after every meshlet holding fewer replicas of this version. Spread is a preference,
   *  not a rule. */
  holdersMayBid?: true
  /** Meshlets that declined their win in the round before this one; their bids do not count in
   *  this round (they may bid again in the next). Sorted. */
  declined?: string[]
  /** The failure budget (restartPolicy.maxAttempts) is spent and a failed replica was given up. */
  exhausted: boolean
  /** New placements caused by failures so far. */
  failures: number
  /** The earliest future moment at which this answer could change without new records. */
  nextChangeAt?: number
}

/**
 * The priority a bid must declare to count in a round, recomputed by the peer judging it from the
 * public ledger (DESIGN §11, docs/fair-share.md). A bid that declares another is void
 * (`priority-mismatch`). Without an audit, declared priorities are taken on their word.
 * In a settled round, what the bid declared, or NOT_ATTESTED.
 */
export type BidAudit = (bid: BidView, info: RoundInfo) => number

/** What a BidAudit returns for a bid of a settled round whose winners the workload's owner
 *  attested without it (core/settlement): the bid is void (`not-attested`), whatever it declared.
 *  No declared priority equals it. */
export const NOT_ATTESTED = Number.NEGATIVE_INFINITY

/** Records the selection of earlier rounds depends on; without them, statuses stand in. */
export interface RoundBids {
  bids: readonly BidView[]
  cluster: ClusterView
  audit?: BidAudit
}

export type Eligibility = { ok: true } | { ok: false; reason: NoBidReason }

export type BidCheck = { valid: true } | { valid: false; reason: BidInvalidReason }

export interface RankedBid {
  bid: BidView
  valid: boolean
  reason?: BidInvalidReason
  /** 0-based position among the ranked bids (one per meshlet). */
  rank?: number
  winner: boolean
}

export interface Selection {
  /** Meshlet DIDs in rank order. */
  winners: string[]
  ranked: RankedBid[]
}

/** Status states that end a replica: nothing but another ending may follow one. */
export const ENDING_STATES: ReadonlySet<string> = new Set([
  'exited',
  'failed',
  'stopped',
  'yielded',
  'declined',
])

export type StopReason =
  | 'yielded'
  | 'deleted'
  | 'superseded'
  | 'not-selected'
  | 'paused'
  /** It ran longer than the workload's maxRuntimeMs. */
  | 'max-runtime'

export interface BidAction {
  type: 'bid'
  workload: WorkloadView
  round: number
  priority: number
  offer: Resources
  /** Record key for the bid (and later the status): bidRkey(workload.uri, round, workload.cid). */
  rkey: string
}

export interface StartAction {
  type: 'start'
  workload: WorkloadView
  round: number
  /** Record key for the status: bidRkey(workload.uri, round, workload.cid). */
  rkey: string
}

export interface StopAction {
  type: 'stop'
  workloadUri: string
  /** The local container to stop: its workload version and round label. */
  cid: string
  round: number
  reason: StopReason
  /**
   * The state to publish for the replica. Absent when its status record must stay as it is: the
   * replica was already lost, and rewriting its status would change the history every peer
   * computes rounds from.
   */
  status?: 'yielded' | 'stopped' | 'draining' | 'failed'
}

/** A win this meshlet's offer cannot hold beside its other wins: publish `declined` for it (and
 *  start nothing), which every peer reads as a slot released at once. */
export interface DeclineAction {
  type: 'decline'
  workload: WorkloadView
  round: number
  /** Record key for the status: bidRkey(workload.uri, round, workload.cid). */
  rkey: string
}

export type Action = BidAction | StartAction | StopAction | DeclineAction

export interface LocalReplica {
  workloadUri: string
  cid: string
  round: number
  /** Docker's state of the container ('running', 'exited', ...). */
  state: string
  /** When the container started (ms epoch, this host's clock), for the max runtime. */
  startedAt?: number
}

export interface PlanInput {
  self: SelfState
  workloads: WorkloadView[]
  /** URIs of deleted workloads. */
  deleted: string[]
  bids: BidView[]
  statuses: StatusView[]
  /** The latest presence of each meshlet (liveness of the replicas it lists). */
  presence?: PresenceView[]
  /** This meshlet's local containers. */
  running: LocalReplica[]
  cluster: ClusterView
  now: number
  config: SchedulingConfig
  /** The priority this meshlet declares in a bid for the workload's round `info`. */
  priorityOf: (workload: WorkloadView, info: RoundInfo) => number
  /** Recomputes the priority each bid must declare; see BidAudit. */
  audit?: BidAudit
  /** Free-rider policy (DESIGN §6): true when this meshlet declines the owner's workloads. */
  declineOwner?: (ownerDid: string) => boolean
  /** The lender's maximum image size (see EligibilityPolicy). */
  imageSize?: (image: string) => 'fits' | 'too-large' | 'unknown' | undefined
}

export interface BidSummary {
  meshlet: string
  priority: number
  valid: boolean
  reason?: BidInvalidReason
  winner: boolean
}

export interface Explanation {
  cid: string
  round: number
  opensAt: number
  closesAt: number
  decideAt: number
  slots: number
  exhausted: boolean
  /** Why this meshlet does not bid in the current round; absent when it bids or has bid. */
  noBid?: NoBidReason
  /** This meshlet has a bid in the current round (before this plan). */
  hasBid: boolean
  /** Winners of the current round; final once `decided`. */
  winners: string[]
  decided: boolean
  /** Meshlets holding replicas from earlier rounds, as of the current round's opening. */
  holders: string[]
  /** Meshlets whose replica of this version is healthy now (decided rounds only); sorted. */
  placed: string[]
  excluded: string[]
  bids: BidSummary[]
}

/** Where this meshlet's offer went, as the plan reckons it. */
export interface CapacityView {
  /** Running guests, plus the wins this plan keeps and is about to start. Never above the offer
   *  through anything the plan starts. */
  held: Resources
  /** Promised in bids of rounds not yet decided (at most overcommit × offer − held). */
  bidding: Resources
}

export interface Plan {
  actions: Action[]
  capacity: CapacityView
  /** The earliest future time at which the plan could change without new records. */
  nextWakeAt?: number
  explain: Map<string, Explanation>
}
