// The contract between the UI and the core (docs/style.md, rule 3): one map of methods and one
// map of push events. The Electron preload, the main process's IPC handler, the daemon's WebSocket bridge and
// the renderer all derive their types from these maps, so a method added here and not handled
// everywhere does not compile. Every argument that crosses a process or network boundary is
// checked by `validateArgs` before a handler sees it.
import type { PolicyAction, RuleName, RuleView } from './policy/decide.js'
import { checkRules, RulesError, type LendingRules } from './policy/rules.js'

export type { LendingRules, PolicyAction, RuleName, RuleView }

import { SOURCE_COSTS, SOURCE_KINDS, type SourceKind } from './sync/source.js'
import { MAX_IMAGE_MIB, registryList } from './app/settings.js'
import { SPEC_LIMITS } from './spec/limits.js'

export { SOURCE_COSTS, SOURCE_KINDS, type SourceKind }

/** What the app is doing, as the tray icon and the dashboard's header show it. */
export type Phase =
  /** No owner signed in yet. */
  | 'signed-out'
  /** The owner is signed in; this machine's own account is not (or not linked yet). */
  | 'needs-meshlet'
  /** Signing in, linking, or the meshlet backfilling its first view of the records. */
  | 'starting'
  /** Bidding on workloads and running the ones it wins. */
  | 'lending'
  /** Not bidding; guests drain. By the user's toggle, or by the system (battery, suspend). */
  | 'paused'
  /** The PDS or relay cannot be reached; retrying. */
  | 'offline'
  /** Something needs the user: Docker missing, a session expired, linkage broken. */
  | 'error'

export type Role = 'owner' | 'meshlet'

export interface Account {
  did: string
  handle?: string
  /** How the session was made: atproto OAuth in the browser, or an app password. */
  method: 'oauth' | 'app-password'
}

/** Resources in the units records use: millicores and MiB (DESIGN §1: integers only). */
export interface Capacity {
  cpuMillis: number
  memoryMiB: number
  storageMiB: number
}

export interface CapacityView {
  /** This machine's totals (core/host.ts): the sliders' upper bounds. */
  host: Capacity
  /** Used right now by everything on the machine, guests included. */
  used: Capacity
  /** What the owner lends: the sliders' values. */
  offer: Capacity
  /** Held by guests running here and by open bids. */
  committed: Capacity
  /** The smallest offer accepted (one slider step above zero). */
  minimum: Capacity
}

/** One member of the commune as this meshlet sees them. */
export interface MemberView {
  did: string
  handle?: string
  /**
   * self: the signed-in owner. mutual: two-way linked and both list each other. waiting: we list
   * them, but they have no meshlet or it does not list us yet. broken: their linkage records
   * disagree (forged or half-done). stranger: they list us but we have not added them.
   */
  state: 'self' | 'mutual' | 'waiting' | 'broken' | 'stranger'
  /** One sentence for the UI, when not mutual. */
  reason?: string
  /** Their verified meshlets. */
  meshlets: string[]
}

export interface BalanceView {
  did: string
  handle?: string
  /** Decayed, in milli-units (one unit: a core or a GiB for an hour). */
  contributed: number
  consumed: number
  /** contributed − consumed; the bid priority rises as this falls below the mean. */
  balance: number
}

export interface BalancesView {
  members: BalanceView[]
  /** Balances sampled over time, oldest first, for the chart. */
  history: { at: string; balances: Record<string, number> }[]
  halfLifeMs: number
}

/** A container this meshlet runs for someone. */
export interface GuestView {
  containerId: string
  workloadUri: string
  owner: string
  ownerHandle?: string
  image: string
  cpuMillis: number
  memoryMiB: number
  round: number
  state: string
  startedAt?: string
  /** Working set now, when Docker reported it. */
  memoryUsedMiB?: number
}

export interface ReplicaView {
  meshlet: string
  meshletOwner?: string
  ownerHandle?: string
  round: number
  state: string
  updatedAt: string
  exitCode?: number
  message?: string
}

