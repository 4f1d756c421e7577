// The app behind the UI, serving the contract in api.ts: it composes the pieces in core/app/
// (sessions, settings, phase, views, activity, balances, handles, workloads) with the meshlet and
// the host's capacity, and decides what each action means for the meshlet. The Electron main
// process hosts one; so does the `meshlet run` daemon, whose browser bridge (ui-server.ts) serves
// the same contract. Transports validate arguments before calling in; every method here still
// checks what only the app knows (signed in? within this machine's capacity? a workload of
// ours?).
import { EventEmitter } from 'node:events'
import { mkdir } from 'node:fs/promises'
import { join } from 'node:path'
import {
  ApiError,
  type Account,
  type ActivityItem,
  type ApiEvents,
  type Args,
  type BalancesView,
  type Capacity,
  type DashboardState,
  type DesktopHost,
  type EventName,
  type MemberView,
  type MethodName,
  type Phase,
  type Result,
  type Role,
  type SystemPause,
  type WorkloadView,
} from './api.js'
import { RejectReason } from './identity/cluster.js'
import { IdentityResolver } from './identity/resolver.js'
import type { Account as LedgerAccount } from './fairshare/index.js'
import { BalanceHistory, balancesOf } from './app/balances.js'
import { HandleBook } from './app/handles.js'
import { chainOf, messageOf, resolveActor, Sessions, type Session } from './app/sessions.js'
import { detailOf, LendingHolds, phaseOf, type Problem } from './app/phase.js'
import { guestViews, memberViews, workloadViews } from './app/views.js'
import { HostMonitor, type HostSample } from './host.js'
import { NSID } from './lexicon/index.js'
import { errorFields, silentLogger, type Logger } from './log.js'
import { Meshlet } from './meshlet.js'
import {
  imagePolicyOf,
  patchImagePolicy,
  applySettingChange,
  settingChanges,
  type InitialSettings,
} from './app/settings.js'
import { freshSaved, SettingsFile, type Saved } from './app/settings-file.js'
import {
  GuestThrottle,
  HostLoadMeter,
  PolicyRunner,
  systemBattery,
  type PolicyHooks,
  type ThrottledGuest,
} from './policy/index.js'
import { PUBLIC_JETSTREAMS, type SourceConfig, type SourceKind } from './sync/source.js'
import { ReachabilityProbe, type Reachability } from './reachability.js'
import { RepoReader } from './repo/reader.js'
import { publishLinkage } from './repo/linkage.js'
import { ensureMachineAccount, machineAccountApiError } from './accounts/index.js'
import type { RepoWriter } from './repo/writer.js'
import type { OAuthRepoSession } from './repo/oauth.js'
import { missingScopes } from './repo/scopes.js'
import { Runtime } from './runtime/index.js'
import { DEFAULT_CONFIG, type SchedulingConfig } from './scheduling/index.js'
import type { SecretStore } from './secrets.js'
import {
  ActivityLog,
  describeEvent,
  shortUri,
  teeLog,
  type ActivityContext,
} from './app/activity.js'
import { ApiService } from './xrpc/service.js'
import { meshletHost } from './xrpc/meshlet-host.js'
import { workloadLogs } from './xrpc/owner-logs.js'
import { deleteWorkload, submitWorkload, updateWorkload, type OwnerSide } from './app/workloads.js'
import { SealingKeyring, sealedLogSource } from './sealing/index.js'
import { OwnerSecrets } from './app/secret-sharing.js'

export interface NetworkConfig {
  plcUrl: string
  handleResolverUrl: string
  /** Relay or PDS whose firehose to follow (the `relay` source). */
  firehose: string
  /** The source used unless the settings name one; default `relay` (the real network's
   *  configurations say `jetstream`). */
  source?: SourceKind
  /** Jetstream instances, tried in turn; default the public ones. */
  jetstream?: readonly string[]
  /** A local network (demo, tests): identity and OAuth may reach loopback services over http. */
  local?: boolean
}

export interface AppOptions {
  /** Settings, cursor and balance history live here. */
  dataDir: string
  network: NetworkConfig
  /** Sessions rest here (sealed with safeStorage in Electron). */
  secrets: SecretStore
  /** The released app's hosted OAuth client_id (set at build time); absent: the development
   *  loopback client. */
  oauthClientId?: string
  /** Run containers with the local Docker engine (default true). */
  docker?: boolean
  /** The shell can register the app to start at login (Electron). */
  canStartAtLogin?: boolean
  /** Sessions made up front (the daemon's app passwords), instead of signing in from the UI. */
  meshletWriter?: RepoWriter
  ownerWriter?: RepoWriter
  /** Where the owner's sealing key rests (default: `secrets`; the daemon shares the CLI's file). */
  ownerKeyStore?: SecretStore
  /** The owner this meshlet belongs to, when known without an owner session (the daemon). */
  ownerDid?: string
  /** Settings to use over the saved ones (the daemon's flags). */
  initial?: InitialSettings
  /** Where the lending policy's readings come from (the desktop's idle time), its clock. */
  policy?: PolicyHooks
  scheduling?: Partial<SchedulingConfig>
  log?: Logger
  /** The first start's failure is thrown from openApp instead of retried (the CLI daemon, which
   *  should exit with a clear message rather than wait). */
  failFast?: boolean
  /** Serve farm.meshlet.* here whatever the setting says (the daemon's --xrpc-port). */
  xrpc?: { port: number; hostname?: string; publicUrl?: string }
  /** How long to wait before trying again to start (Docker away, records unreadable); 10 s. */
  retryMs?: number
  /** How often the host's use is sampled while the state is watched (default 5 s), and the
   *  first delay between reachability probes after a failure (default 2 s); history: 60 s. */
  sampleMs?: number
  historyMs?: number
}

/** The smallest offer: one slider step. Docker refuses memory limits under 6 MiB. */
const MINIMUM: Capacity = { cpuMillis: 100, memoryMiB: 64, storageMiB: 0 }
const RETRY_MS = 10_000