/** A workload the signed-in owner published. */
export interface WorkloadView {
  uri: string
  image: string
  command?: string[]
  cpuMillis: number
  memoryMiB: number
  replicas: number
  createdAt: string
  /** When the current version was published by an edit (absent: never edited). */
  updatedAt?: string
  /** The whole spec of the current version, as the edit form starts from it. */
  spec: WorkloadSpecView
  /** One sentence: what is happening with it. */
  headline: string
  placements: ReplicaView[]
  /** Bids of the current round that do not count, with the named reason and a sentence. */
  voidBids?: { meshlet: string; ownerHandle?: string; reason: string; sentence: string }[]
  /** Member meshlets without a bid this round and why, from what they published; without a
   *  `reason`, the sentence says honestly that it is not known. */
  noBid?: { meshlet: string; ownerHandle?: string; reason?: string; sentence: string }[]
}

export interface ActivityItem {
  id: number
  at: string
  level: 'info' | 'warn' | 'error'
  text: string
}

export interface Settings {
  lending: boolean
  offer: Capacity
  members: string[]
  pauseOnBattery: boolean
  startAtLogin: boolean
  allowEgress: boolean
  /** When this machine lends: idle time, battery level, quiet hours, host load (core/policy). */
  rules: LendingRules
  /** Where records are read from (what each costs: SOURCE_COSTS). Absent in saved settings:
   *  the network's default; always present in the pushed state. */
  source?: SourceKind
  /** Serve the meshlet API (farm.meshlet.*) on the local network; off by default. */
  serveApi: boolean
  /** Free-rider floor in milli-units: no bids for owners whose balance is below it. Absent: off. */
  minBalance?: number
  /** Registry allow-list (hosts; `docker.io` for Docker Hub): no bids for images from others.
   *  Absent: every registry. */
  allowRegistries?: string[]
  /** Largest image download in MiB (the registry manifest's compressed size); a larger image is
   *  refused at start (`image-too-large`). Absent: no limit. */
  maxImageMiB?: number
}

/** The lending policy now: what it decided, which rule decided it and why, and every rule. */
export interface PolicyView {
  action: PolicyAction
  reason?: RuleName
  /** "you are using this computer"; absent while lending. */
  because?: string
  /** Guests' CPU share, 0..1: below 1 while throttled. */
  cpuShare: number
  rules: RuleView[]
  /** Whether this machine can tell when it was last used (the idle rule needs it). */
  idleReadable: boolean
}

/** Everything the dashboard shows; pushed whole on every change (it is small). */
export interface DashboardState {
  phase: Phase
  /** Why the phase is what it is, when that needs saying (paused on battery, Docker missing). */
  detail?: string
  /** The signed-in owner (needed to submit workloads and to link this machine). */
  owner?: Account
  /** The owner this machine belongs to; known even when they are not signed in here (the
   *  headless daemon lends without an owner session). */
  ownerDid?: string
  /** This machine's own account. */
  meshlet?: Account
  /** A sign-in under way: the page the user must finish it on. */
  pendingSignIn?: { role: Role; handle: string; url: string }
  settings: Settings
  capacity: CapacityView
  members: MemberView[]
  balances: BalancesView
  guests: GuestView[]
  workloads: WorkloadView[]
  activity: ActivityItem[]
  policy: PolicyView
  /** Present when the host shell can do it (Electron): start at login. */
  canStartAtLogin: boolean
  /** A new version of the desktop app is downloaded: it installs when the app restarts, after
   *  guests drain (the tray's "Restart to update", or the next quit). */
  update?: { version: string }
  /** The PDS refuses this machine's writes (429) or its write budget is spent, until then (ISO
   *  time). Writes wait meanwhile; endings go first once it clears, nothing is lost. */
  rateLimitedUntil?: string
  /** Since when this machine's writes find no PDS answering (timed out, refused), ISO time.
   *  Endings wait and go first once it answers; other writes fail with an error meanwhile. */
  pdsUnreachableSince?: string
  /** How peers tell this meshlet is up, while it runs: by pinging its endpoint (`challenge`,
   *  presence every 5 min), or by its presence every 20 s (`interval`): it serves no API
   *  (`no-endpoint`), or a peer could not reach the endpoint it publishes (`unreachable`). */
  liveness?: {
    mode: 'challenge' | 'interval'
    reason?: 'no-endpoint' | 'unreachable'
    endpoint?: string
  }
}