/** Opens the app: reads settings, restores sessions, and starts the meshlet when it can. */
export async function openApp(opts: AppOptions): Promise<MeshletApp> {
  const app = new MeshletApp(opts)
  await app.open()
  return app
}

export class MeshletApp implements DesktopHost {
  private readonly events = new EventEmitter<{ [E in EventName]: [ApiEvents[E]] }>()
  private readonly log: Logger
  private readonly identity: IdentityResolver
  private readonly reader: RepoReader
  /** The owner's and this machine's sessions. */
  private readonly sessions: Sessions
  private saved: Saved
  private ownerDid?: string
  private linked = false
  private meshlet?: Meshlet
  private starting?: Promise<void>
  private problem?: Problem
  /** Who holds lending back: the user, the system, the rules. */
  private readonly holds: LendingHolds
  private readonly activity = new ActivityLog({ onChange: () => this.changed() })
  private readonly handles: HandleBook
  private host: HostSample = {
    host: { cpuMillis: 0, memoryMiB: 0, storageMiB: 0 },
    used: { cpuMillis: 0, memoryMiB: 0, storageMiB: 0 },
  }
  private readonly history: BalanceHistory
  private readonly hostMonitor: HostMonitor
  /** Samples the host while someone watches the state (the UI); nobody watching, no timer. */
  private sampleTimer?: NodeJS.Timeout
  private readonly reach: ReachabilityProbe
  private retryTimer?: NodeJS.Timeout
  private emitTimer?: NodeJS.Timeout
  private lastEmit = -Infinity
  /** Bumped whenever what the meshlet should be changes (sign-out, another account, close):
   *  a start or linkage check begun before that gives up when it finishes. */
  private generation = 0
  private stopping?: Promise<void>
  private closed = false
  private startedOnce = false
  private readonly settingsFile: SettingsFile
  private readonly config: SchedulingConfig
  private updateReady?: string
  /** The lending rules at work (core/policy): they pause lending or throttle guests. */
  private readonly policy: PolicyRunner
  private readonly throttle: GuestThrottle
  private readonly api: ApiService
  private readonly ownerSecrets: OwnerSecrets

  constructor(readonly opts: AppOptions) {
    this.log = opts.log ?? silentLogger
    this.config = { ...DEFAULT_CONFIG, ...opts.scheduling }
    const { network } = opts
    this.identity = new IdentityResolver({
      plcUrl: network.plcUrl,
      handleResolverUrl: network.handleResolverUrl,
      allowPrivateNetwork: network.local ?? false,
      cacheFile: join(opts.dataDir, 'identity-cache.json'),
    })
    this.reader = new RepoReader(this.identity)
    this.ownerSecrets = new OwnerSecrets({
      reader: this.reader,
      keysOf: (did) => this.ownerKeys(did),
      log: this.log,
      onError: (err) => this.fail('secrets', err),
    })
    this.sessions = new Sessions({
      secrets: opts.secrets,
      identity: this.identity,
      network,
      ...(opts.oauthClientId ? { oauthClientId: opts.oauthClientId } : {}),
      knownHandle: (did) => this.handles.known(did),
      onExpired: (did) => void this.expired(did),
      onError: (stage, err) => this.fail(stage, err),
      log: this.log,
    })
    this.handles = new HandleBook({
      resolve: (did) => this.identity.resolveDid(did),
      onChange: () => this.changed(),
    })
    this.hostMonitor = new HostMonitor(opts.dataDir)
    this.reach = new ReachabilityProbe({
      url: network.firehose,
      onChange: (state) => this.onReachability(state),
      ...(opts.sampleMs !== undefined ? { initialMs: opts.sampleMs } : {}),
    })
    this.saved = freshSaved()
    this.settingsFile = new SettingsFile(join(opts.dataDir, 'settings.json'))
    this.history = new BalanceHistory({
      file: join(opts.dataDir, 'balance-history.json'),
      sample: () => this.balancesNow(),
      ...(opts.historyMs !== undefined ? { everyMs: opts.historyMs } : {}),
      lostAfterMs: this.config.lostAfterMs,
      onChange: () => this.changed(),
      onError: (err) => this.fail('history', err),
    })
    this.throttle = new GuestThrottle({
      runtime: { updateCpu: (id, cpu) => this.requireRuntime().updateCpu(id, cpu) },
      onError: (err) => this.fail('throttle', err),
    })
    this.policy = this.createPolicy(opts.policy ?? {})
    this.holds = new LendingHolds({
      userLending: () => this.saved.settings.lending,
      pauseOnBattery: () => this.saved.settings.pauseOnBattery,
      policyPaused: () => this.policy.paused,
    })
    this.api = new ApiService({
      host: meshletHost({
        meshlet: () => this.meshlet,
        total: () => ({ ...this.host.host }),
        setLending: (lending) => this.call('lending.set', { lending }),
      }),
      identity: this.identity,
      localNetwork: network.local ?? false,
      // A router's forward granted, moved or lost: peers find the endpoint on our record.
      onEndpointChange: () => {
        if (this.sessions.machine && this.meshlet) {
          void this.api.publish(this.reader, this.sessions.machine.writer)
        }
      },
      log: this.log,
    })
  }

  /** Where farm.meshlet.* is served, when it is. */
  get xrpcUrl(): string | undefined {
    return this.api.url
  }

  /** The daemon's flags win; the app's setting serves on every interface, on a port the
   *  system picks (published in the meshlet's record, where callers look). */
  private apiWish() {
    const x = this.opts.xrpc
    if (x) return { port: x.port, hostname: x.hostname ?? '127.0.0.1', publicUrl: x.publicUrl }
    return this.saved.settings.serveApi ? { port: 0, hostname: '0.0.0.0' } : undefined
  }

  // --- lifecycle --------------------------------------------------------------------------------