export interface WorkloadDraft {
  image: string
  cpuMillis: number
  memoryMiB: number
  replicas: number
  command: string[]
  /** Ask for outbound network; only machines whose owner allows it bid (default: none). */
  egress?: boolean
  /** Secret environment variables: sealed to the meshlets that may run it, never published. */
  secrets?: { name: string; value: string }[]
  /** Plain environment variables, published in the record for anyone to read. */
  env?: { name: string; value: string }[]
  /** Scratch storage per replica (the writable tmpfs), in MiB; absent: the runtime's default. */
  storageMiB?: number
  /** CPU architectures the image runs on, as Docker names them; absent: any. */
  arch?: string[]
  /** What happens when a replica ends; absent: never placed again. */
  restart?: RestartDraft
  /** A replica running longer than this is stopped; absent: no limit. */
  maxRuntimeSeconds?: number
}

export const RESTART_MODES = ['never', 'on-failure', 'always'] as const
export type RestartMode = (typeof RESTART_MODES)[number]

export interface RestartDraft {
  mode: RestartMode
  /** New placements after a failure before giving up. */
  maxAttempts?: number
  /** The first back-off delay; it doubles on each further failure. */
  delayMs?: number
}

/** A published workload's spec, for the edit form: a draft without secret values (they are
 *  sealed; an edit keeps them), with the names of the secrets it has. */
export type WorkloadSpecView = Omit<WorkloadDraft, 'secrets'> & { secretNames?: string[] }

export interface MachineAccountDraft {
  /** The PDS's address (https://…; http only on this machine). */
  pds: string
  /** A full handle, a name under the PDS's first domain, or ".domain"; default: generated. */
  handle?: string
  email?: string
  inviteCode?: string
}

/** Method name → argument and result. One argument object per call (or none). */
export interface ApiMethods {
  'state.get': { args: void; result: DashboardState }
  /** Starts atproto OAuth for a handle; the result is the page to finish it on. */
  'auth.signIn': { args: { role: Role; handle: string }; result: { url: string } }
  /** An app password instead of OAuth (for the meshlet's own account, or headless use). */
  'auth.signInWithPassword': {
    args: { role: Role; handle: string; password: string }
    result: Account
  }
  /** Makes this machine's own account on a PDS the owner chooses (invite code and email when
   *  it asks), keeps its generated password in the keychain, signs it in and links it. Run
   *  again, it keeps the machine it made. Needs the owner signed in. */
  'auth.createMachineAccount': { args: MachineAccountDraft; result: Account }
  'auth.cancelSignIn': { args: void; result: void }
  'auth.signOut': { args: { role: Role }; result: void }
  /** Writes the two linkage records (DESIGN §1); needs both accounts signed in. */
  'meshlet.link': { args: void; result: void }
  'lending.set': { args: { lending: boolean }; result: void }
  'capacity.set': { args: Capacity; result: void }
  'settings.set': {
    /** minBalance, allowRegistries, maxImageMiB: null turns that policy off. */
    args: Partial<
      Pick<Settings, 'pauseOnBattery' | 'startAtLogin' | 'allowEgress' | 'source' | 'serveApi'>
    > & {
      rules?: Partial<LendingRules>
      minBalance?: number | null
      allowRegistries?: string[] | null
      maxImageMiB?: number | null
    }
    result: void
  }
  'members.add': { args: { handle: string }; result: MemberView }
  'members.remove': { args: { did: string }; result: void }
  /** Stops a guest container here; its owner's workload is placed elsewhere. */
  'guests.stop': { args: { containerId: string }; result: void }
  'workloads.submit': { args: WorkloadDraft; result: { uri: string } }
  /** Publishes a new version of one of the owner's workloads: the record rewritten with
   *  `updatedAt`, which opens a new round; replicas of the old version yield. Secrets are kept. */
  'workloads.update': { args: { uri: string; draft: WorkloadDraft }; result: { uri: string } }
  'workloads.delete': { args: { uri: string }; result: void }
  /** What a workload's replicas printed, asked of each host (or of `meshlet` only). */
  'workloads.logs': { args: { uri: string; meshlet?: string }; result: WorkloadLogsView }
}