  async open(): Promise<void> {
    await mkdir(this.opts.dataDir, { recursive: true })
    await this.identity.load()
    const { saved, notes, rewrite } = await this.settingsFile.read(this.opts.initial)
    for (const n of notes) {
      this.note(n.level, n.text)
      if (n.cause !== undefined) this.fail('settings', n.cause)
    }
    this.saved = saved
    if (rewrite) await this.save()
    await this.history.load()
    await this.sampleHost()
    this.ownerDid = this.opts.ownerDid ?? this.saved.owner?.did
    if (this.opts.ownerWriter) {
      this.sessions.owner = this.sessions.sessionOf(this.opts.ownerWriter, 'app-password')
      this.ownerDid = this.sessions.owner.account.did
    } else if (this.saved.owner) {
      this.sessions.owner = await this.restore(
        'owner',
        this.saved.owner.did,
        this.saved.owner.method,
      )
    }
    if (this.opts.meshletWriter) {
      this.sessions.machine = this.sessions.sessionOf(this.opts.meshletWriter, 'app-password')
      this.linked = true
    } else if (this.saved.meshlet) {
      this.sessions.machine = await this.restore(
        'meshlet',
        this.saved.meshlet.did,
        this.saved.meshlet.method,
      )
    }
    for (const a of [this.sessions.owner?.account, this.sessions.machine?.account])
      if (a) this.handles.handleOf(a.did)
    await this.save()
    this.history.start()
    // Before the meshlet starts, so it starts paused inside quiet hours.
    await this.policy.evaluate()
    try {
      await this.api.apply(this.apiWish())
      await this.startMeshlet()
    } catch (err) {
      await this.close({ drain: false })
      throw err
    }
  }

  async close(opts: { drain?: boolean } = {}): Promise<void> {
    if (this.closed) return
    this.closed = true
    clearInterval(this.sampleTimer)
    this.reach.close()
    this.history.stop()
    this.policy.close()
    clearTimeout(this.retryTimer)
    clearTimeout(this.emitTimer)
    try {
      this.history.record()
      // Guests drain by default: a laptop's app quitting should leave nothing of others running.
      await this.stopMeshlet(opts.drain ?? true)
      await this.stopping
      await this.api.close()
      await this.history.flushed()
      await this.identity.flush().catch((err: unknown) => this.fail('identity', err))
    } finally {
      await this.sessions[Symbol.asyncDispose]()
      this.events.removeAllListeners()
    }
  }

  setUpdateReady(version: string): void {
    if (this.updateReady === version) return
    this.updateReady = version
    this.note('info', `Version ${version} is ready; it installs when the app restarts`)
    this.changed()
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close()
  }

  // --- the contract -----------------------------------------------------------------------------

  subscribe<E extends EventName>(event: E, listener: (payload: ApiEvents[E]) => void): () => void {
    const l = listener as (p: ApiEvents[EventName]) => void
    this.events.on(event, l as never)
    if (event === 'state') this.watchHost()
    return () => {
      this.events.off(event, l as never)
      if (event === 'state') this.watchHost()
    }
  }

  async call<M extends MethodName>(method: M, args: Args<M>): Promise<Result<M>> {
    if (this.closed) throw new ApiError('unavailable', 'the app is closing')
    const handler = this.handlers[method] as (a: Args<M>) => Promise<Result<M>>
    return handler(args)
  }

  private readonly handlers: { [M in MethodName]: (args: Args<M>) => Promise<Result<M>> } = {
    'state.get': async () => this.snapshot(),
    'auth.signIn': async ({ role, handle }) => {
      const actor = handle.replace(/^@/, '')
      const { url, done } = await this.sessions.beginOAuth(role, actor)
      this.changed()
      void done.then(
        (session) =>
          this.signedIn(role, session).catch((err: unknown) => {
            this.note('warn', `Sign-in as ${actor} was not taken: ${messageOf(err)}`)
            this.fail('sign-in', err)
          }),
        (err: unknown) => {
          this.events.emit('signIn', { role, ok: false, error: messageOf(err) })
          this.note('warn', `Sign-in as ${actor} did not finish: ${messageOf(err)}`)
        },
      )
      return { url }
    },
    'auth.signInWithPassword': async ({ role, handle, password }) => {
      const session = await this.sessions.withPassword(role, handle.replace(/^@/, ''), password)
      await this.signedIn(role, session)
      return session.account
    },
    'auth.createMachineAccount': async (draft) => {
      const owner = this.sessions.requireOwner()
      const made = await ensureMachineAccount({
        store: this.opts.secrets,
        owner: owner.account.did,
        ...(owner.account.handle ? { ownerHandle: owner.account.handle } : {}),
        ...draft,
      }).catch((err: unknown) => {
        throw machineAccountApiError(err)
      })
      const { did, handle } = made.credentials
      this.note('info', `${made.created ? 'Made' : 'Found'} this machine’s account ${handle}`)
      const session = await this.sessions.machineLogin(did)
      if (!session) throw new ApiError('not-signed-in', `cannot sign in to ${handle}`)
      await this.signedIn('meshlet', session)
      await this.handlers['meshlet.link'](undefined)
      return session.account
    },
    'auth.cancelSignIn': async () => {
      await this.sessions.cancelOAuth()
      this.changed()
    },
    'auth.signOut': async ({ role }) => {
      const session = role === 'owner' ? this.sessions.owner : this.sessions.machine
      if (role === 'meshlet') {
        await this.stopMeshlet(true)
        this.sessions.machine = undefined
        this.linked = false
        this.saved.meshlet = undefined
      } else {
        this.sessions.owner = undefined
        this.saved.owner = undefined
        // The daemon's owner is fixed by its flags; the desktop app's goes with the sign-out,
        // and so does lending for them.
        if (!this.opts.ownerDid) {
          this.ownerDid = undefined
          await this.stopMeshlet(true)
          this.linked = false
        }
      }
      if (session) await this.sessions.forget(session)
      await this.save()
      this.note('info', `Signed out ${role === 'owner' ? 'of your account' : 'this machine'}`)
      this.changed()
    },
    'meshlet.link': async () => {
      const owner = this.sessions.requireOwner()
      if (!this.sessions.machine)
        throw new ApiError('not-signed-in', 'sign in this machine’s account first')
      const meshletDid = this.sessions.machine.account.did
      if (meshletDid === owner.account.did) {
        throw new ApiError('conflict', 'a meshlet needs its own account, not its owner’s')
      }
      await publishLinkage(owner.writer, this.sessions.machine.writer)
      this.linked = true
      this.note('info', `Linked this machine (${this.label(meshletDid)}) to your account`)
      await this.startMeshlet()
    },
    'lending.set': async ({ lending }) => {
      this.saved.settings.lending = lending
      await this.applyPause()
      await this.save()
      this.note('info', lending ? 'Lending compute' : 'Paused lending; guests are draining')
    },
    'capacity.set': async (offer) => {
      const { host } = this.host
      for (const [key, name] of [
        ['cpuMillis', 'CPU'],
        ['memoryMiB', 'memory'],
        ['storageMiB', 'storage'],
      ] as const) {
        if (host[key] > 0 && offer[key] > host[key]) {
          throw new ApiError('invalid-args', `${name} offer is more than this machine has`)
        }
        if (offer[key] < MINIMUM[key]) {
          throw new ApiError('invalid-args', `${name} offer must be at least ${MINIMUM[key]}`)
        }
      }
      this.saved.settings.offer = { ...offer }
      await this.save()
      await this.meshlet?.setOffer(offer)
      this.changed()
    },
    'settings.set': async (patch) => {
      if (patch.startAtLogin !== undefined && !this.opts.canStartAtLogin) {
        throw new ApiError('unavailable', 'starting at login is set by the desktop app only')
      }
      const source = this.sourceKind()
      const { rules, minBalance, allowRegistries, maxImageMiB, ...flags } = patch
      Object.assign(this.saved.settings, flags)
      if (patchImagePolicy(this.saved.settings, { allowRegistries, maxImageMiB })) {
        await this.meshlet?.setImagePolicy(imagePolicyOf(this.saved.settings))
      }
      if (rules) this.saved.settings.rules = { ...this.saved.settings.rules, ...rules }
      if (minBalance !== undefined) {
        if (minBalance === null) delete this.saved.settings.minBalance
        else this.saved.settings.minBalance = minBalance
        await this.meshlet?.setMinBalance(minBalance ?? undefined)
      }
      if (patch.source !== undefined && patch.source !== source) {
        // Another source is another subscription: the meshlet starts again on it (guests stay;
        // the new start adopts them).
        await this.save()
        this.note('info', `Reading records from ${patch.source} now`)
        await this.stopMeshlet(false)
        void this.startMeshlet().catch((err: unknown) => this.fail('start', err))
      }
      if (patch.allowEgress !== undefined) await this.meshlet?.setAllowEgress(patch.allowEgress)
      if (patch.pauseOnBattery === false) this.holds.batteryRuleOff()
      if (patch.serveApi !== undefined) {
        await this.api.apply(this.apiWish())
        if (this.sessions.machine && this.meshlet)
          void this.api.publish(this.reader, this.sessions.machine.writer)
      }
      await this.applyPause()
      await this.save()
      if (rules || patch.pauseOnBattery !== undefined) await this.policy.evaluate()
    },
    'members.add': async ({ handle }) => {
      const actor = handle.replace(/^@/, '')
      const did = await resolveActor(this.identity, actor)
      // The handle just resolved to this DID: shown at once, not after a DID-document lookup.
      if (!actor.startsWith('did:')) this.handles.learn(did, actor)
      if (did === this.ownerDid) throw new ApiError('conflict', 'that is you')
      if (this.saved.settings.members.includes(did)) {
        throw new ApiError('conflict', `${this.label(did)} is a member already`)
      }
      this.saved.settings.members = [...this.saved.settings.members, did]
      await this.save()
      await this.meshlet?.setMembers(this.saved.settings.members)
      this.note('info', `Added ${this.label(did)} to your commune`)
      this.changed()
      return this.memberViews().find((m) => m.did === did)!
    },
    'members.remove': async ({ did }) => {
      if (!this.saved.settings.members.includes(did)) {
        throw new ApiError('not-found', `${did} is not a member`)
      }
      this.saved.settings.members = this.saved.settings.members.filter((m) => m !== did)
      await this.save()
      await this.meshlet?.setMembers(this.saved.settings.members)
      this.note('info', `Removed ${this.label(did)} from your commune`)
      this.changed()
    },
    'guests.stop': async ({ containerId }) => {
      const found = this.meshlet?.replicas.find((r) => r.containerId.startsWith(containerId))
      if (!this.meshlet || !found || !(await this.meshlet.stopGuest(found.containerId))) {
        throw new ApiError('not-found', 'no such guest workload runs here')
      }
      this.changed()
    },
    'workloads.submit': async (draft) => {
      const owner = this.sessions.requireOwner()
      const written = await submitWorkload(this.ownerSide(owner), draft, {
        bidWindowMs: this.config.defaultBidWindowMs,
        now: new Date(),
      })
      this.note('info', `Submitted ${draft.image} (${draft.replicas} × ${cores(draft.cpuMillis)})`)
      return written
    },
    'workloads.update': async ({ uri, draft }) => {
      const owner = this.sessions.requireOwner()
      const written = await updateWorkload(this.ownerSide(owner), uri, draft, new Date())
      this.note('info', `Published a new version of ${draft.image} (${shortUri(uri)})`)
      return { uri: written.uri }
    },
    'workloads.logs': async ({ uri, meshlet }) => {
      const owner = this.sessions.requireOwner()
      return workloadLogs({
        owner: owner.writer,
        reader: this.reader,
        uri,
        // A host that cannot be reached live: the result it sealed to us when the replica ended.
        fallbacks: [
          sealedLogSource({
            reader: this.reader,
            caller: owner.account.did,
            keys: this.ownerKeys(owner.account.did),
          }),
        ],
        hosts: meshlet
          ? [meshlet]
          : (this.workloadViews()
              .find((w) => w.uri === uri)
              ?.placements.map((p) => p.meshlet) ?? []),
      })
    },
    'workloads.delete': async ({ uri }) => {
      const { rkey, warning } = await deleteWorkload(
        this.ownerSide(this.sessions.requireOwner()),
        uri,
        new Date(),
      )
      this.note('info', `Deleted workload ${rkey}`)
      if (warning) this.note('warn', `Old deleted workloads stay a while longer: ${warning}`)
    },
  }