/** Logs of one workload, per host of its replicas. */
export interface WorkloadLogsView {
  uri: string
  hosts: {
    meshlet: string
    /** False: the host publishes no endpoint or does not answer ("cannot be reached"). */
    reachable: boolean
    /** Why there are no logs from this host, when there are none. */
    reason?: string
    replicas: {
      round: number
      state: string
      truncated: boolean
      lines: { at: string; stream: string; text: string }[]
    }[]
  }[]
}

/** Push event name → payload. */
export interface ApiEvents {
  state: DashboardState
  /** A sign-in finished (or failed) in the browser. */
  signIn: { role: Role; ok: boolean; error?: string }
}

export type MethodName = keyof ApiMethods
export type EventName = keyof ApiEvents
export type Args<M extends MethodName> = ApiMethods[M]['args']
export type Result<M extends MethodName> = ApiMethods[M]['result']

/** What serves the contract: the core app. Transports forward to it and nothing else. */
export interface ApiHost {
  call<M extends MethodName>(method: M, args: Args<M>): Promise<Result<M>>
  /** Returns an unsubscribe function. */
  subscribe<E extends EventName>(event: E, listener: (payload: ApiEvents[E]) => void): () => void
}

/** What the renderer holds: the same calls, over IPC or a WebSocket. */
export interface ApiClient {
  call<M extends MethodName>(
    method: M,
    ...args: Args<M> extends void ? [] : [Args<M>]
  ): Promise<Result<M>>
  on<E extends EventName>(event: E, listener: (payload: ApiEvents[E]) => void): () => void
}

/** Errors that cross the boundary keep only a code and a message for people. */
export interface ApiErrorPayload {
  code: ApiErrorCode
  message: string
}

export type ApiErrorCode =
  | 'invalid-args'
  | 'unknown-method'
  | 'not-signed-in'
  | 'not-found'
  | 'conflict'
  | 'unavailable'
  | 'internal'

export class ApiError extends Error {
  constructor(
    readonly code: ApiErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options)
    this.name = 'ApiError'
  }

  toPayload(): ApiErrorPayload {
    return { code: this.code, message: this.message }
  }
}

// --- argument validation ------------------------------------------------------------------------

/** Bounds shared by the UI's inputs and the checks below. */
export const LIMITS = {
  handle: 253,
  password: 256,
  url: 2048,
  email: 254,
  inviteCode: 128,
  image: SPEC_LIMITS.image,
  commandArgs: SPEC_LIMITS.commandArgs,
  commandArg: SPEC_LIMITS.commandArg,
  replicas: SPEC_LIMITS.maxReplicas,
  cpuMillis: SPEC_LIMITS.maxCpuMillis,
  memoryMiB: 4_194_304,
  storageMiB: 67_108_864,
  /** The lexicon's bound on a balance floor, in milli-units. */
  balance: 1_000_000_000_000,
  /** Docker refuses smaller memory limits. */
  minMemoryMiB: SPEC_LIMITS.minMemoryMiB,
  /** A workload's bounds are core/spec's: Docker refuses less than 0.01 CPU, and the runtime
   *  no more than 1 TiB of memory or storage. */
  minCpuMillis: SPEC_LIMITS.minCpuMillis,
  workloadMemoryMiB: SPEC_LIMITS.maxMemoryMiB,
  workloadStorageMiB: SPEC_LIMITS.maxStorageMiB,
  /** Plain environment variables' names and values together, in bytes. */
  envBytes: SPEC_LIMITS.envBytes,
  /** A workload's secrets: how many, and their values together in bytes of JSON (core/sealing). */
  secrets: SPEC_LIMITS.secrets,
  secretsBytes: 4096,
  /** The lexicon's bounds on plain environment variables and the restart policy. */
  env: SPEC_LIMITS.envVars,
  envName: 128,
  envValue: SPEC_LIMITS.envValue,
  arch: SPEC_LIMITS.arch,
  archName: 32,
  restartAttempts: SPEC_LIMITS.maxRestartAttempts,
  restartDelayMs: SPEC_LIMITS.maxRestartDelayMs,
  /** core/spec's bound on maxRuntimeMs (30 days), in seconds. */
  maxRuntimeSeconds: SPEC_LIMITS.maxRuntimeMs / 1000,
} as const