  async setSystemPause(reason: SystemPause, paused: boolean): Promise<void> {
    if (this.holds.setSystemPause(reason, paused)) await this.applyPause()
  }

  // --- sessions ---------------------------------------------------------------------------------

  /** Restores a kept session; one the network keeps away is tried again later. */
  private async restore(
    role: Role,
    did: string,
    method: Account['method'],
  ): Promise<Session | undefined> {
    const restored = await this.sessions.restore(did, method)
    if (restored.kind === 'restored') {
      // A session granted before this version needed a new record type (an update added
      // settlements and challenges) would fail each such write: ask for a new sign-in instead.
      const granted =
        restored.session.account.method === 'oauth'
          ? (restored.session.writer as OAuthRepoSession).scope
          : undefined
      const missing = granted === undefined ? [] : missingScopes(granted, role)
      if (missing.length === 0) return restored.session
      const whose = role === 'owner' ? 'Your' : 'This machine’s'
      this.note(
        'warn',
        `${whose} sign-in predates what this version writes (${missing.join(', ')}); sign in again to allow it`,
      )
      return undefined
    }
    if (restored.kind === 'none') return undefined
    const err = restored.error
    const whose = role === 'owner' ? 'Your' : 'This machine’s'
    if (restored.kind === 'later') {
      if (!this.sessions.restoreLater.has(role)) {
        this.note('warn', `${whose} session could not be restored yet: ${messageOf(err)}`)
      }
      this.sessions.restoreLater.add(role)
      this.setProblem(
        'offline',
        `cannot restore ${whose.toLowerCase()} session yet: ${messageOf(err)}`,
      )
      this.retryLater()
    } else {
      this.note('warn', `${whose} session ended; sign in again`)
    }
    this.fail('restore', err)
    return undefined
  }

  /** A session ended without us (expired, revoked from the account's settings): the account
   *  signs in again; a machine stops lending until it does. */
  private async expired(did: string): Promise<void> {
    const role = this.sessions.roleOf(did)
    if (!role) return
    this.note('warn', `The session of ${this.label(did)} ended; sign in again`)
    if (role === 'meshlet') {
      // Guests stop here: without a session no heartbeat goes out, peers would run them again.
      await this.stopMeshlet(true).catch((err: unknown) => this.fail('stop', err))
      this.sessions.machine = undefined
    } else {
      this.sessions.owner = undefined
    }
    this.changed()
  }

  private async signedIn(role: Role, session: Session): Promise<void> {
    const did = session.account.did
    if (this.sessions.pending?.role === role) this.sessions.pending = undefined
    try {
      this.sessions.checkDistinct(role, did)
    } catch (err) {
      // Signed in elsewhere meanwhile (the browser sign-in took a while): not taken.
      this.events.emit('signIn', { role, ok: false, error: messageOf(err) })
      this.changed()
      throw err
    }
    const previous = role === 'owner' ? this.sessions.owner : this.sessions.machine
    if (role === 'owner') {
      if (this.opts.ownerDid && did !== this.opts.ownerDid) {
        await this.sessions.forget(session)
        const error = `this machine belongs to ${this.label(this.opts.ownerDid)}; sign in as them`
        this.events.emit('signIn', { role, ok: false, error })
        throw new ApiError('conflict', error)
      }
      if (this.ownerDid && this.ownerDid !== did) {
        // Another owner: this machine lends for them only once linked to them.
        await this.stopMeshlet(true)
        this.linked = false
      }
      this.sessions.owner = session
      this.ownerDid = did
      this.saved.owner = { did, method: session.account.method }
    } else {
      // Another machine account: the old one's guests carry its label and would be orphaned.
      await this.stopMeshlet(
        this.sessions.machine !== undefined && this.sessions.machine.account.did !== did,
      )
      this.sessions.machine = session
      this.linked = false
      this.saved.meshlet = { did, method: session.account.method }
    }
    if (previous && previous.account.did !== did) await this.sessions.forget(previous)
    await this.save()
    this.handles.handleOf(did)
    this.note('info', `Signed in as ${this.label(did)}`)
    this.events.emit('signIn', { role, ok: true })
    this.changed()
    await this.startMeshlet()
  }

  private ownerSide(owner: Session): OwnerSide {
    return { reader: this.reader, writer: owner.writer, keys: this.ownerKeys(owner.account.did) }
  }

  // --- the meshlet ------------------------------------------------------------------------------

  /** Starts the meshlet once it can: this machine signed in and linked to a known owner. */
  private startMeshlet(): Promise<void> {
    if (this.starting) return this.starting
    this.starting = this.tryStart().finally(() => {
      this.starting = undefined
      this.changed()
    })
    this.changed()
    return this.starting
  }

  private async tryStart(): Promise<void> {
    clearTimeout(this.retryTimer)
    for (const role of [...this.sessions.restoreLater]) {
      const saved = role === 'owner' ? this.saved.owner : this.saved.meshlet
      if (!saved || (role === 'owner' ? this.sessions.owner : this.sessions.machine)) {
        this.sessions.restoreLater.delete(role)
        continue
      }
      const session = await this.restore(role, saved.did, saved.method)
      if (!session) continue
      this.sessions.restoreLater.delete(role)
      if (this.sessions.restoreLater.size === 0 && this.problem?.phase === 'offline')
        this.setProblem(undefined)
      if (role === 'owner') this.sessions.owner = session
      else this.sessions.machine = session
      this.note('info', `Signed in again as ${this.label(saved.did)}`)
    }
    if (this.closed || this.meshlet || !this.sessions.machine || !this.ownerDid) return
    const meshletDid = this.sessions.machine.account.did
    const owner = this.ownerDid
    const gen = this.generation
    // The daemon starts at once, linked or not: the meshlet follows its own records and forms
    // the cluster when the linkage appears (the UI says why meanwhile). The desktop app first
    // checks, so that an unlinked machine asks to be linked instead of publishing records.
    if (!this.linked && !this.opts.meshletWriter) {
      try {
        const linked = await this.isLinked(owner, meshletDid)
        if (gen !== this.generation) return
        this.linked = this.linked || linked
      } catch (err) {
        if (gen !== this.generation) return
        this.setProblem('offline', `cannot read your records: ${messageOf(err)}`)
        this.retryLater()
        return
      }
      if (!this.linked) {
        // Linking may happen elsewhere (another machine, the CLI): look again now and then.
        this.retryLater()
        return
      }
    }
    const settings = this.saved.settings
    const runtime =
      this.opts.docker === false
        ? undefined
        : new Runtime({
            meshletDid,
            allowEgress: settings.allowEgress,
            onError: (err) => this.fail('docker', err),
          })
    const meshlet = new Meshlet({
      did: meshletDid,
      owner,
      members: settings.members,
      identity: this.identity,
      writer: this.sessions.machine.writer,
      firehose: this.opts.network.firehose,
      source: this.sourceConfig(),
      dataDir: join(this.opts.dataDir, 'meshlet'),
      offer: settings.offer,
      allowEgress: settings.allowEgress,
      ...(settings.minBalance !== undefined ? { minBalance: settings.minBalance } : {}),
      ...imagePolicyOf(settings),
      runtime,
      paused: !this.effectiveLending(),
      config: this.config,
      // The meshlet's log, also read for the activity list: the same events, said for people.
      log: teeLog(this.log, this.activity, (event, fields) =>
        describeEvent(event, fields, this.activityContext()),
      ),
      // The machine's sealing key rests with the sessions: the keychain here, 0600 for the daemon.
      keyStore: this.opts.secrets,
    })
    meshlet.on('error', (err) => this.onMeshletError(err))
    // Docker gone while running: not lending, and the phase says why until it is back.
    meshlet.on('docker', (change) => {
      if (!change.available) this.setProblem('error', meshlet.dockerProblem)
      else if (this.problem?.detail.startsWith('Docker')) this.setProblem(undefined)
    })
    for (const e of ['cluster', 'record', 'action', 'replica', 'budget'] as const) {
      meshlet.on(e, () => this.changed())
    }
    // A guest started while throttled is throttled too.
    meshlet.on('replica', () => void this.applyCpuShare())
    meshlet.on('record', (e) => {
      if (e.event === 'outdated') {
        this.note(
          'warn',
          `Away longer than the ${e.source} keeps events: your commune's records were read again from their repos.`,
        )
      }
      if (this.problem?.phase === 'offline') this.setProblem(undefined)
      if (e.event === 'put' && e.collection === NSID.workloadStatus) {
        this.shareSecrets(meshlet, e.did, e.record as never)
        // Usage moved balances: the chart gets a point now, not at the next minute's sample.
        this.history.soon()
      }
    })
    try {
      await meshlet.start()
    } catch (err) {
      if (gen !== this.generation) return
      if (this.opts.failFast && !this.startedOnce) throw err
      const docker = /docker|ECONNREFUSED|ENOENT|socket/i.test(chainOf(err))
      this.setProblem(
        docker ? 'error' : 'offline',
        docker
          ? `Docker is not reachable: ${messageOf(err)}. Start Docker; retrying.`
          : `cannot start: ${messageOf(err)}`,
      )
      this.retryLater()
      return
    }
    if (gen !== this.generation || this.closed) {
      // Signed out, another account, or closing while it started: this one is not wanted.
      await meshlet.stop()
      return
    }
    this.meshlet = meshlet
    // Winners that waited for our secrets while this side was away are served now.
    for (const s of meshlet.store.allStatuses()) this.shareSecrets(meshlet, s.meshlet, s.record)
    this.startedOnce = true
    void this.api.publish(this.reader, this.sessions.machine.writer)
    this.setProblem(undefined)
    // Settings changed while it started (the user paused, moved a slider, the lid closed) were
    // kept but had no meshlet to reach: apply what differs now.
    for (const change of settingChanges(this.saved.settings, meshlet.settings)) {
      await applySettingChange(meshlet, change)
    }
    await this.applyPause()
    // Guests a previous run left throttled are restored (or kept throttled) now.
    await this.applyCpuShare()
    this.history.record()
  }

  /** Owner's side of secrets (core/app/secret-sharing.ts). */
  private shareSecrets(
    meshlet: Meshlet,
    from: string,
    status: Parameters<OwnerSecrets['onStatus']>[3],
  ): void {
    const owner = this.sessions.owner
    this.ownerSecrets.onStatus(
      owner ? { did: owner.account.did, writer: owner.writer } : undefined,
      meshlet.store.linkage,
      from,
      status,
    )
  }

  private ownerKeys(did: string): SealingKeyring {
    return new SealingKeyring(this.opts.ownerKeyStore ?? this.opts.secrets, did)
  }

  private retryLater(): void {
    if (this.closed) return
    clearTimeout(this.retryTimer)
    this.retryTimer = setTimeout(() => void this.startMeshlet(), this.opts.retryMs ?? RETRY_MS)
  }

  private async isLinked(owner: string, meshlet: string): Promise<boolean> {
    const [a, b] = await Promise.all([
      this.reader.get(owner, NSID.meshlet, meshlet),
      this.reader.get(meshlet, NSID.meshletOwner, 'self'),
    ])
    return a !== undefined && (b?.value as { owner?: unknown } | undefined)?.owner === owner
  }

  private sourceKind(): SourceKind {
    return this.saved.settings.source ?? this.opts.network.source ?? 'relay'
  }

  private sourceConfig(): SourceConfig {
    const kind = this.sourceKind()
    if (kind === 'jetstream') {
      return { kind, urls: this.opts.network.jetstream ?? PUBLIC_JETSTREAMS }
    }
    return kind === 'pds' ? { kind } : { kind, url: this.opts.network.firehose }
  }