type Validator<T> = (args: unknown) => T

function fail(message: string): never {
  throw new ApiError('invalid-args', message)
}

function object(args: unknown, keys: readonly string[]): Record<string, unknown> {
  if (typeof args !== 'object' || args === null || Array.isArray(args)) fail('expected an object')
  const extra = Object.keys(args).filter((k) => !keys.includes(k))
  if (extra.length > 0) fail(`unexpected field: ${extra[0]}`)
  return args as Record<string, unknown>
}

function none(args: unknown): void {
  if (args !== undefined && args !== null) fail('this method takes no arguments')
}

function str(o: Record<string, unknown>, key: string, max: number, pattern?: RegExp): string {
  const v = o[key]
  if (typeof v !== 'string' || v.length === 0) fail(`${key} must be a non-empty string`)
  if (v.length > max) fail(`${key} is longer than ${max} characters`)
  if (pattern && !pattern.test(v)) fail(`${key} is not valid: ${v.slice(0, 80)}`)
  return v
}

function int(o: Record<string, unknown>, key: string, min: number, max: number): number {
  const v = o[key]
  if (typeof v !== 'number' || !Number.isSafeInteger(v)) fail(`${key} must be a whole number`)
  if (v < min || v > max) fail(`${key} must be between ${min} and ${max}`)
  return v
}

function bool(o: Record<string, unknown>, key: string): boolean {
  const v = o[key]
  if (typeof v !== 'boolean') fail(`${key} must be true or false`)
  return v
}

function role(o: Record<string, unknown>): Role {
  const v = o.role
  if (v !== 'owner' && v !== 'meshlet') fail('role must be "owner" or "meshlet"')
  return v
}