  private async stopMeshlet(drain: boolean): Promise<void> {
    this.generation++
    clearTimeout(this.retryTimer)
    await this.starting?.catch(() => undefined)
    const m = this.meshlet
    this.meshlet = undefined
    if (!m) return this.stopping
    const stopping = m.stop({ stopReplicas: drain })
    this.stopping = stopping.catch((err: unknown) => this.fail('stop', err))
    await stopping
  }

  private effectiveLending(): boolean {
    return this.holds.lending
  }

  // --- the lending policy (core/policy): hook-ins -----------------------------------------------

  private createPolicy(hooks: PolicyHooks): PolicyRunner {
    // The machine's load and cores from the host monitor: no programs started to read them.
    const meter = new HostLoadMeter({
      guestCpuMs: () => this.guestCpuMs(),
      cores: () => Promise.resolve(this.hostMonitor.facts.cpus),
      hostLoadPercent: async () => {
        const { host, used } = await this.hostMonitor.sample()
        return (used.cpuMillis / host.cpuMillis) * 100
      },
    })
    return new PolicyRunner({
      rules: () => ({
        ...this.saved.settings.rules,
        pauseOnBattery: this.saved.settings.pauseOnBattery,
      }),
      source: {
        battery: systemBattery,
        hostLoadPercent: () => meter.read(),
        ...hooks.source,
      },
      enforce: {
        setPaused: () => this.applyPause(),
        setCpuShare: (share) => this.applyCpuShare(share),
      },
      onTransition: (t) => {
        // The daemon's log says it too: a headless lender reads that, not the activity list.
        this.log.log('info', 'policy', { action: t.to, reason: t.reason, text: t.text })
        this.note('info', t.text)
      },
      onChange: () => this.changed(),
      onError: (err) => this.fail('policy', err),
      ...(hooks.now ? { now: hooks.now } : {}),
      ...(hooks.timeZone ? { timeZone: hooks.timeZone } : {}),
      ...(hooks.hysteresis ? { hysteresis: hooks.hysteresis } : {}),
      ...(hooks.fastMs ? { fastMs: hooks.fastMs } : {}),
      ...(hooks.slowMs ? { slowMs: hooks.slowMs } : {}),
    })
  }

  private requireRuntime(): Runtime {
    const runtime = this.meshlet?.opts.runtime
    if (!runtime) throw new ApiError('unavailable', 'no container runtime')
    return runtime
  }

  /** Running guests with what their workloads asked for, for the throttle. */
  private throttledGuests(): ThrottledGuest[] {
    const m = this.meshlet
    if (!m?.opts.runtime) return []
    return m.replicas.flatMap((r) => {
      const asked = m.store.workloads.get(r.workloadUri)?.record.resources.cpuMillis
      if (r.state !== 'running' || asked === undefined) return []
      return [
        {
          containerId: r.containerId,
          askedMillis: asked,
          ...(r.cpuMillis !== undefined ? { currentMillis: r.cpuMillis } : {}),
        },
      ]
    })
  }

  private applyCpuShare(share = this.policy.cpuShare): Promise<void> {
    return this.throttle.apply(share, this.throttledGuests())
  }

  /** Guests' CPU time so far (Docker stats), for the host's own load without them. */
  private async guestCpuMs(): Promise<Map<string, number>> {
    const out = new Map<string, number>()
    const runtime = this.meshlet?.opts.runtime
    if (!runtime) return out
    for (const r of this.meshlet!.replicas) {
      if (r.state !== 'running') continue
      const usage = await runtime.usage(r.containerId).catch(() => undefined)
      if (usage) out.set(r.containerId, usage.cpuMilliSeconds)
    }
    return out
  }

  private async applyPause(): Promise<void> {
    const m = this.meshlet
    if (m) {
      if (this.effectiveLending() && m.isPaused) await m.resume()
      else if (!this.effectiveLending() && !m.isPaused) await m.pause()
    }
    this.changed()
  }

  private onMeshletError(err: Error): void {
    if (/SyncError|IdentityError|fetch failed|ECONNREFUSED/.test(chainOf(err))) {
      // Whether this is the network going away is for the service itself to say: the probe
      // sets offline, with the host it could not reach, or clears it.
      this.reach.suspect()
    }
    this.changed()
  }

  private setProblem(phase: 'error' | 'offline' | undefined, detail = ''): void {
    const next = phase ? { phase, detail } : undefined
    if (JSON.stringify(next) === JSON.stringify(this.problem)) return
    this.problem = next
    if (next) this.note(phase === 'error' ? 'error' : 'warn', detail)
    this.changed()
  }

  // --- what the UI shows ------------------------------------------------------------------------

  snapshot(): DashboardState {
    const settings = this.saved.settings
    const state: DashboardState = {
      phase: this.phase(),
      settings: {
        ...settings,
        offer: { ...settings.offer },
        members: [...settings.members],
        rules: structuredClone(settings.rules),
        source: this.sourceKind(),
      },
      capacity: {
        host: { ...this.host.host },
        used: { ...this.host.used },
        offer: { ...settings.offer },
        committed: this.committed(),
        minimum: { ...MINIMUM },
      },
      members: this.memberViews(),
      balances: this.balances(),
      guests: guestViews(this.meshlet, this.handles),
      workloads: this.workloadViews(),
      activity: this.activity.list(),
      policy: {
        ...this.policy.decision,
        idleReadable: this.opts.policy?.source?.idleSeconds !== undefined,
      },
      canStartAtLogin: this.opts.canStartAtLogin ?? false,
      ...(this.updateReady ? { update: { version: this.updateReady } } : {}),
    }
    const detail = this.detail(state.phase)
    if (detail) state.detail = detail
    if (this.sessions.owner)
      state.owner = {
        ...this.sessions.owner.account,
        ...this.named(this.sessions.owner.account.did),
      }
    if (this.sessions.machine) {
      state.meshlet = {
        ...this.sessions.machine.account,
        ...this.named(this.sessions.machine.account.did),
      }
    }
    if (this.ownerDid) state.ownerDid = this.ownerDid
    if (this.sessions.pending) state.pendingSignIn = { ...this.sessions.pending }
    const budget = this.meshlet?.writeBudget
    if (budget?.rateLimitedUntil !== undefined) {
      state.rateLimitedUntil = new Date(budget.rateLimitedUntil).toISOString()
    }
    if (budget?.unreachableSince !== undefined) {
      state.pdsUnreachableSince = new Date(budget.unreachableSince).toISOString()
    }
    const liveness = this.meshlet?.livenessMode()
    if (liveness) {
      const endpoint = this.api.endpoint
      state.liveness = { ...liveness, ...(endpoint ? { endpoint } : {}) }
    }
    return state
  }