/** A handle (alice.bsky.social), a DID, or either with a leading @. */
const ACTOR = /^@?([a-zA-Z0-9.-]+|did:[a-z]+:[a-zA-Z0-9._:%-]+)$/
const DID = /^did:[a-z]+:[a-zA-Z0-9._:%-]+$/
const AT_URI = /^at:\/\/did:[a-z]+:[a-zA-Z0-9._:%-]+\/[a-zA-Z0-9.-]+\/[a-zA-Z0-9._:~-]+$/
const HTTP_URL = /^https?:\/\/[^\s/?#]+[^\s]*$/
/** A handle, a single name, or ".domain" (the machine account's handle, DNS characters only). */
const MACHINE_HANDLE = /^@?\.?[a-zA-Z0-9-]+(\.[a-zA-Z0-9-]+)*$/
const EMAIL = /^[^\s@]+@[^\s@]+$/
const INVITE_CODE = /^[a-zA-Z0-9._-]+$/
const CONTAINER_ID = /^[a-f0-9]{12,64}$/
/** Docker's reference grammar, loosely: no spaces or control characters. */
const IMAGE = /^[a-zA-Z0-9][a-zA-Z0-9._\-/:@]*$/

function capacity(args: unknown): Capacity {
  const o = object(args, ['cpuMillis', 'memoryMiB', 'storageMiB'])
  return {
    cpuMillis: int(o, 'cpuMillis', 0, LIMITS.cpuMillis),
    memoryMiB: int(o, 'memoryMiB', 0, LIMITS.memoryMiB),
    storageMiB: int(o, 'storageMiB', 0, LIMITS.storageMiB),
  }
}

/** A change to some of the lending rules: checked whole, and only the fields given kept. */
function rulesPatch(value: unknown): Partial<LendingRules> {
  let checked: LendingRules
  try {
    checked = checkRules(value)
  } catch (err) {
    if (err instanceof RulesError) fail(`rules: ${err.message}`)
    throw err
  }
  const given = Object.keys(value as object) as (keyof LendingRules)[]
  return Object.fromEntries(given.map((k) => [k, checked[k]])) as Partial<LendingRules>
}

const validators: { [M in MethodName]: Validator<Args<M>> } = {
  'state.get': none,
  'auth.signIn': (args) => {
    const o = object(args, ['role', 'handle'])
    return { role: role(o), handle: str(o, 'handle', LIMITS.handle, ACTOR) }
  },
  'auth.signInWithPassword': (args) => {
    const o = object(args, ['role', 'handle', 'password'])
    return {
      role: role(o),
      handle: str(o, 'handle', LIMITS.handle, ACTOR),
      password: str(o, 'password', LIMITS.password),
    }
  },
  'auth.createMachineAccount': (args) => {
    const o = object(args, ['pds', 'handle', 'email', 'inviteCode'])
    const opt = (key: string, max: number, pattern: RegExp) =>
      o[key] === undefined || o[key] === '' ? {} : { [key]: str(o, key, max, pattern) }
    return {
      pds: str(o, 'pds', LIMITS.url, HTTP_URL),
      ...opt('handle', LIMITS.handle, MACHINE_HANDLE),
      ...opt('email', LIMITS.email, EMAIL),
      ...opt('inviteCode', LIMITS.inviteCode, INVITE_CODE),
    }
  },
  'auth.cancelSignIn': none,
  'auth.signOut': (args) => ({ role: role(object(args, ['role'])) }),
  'meshlet.link': none,
  'lending.set': (args) => ({ lending: bool(object(args, ['lending']), 'lending') }),
  'capacity.set': capacity,
  'settings.set': (args) => {
    const o = object(args, [
      'pauseOnBattery',
      'startAtLogin',
      'allowEgress',
      'serveApi',
      'rules',
      'source',
      'minBalance',
      'allowRegistries',
      'maxImageMiB',
    ])
    const out: Args<'settings.set'> = {}
    for (const k of ['pauseOnBattery', 'startAtLogin', 'allowEgress', 'serveApi'] as const) {
      if (o[k] !== undefined) out[k] = bool(o, k)
    }
    if (o.minBalance === null) out.minBalance = null
    else if (o.minBalance !== undefined) {
      out.minBalance = int(o, 'minBalance', -LIMITS.balance, LIMITS.balance)
    }
    if (o.allowRegistries === null) out.allowRegistries = null
    else if (o.allowRegistries !== undefined) {
      try {
        out.allowRegistries = registryList(o.allowRegistries)
      } catch (err) {
        fail((err as Error).message)
      }
    }
    if (o.maxImageMiB === null) out.maxImageMiB = null
    else if (o.maxImageMiB !== undefined) {
      out.maxImageMiB = int(o, 'maxImageMiB', 1, MAX_IMAGE_MIB)
    }
    if (o.rules !== undefined) out.rules = rulesPatch(o.rules)
    if (o.source !== undefined) {
      if (!SOURCE_KINDS.includes(o.source as SourceKind)) {
        fail(`source must be one of ${SOURCE_KINDS.join(', ')}`)
      }
      out.source = o.source as SourceKind
    }
    return out
  },
  'members.add': (args) => ({
    handle: str(object(args, ['handle']), 'handle', LIMITS.handle, ACTOR),
  }),
  'members.remove': (args) => ({ did: str(object(args, ['did']), 'did', 2048, DID) }),
  'guests.stop': (args) => ({
    containerId: str(object(args, ['containerId']), 'containerId', 64, CONTAINER_ID),
  }),
  'workloads.submit': draftArg,
  'workloads.update': (args) => {
    const o = object(args, ['uri', 'draft'])
    const draft = draftArg(o.draft)
    // Sealed values cannot be read back to prefill a form; an edit keeps the ones published.
    if (draft.secrets !== undefined) fail('an edit keeps the secrets; it cannot change them')
    return { uri: str(o, 'uri', 8192, AT_URI), draft }
  },
  'workloads.delete': (args) => ({ uri: str(object(args, ['uri']), 'uri', 8192, AT_URI) }),
  'workloads.logs': (args) => {
    const o = object(args, ['uri', 'meshlet'])
    const uri = str(o, 'uri', 8192, AT_URI)
    return o.meshlet === undefined ? { uri } : { uri, meshlet: str(o, 'meshlet', 2048, DID) }
  },
}

/** A workload draft: each field's shape and the lexicon's bounds, so a bad one never reaches the
 *  core. The core builds the record from it and checks it against the lexicon again. */
function draftArg(args: unknown): WorkloadDraft {
  const o = object(args, [
    'image',
    'cpuMillis',
    'memoryMiB',
    'replicas',
    'command',
    'egress',
    'secrets',
    'env',
    'storageMiB',
    'arch',
    'restart',
    'maxRuntimeSeconds',
  ])
  const command = o.command ?? []
  if (!Array.isArray(command)) fail('command must be a list of strings')
  if (command.length > LIMITS.commandArgs) fail(`command has more than ${LIMITS.commandArgs} parts`)
  for (const part of command) {
    if (typeof part !== 'string') fail('command must be a list of strings')
    if (part.length > LIMITS.commandArg) fail(`a command part is longer than ${LIMITS.commandArg}`)
  }
  const secrets = o.secrets !== undefined ? secretsArg(o.secrets) : undefined
  const env = o.env !== undefined ? envArg(o.env) : undefined
  const clash = env?.find((e) => secrets?.some((s) => s.name === e.name))
  if (clash) fail(`${clash.name} is both a variable and a secret`)
  return {
    image: str(o, 'image', LIMITS.image, IMAGE),
    cpuMillis: int(o, 'cpuMillis', LIMITS.minCpuMillis, LIMITS.cpuMillis),
    memoryMiB: int(o, 'memoryMiB', LIMITS.minMemoryMiB, LIMITS.workloadMemoryMiB),
    replicas: int(o, 'replicas', 1, LIMITS.replicas),
    command: command as string[],
    ...(o.egress !== undefined ? { egress: bool(o, 'egress') } : {}),
    ...(secrets ? { secrets } : {}),
    ...(env ? { env } : {}),
    ...(o.storageMiB !== undefined
      ? { storageMiB: int(o, 'storageMiB', 1, LIMITS.workloadStorageMiB) }
      : {}),
    ...(o.arch !== undefined ? { arch: archArg(o.arch) } : {}),
    ...(o.restart !== undefined ? { restart: restartArg(o.restart) } : {}),
    ...(o.maxRuntimeSeconds !== undefined
      ? { maxRuntimeSeconds: int(o, 'maxRuntimeSeconds', 1, LIMITS.maxRuntimeSeconds) }
      : {}),
  }
}

/** The names a process environment takes without quoting: letters, digits and _. */
export const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/

function envArg(raw: unknown): { name: string; value: string }[] {
  if (!Array.isArray(raw)) fail('env must be a list of { name, value }')
  if (raw.length > LIMITS.env) fail(`at most ${LIMITS.env} environment variables`)
  const seen = new Set<string>()
  let bytes = 0
  const env = (raw as unknown[]).map((e) => {
    const o = object(e, ['name', 'value'])
    const name = str(o, 'name', LIMITS.envName, ENV_NAME)
    if (typeof o.value !== 'string') fail(`variable ${name} needs a string value`)
    if (o.value.length > LIMITS.envValue) {
      fail(`variable ${name} is longer than ${LIMITS.envValue} characters`)
    }
    if (seen.has(name)) fail(`variable ${name} is given twice`)
    seen.add(name)
    bytes += new TextEncoder().encode(name + o.value).length
    return { name, value: o.value }
  })
  if (bytes > LIMITS.envBytes) {
    fail(`environment variables take ${bytes} bytes; at most ${LIMITS.envBytes} together`)
  }
  return env
}

const ARCH = /^[a-z0-9_]+$/

function archArg(raw: unknown): string[] {
  if (!Array.isArray(raw) || raw.some((a) => typeof a !== 'string')) {
    fail('arch must be a list of architecture names')
  }
  const list = [...new Set(raw as string[])]
  if (list.length === 0) fail('arch names no architecture (leave it out for any)')
  if (list.length > LIMITS.arch) fail(`at most ${LIMITS.arch} architectures`)
  for (const a of list) {
    if (a.length > LIMITS.archName || !ARCH.test(a)) fail(`arch is not valid: ${a.slice(0, 40)}`)
  }
  return list
}

function restartArg(raw: unknown): RestartDraft {
  const o = object(raw, ['mode', 'maxAttempts', 'delayMs'])
  if (!RESTART_MODES.includes(o.mode as RestartMode)) {
    fail(`restart mode must be one of ${RESTART_MODES.join(', ')}`)
  }
  return {
    mode: o.mode as RestartMode,
    ...(o.maxAttempts !== undefined
      ? { maxAttempts: int(o, 'maxAttempts', 0, LIMITS.restartAttempts) }
      : {}),
    ...(o.delayMs !== undefined ? { delayMs: int(o, 'delayMs', 0, LIMITS.restartDelayMs) } : {}),
  }
}

/** Secrets of a workload draft: checked here so a bad one never reaches the core; messages name
 *  the secret, never its value. */
function secretsArg(raw: unknown): { name: string; value: string }[] {
  if (!Array.isArray(raw)) fail('secrets must be a list of { name, value }')
  const map = new Map<string, string>()
  for (const s of raw as unknown[]) {
    const o = object(s, ['name', 'value'])
    const name = str(o, 'name', 128, /^[A-Za-z_][A-Za-z0-9_]*$/)
    if (typeof o.value !== 'string') fail(`secret ${name} needs a string value`)
    if (map.has(name)) fail(`secret ${name} is given twice`)
    map.set(name, o.value as string)
  }
  // The core checks again (core/sealing/secrets.ts); these bounds are its bounds.
  if (map.size > LIMITS.secrets) fail(`at most ${LIMITS.secrets} secrets per workload`)
  const size = new TextEncoder().encode(JSON.stringify(Object.fromEntries(map))).length
  if (size > LIMITS.secretsBytes) {
    fail(`secrets take ${size} bytes; at most ${LIMITS.secretsBytes} together`)
  }
  return [...map].map(([name, value]) => ({ name, value }))
}

export const METHOD_NAMES = Object.keys(validators) as MethodName[]
export const EVENT_NAMES: readonly EventName[] = ['state', 'signIn']

export function isMethodName(name: unknown): name is MethodName {
  return typeof name === 'string' && Object.hasOwn(validators, name)
}

/** Checks a call that arrived from outside the core: the method exists and its arguments have
 *  the shape and bounds the contract says. Throws ApiError('invalid-args' | 'unknown-method'). */
export function validateArgs<M extends MethodName>(method: M, args: unknown): Args<M>
export function validateArgs(method: unknown, args: unknown): unknown
export function validateArgs(method: unknown, args: unknown): unknown {
  if (!isMethodName(method)) {
    throw new ApiError('unknown-method', `no such method: ${String(method).slice(0, 80)}`)
  }
  return validators[method](args)
}

/** An error as it crosses the boundary: ApiErrors keep their code; anything else is internal,
 *  with a message that names no secret (callers' messages never contain one). */
export function toErrorPayload(err: unknown): ApiErrorPayload {
  if (err instanceof ApiError) return err.toPayload()
  const message = err instanceof Error ? err.message : String(err)
  return { code: 'internal', message: message.slice(0, 500) }
}

/** Why the system (not the user) paused lending; the Electron shell reports these. */
export type SystemPause = 'battery' | 'suspend' | 'quit'

/** What a desktop shell needs beyond the UI contract: power events, and an orderly close. */
export interface DesktopHost extends ApiHost {
  /** Pauses (or lifts a pause) for a system reason; the user's own toggle is kept apart, so
   *  waking from suspend returns to lending only if the user had it on. */
  setSystemPause(reason: SystemPause, paused: boolean): Promise<void>
  /** Stops the meshlet (guests drain and are removed) and closes every resource. */
  close(): Promise<void>
  /** The shell downloaded an update (electron-updater); the dashboard says so. */
  setUpdateReady(version: string): void
}

// --- wire formats ---------------------------------------------------------------------------------

/** A call's outcome as it crosses IPC or a WebSocket. */
export type WireResult<M extends MethodName = MethodName> =
  { ok: true; result: Result<M> } | { ok: false; error: ApiErrorPayload }

/** WebSocket frames (JSON text). The client numbers its requests. */
export type WireClientFrame = { id: number; method: string; args?: unknown }
export type WireServerFrame =
  ({ id: number } & WireResult) | { event: EventName; payload: ApiEvents[EventName] }

/** What the Electron preload exposes to the renderer as `window.meshletApi`. */
export interface PreloadBridge {
  call(method: string, args: unknown): Promise<WireResult>
  on(event: string, listener: (payload: unknown) => void): () => void
}