  private phase(): Phase {
    return phaseOf({
      restoring: this.sessions.restoreLater.size > 0,
      problem: this.problem,
      owner: this.sessions.owner !== undefined,
      machine: this.sessions.machine !== undefined,
      ownerKnown: this.ownerDid !== undefined,
      linked: this.linked,
      starting: this.starting !== undefined,
      running: this.meshlet !== undefined,
      selfUnlinked:
        this.meshlet?.clusterReport.rejected.some((r) => r.reason === RejectReason.selfUnlinked) ??
        false,
      lending: this.effectiveLending(),
    })
  }

  private detail(phase: Phase): string | undefined {
    return detailOf(phase, {
      problem: this.problem,
      machine: this.sessions.machine !== undefined,
      userLending: this.saved.settings.lending,
      systemPauses: this.holds.systemPauses,
      policy: this.policy.decision,
    })
  }

  private committed(): Capacity {
    const c = this.meshlet?.committed()
    return {
      cpuMillis: c?.cpuMillis ?? 0,
      memoryMiB: c?.memoryMiB ?? 0,
      storageMiB: c?.storageMiB ?? 0,
    }
  }

  private memberViews(): MemberView[] {
    return memberViews({
      report: this.meshlet?.clusterReport,
      ownerDid: this.ownerDid,
      members: this.saved.settings.members,
      names: this.handles,
    })
  }

  private workloadViews(): WorkloadView[] {
    return workloadViews({
      meshlet: this.meshlet,
      ownerDid: this.ownerDid,
      config: this.config,
      names: this.handles,
      now: Date.now(),
    })
  }

  private balances(): BalancesView {
    const m = this.meshlet
    const dids = new Set([
      ...(this.ownerDid ? [this.ownerDid] : []),
      ...this.saved.settings.members,
    ])
    const split = m ? m.accountsAt() : new Map<string, LedgerAccount>()
    for (const did of split.keys()) dids.add(did)
    // The chart ends where the table stands: balances that moved since the last sample are one.
    if (m) this.history.record(balancesOf(dids, split), true)
    return {
      members: [...dids].map((did) => {
        const a = split.get(did) ?? { contributed: 0, consumed: 0, balance: 0 }
        return { did, ...this.named(did), ...a }
      }),
      history: this.history.view(),
      halfLifeMs: 7 * 24 * 3_600_000,
    }
  }

  /** Each owner's balance now, for the chart; undefined while no meshlet runs. */
  private balancesNow(): Record<string, number> | undefined {
    const m = this.meshlet
    if (!m) return undefined
    const owners = [...(this.ownerDid ? [this.ownerDid] : []), ...this.saved.settings.members]
    return balancesOf(owners, m.accountsAt())
  }

  // --- activity, names, samples -------------------------------------------------------------------

  private activityContext(): ActivityContext {
    return {
      workload: (uri) => {
        const w = this.meshlet?.store.workloads.get(uri)
        return w && { owner: w.owner, image: w.record.image }
      },
      ownerDid: this.ownerDid,
      label: (did) => this.label(did),
    }
  }

  private note(level: ActivityItem['level'], text: string): void {
    this.activity.note(level, text)
  }

  private named(did: string): { handle?: string } {
    return this.handles.named(did)
  }

  private label(did: string): string {
    return this.handles.label(did)
  }

  private async sampleHost(): Promise<void> {
    try {
      this.host = await this.hostMonitor.sample()
      this.changed()
    } catch (err) {
      this.fail('host', err)
    }
  }

  /** The host's use is shown only while someone watches the state: sample it then, and stop
   *  when the last watcher goes. */
  private watchHost(): void {
    const watched = !this.closed && this.events.listenerCount('state') > 0
    if (watched && !this.sampleTimer) {
      this.sampleTimer = setInterval(() => void this.sampleHost(), this.opts.sampleMs ?? 5000)
    } else if (!watched && this.sampleTimer) {
      clearInterval(this.sampleTimer)
      this.sampleTimer = undefined
    }
  }

  /** The event stream reconnects quietly when its service goes away, so once something failed,
   *  ask the service itself: offline while it does not answer, back as soon as it does. */
  private onReachability(state: Reachability): void {
    if (state.reachable) {
      if (this.problem?.phase === 'offline') this.setProblem(undefined)
    } else if (this.meshlet) {
      this.setProblem('offline', `cannot reach ${this.reach.host}: ${state.detail}; retrying`)
    }
  }

  private fail(stage: string, err: unknown): void {
    const e = err instanceof Error ? err : new Error(String(err))
    this.log.log('error', 'app.error', { stage, error: errorFields(e) })
  }

  /** State changed: push it at once (after the current burst of synchronous changes), then at
   *  most every 150 ms while changes keep coming, so a flood of records makes few pushes but a
   *  single change shows without delay. */
  private changed(): void {
    if (this.emitTimer || this.closed || this.events.listenerCount('state') === 0) return
    const wait = Math.max(0, this.lastEmit + 150 - performance.now())
    this.emitTimer = setTimeout(() => {
      this.emitTimer = undefined
      this.lastEmit = performance.now()
      if (!this.closed) this.events.emit('state', this.snapshot())
    }, wait)
  }

  private async save(): Promise<void> {
    await this.settingsFile.save(this.saved)
  }
}

function cores(cpuMillis: number): string {
  return `${(cpuMillis / 1000).toFixed(cpuMillis % 1000 === 0 ? 0 : 1)} CPU`
}

export type { OAuthRepoSession }
