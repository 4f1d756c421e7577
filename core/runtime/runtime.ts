// The executor: applies decisions to the Docker engine. It runs guests hardened by
// containerConfig, finds them again by label after a restart, samples their usage, stops them,
// and follows the engine's events. It decides nothing; the scheduler does.
import { Readable, Writable } from 'node:stream'
import { arch as osArch } from 'node:os'
import { setTimeout as sleep } from 'node:timers/promises'
import Docker from 'dockerode'
import {
  DEFAULT_PIDS_LIMIT,
  EGRESS_NETWORK,
  LABEL_CID,
  LABEL_MESHLET,
  LABEL_ROUND,
  LABEL_WORKLOAD,
  MIN_CPU_MILLIS,
  checkConfigOptions,
  checkImage,
  checkSpec,
  containerConfig,
  replicaName,
  type ContainerConfigOptions,
  type ReplicaSpec,
} from './container-config.js'
import {
  EventHandlerError,
  ForeignContainerError,
  ImageDigestMismatchError,
  ImagePullError,
  InvalidSpecError,
  PolicyError,
  ReplicaConflictError,
  ReplicaNotFoundError,
  ReplicaStartError,
  RuntimeOperationError,
  RuntimeUnavailableError,
  dockerMessage,
  isConnectionError,
  statusOf,
  wrapDockerError,
} from './errors.js'
import { parseImageRef, type ImageRef } from './image-ref.js'
import { MAX_LOG_LINES, tailLines, type LogFrame, type LogTail } from './logs.js'
import { imageDownloadBytes, RegistryLookupError } from './registry.js'

export interface RuntimeOptions {
  meshletDid: string
  /** Default: `new Docker()`, which reads DOCKER_HOST or uses /var/run/docker.sock. */
  docker?: Docker
  /** The lender's setting; when false (the default) workloads asking for egress are refused. */
  allowEgress?: boolean
  /** When set, images from other registries are refused (implicit Docker Hub names are 'docker.io'). */
  registryAllowList?: string[]
  /** The largest image download (MiB, compressed, as its registry's manifest states) this
   *  meshlet pulls; absent: no limit. Images already on this machine are not downloaded. */
  maxImageMiB?: number
  /** Answers the registry questions (image size); default: global fetch. For tests. */
  fetch?: typeof fetch
  /** Default 256. */
  pidsLimit?: number
  /** Failures of background work (the event watch); default: a process warning. */
  onError?: (err: Error) => void
}

export type ReplicaState =
  'created' | 'running' | 'exited' | 'dead' | 'paused' | 'restarting' | 'removing'

export interface ManagedReplica {
  containerId: string
  workloadUri: string
  cid: string
  round: number
  meshletDid: string
  state: ReplicaState
  exitCode?: number
  oomKilled?: boolean
  startedAt?: string
  finishedAt?: string
  image: string
  /** The CPU limit the container has now (NanoCpus), in millicores; lowered while throttled. */
  cpuMillis?: number
}

/** Integers, as every number in an atproto record must be. */
export interface ReplicaUsage {
  /** CPU time used, in ms (= millicore-seconds). */
  cpuMilliSeconds: number
  memoryPeakMiB: number
  /** Working set now (0 once the container has stopped). */
  memoryMiB: number
  wallMs: number
}

export type ReplicaAction = 'start' | 'die' | 'oom' | 'destroy'

export interface ReplicaEvent {
  containerId: string
  workloadUri: string
  cid: string
  round: number
  action: ReplicaAction
  /** On 'die'. */
  exitCode?: number
}

const MiB = 1024 * 1024
const replicaStates = new Set<string>([
  'created',
  'running',
  'exited',
  'dead',
  'paused',
  'restarting',
  'removing',
])
const watchedActions = new Set<string>(['start', 'die', 'oom', 'destroy'])
const RECONNECT_MIN_MS = 200
const RECONNECT_MAX_MS = 5000
const HEALTHY_CONNECTION_MS = 10_000

function defaultOnError(err: Error): void {
  process.emitWarning(err)
}

/** Docker's zero time means "never". */
function dockerTime(t: string | undefined): string | undefined {
  if (!t || t.startsWith('0001-01-01')) return undefined
  return t
}

/** The replica a container is, if it carries this meshlet's labels; else undefined. */
function toReplica(
  info: Docker.ContainerInspectInfo,
  meshletDid: string,
): ManagedReplica | undefined {
  const labels = info.Config?.Labels ?? {}
  if (labels[LABEL_MESHLET] !== meshletDid) return undefined
  const workloadUri = labels[LABEL_WORKLOAD]
  const cid = labels[LABEL_CID]
  const round = Number(labels[LABEL_ROUND])
  if (!workloadUri || !cid || !Number.isSafeInteger(round)) return undefined
  const status = info.State.Status
  const state = (replicaStates.has(status) ? status : 'dead') as ReplicaState
  const replica: ManagedReplica = {
    containerId: info.Id,
    workloadUri,
    cid,
    round,
    meshletDid,
    state,
    oomKilled: info.State.OOMKilled,
    image: info.Config.Image,
  }
  if (state === 'exited' || state === 'dead') replica.exitCode = info.State.ExitCode
  const startedAt = dockerTime(info.State.StartedAt)
  if (startedAt) replica.startedAt = startedAt
  const finishedAt = dockerTime(info.State.FinishedAt)
  if (finishedAt && !info.State.Running) replica.finishedAt = finishedAt
  const nanoCpus = info.HostConfig?.NanoCpus
  if (nanoCpus) replica.cpuMillis = Math.round(nanoCpus / 1e6)
  return replica
}

function compareReplicas(a: ManagedReplica, b: ManagedReplica): number {
  if (a.workloadUri !== b.workloadUri) return a.workloadUri < b.workloadUri ? -1 : 1
  if (a.round !== b.round) return a.round - b.round
  return a.containerId < b.containerId ? -1 : a.containerId > b.containerId ? 1 : 0
}

/** Settles like `p`, or rejects with the signal's reason as soon as it aborts. */
function raceAbort<T>(p: Promise<T>, signal: AbortSignal | undefined): Promise<T> {
  if (!signal) return p
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(signal.reason as Error)
    if (signal.aborted) onAbort()
    else signal.addEventListener('abort', onAbort, { once: true })
    // Subscribed even when already aborted, so a later failure of `p` is never unhandled.
    p.then(
      (v) => {
        signal.removeEventListener('abort', onAbort)
        resolve(v)
      },
      (err: unknown) => {
        signal.removeEventListener('abort', onAbort)
        reject(err as Error)
      },
    )
  })
}

/** Splits a byte stream of newline-delimited JSON into lines. */
async function* lines(stream: NodeJS.ReadableStream): AsyncGenerator<string> {
  let buf = ''
  for await (const chunk of stream) {
    buf += typeof chunk === 'string' ? chunk : (chunk as Buffer).toString('utf8')
    let nl: number
    while ((nl = buf.indexOf('\n')) !== -1) {
      const line = buf.slice(0, nl).trim()
      buf = buf.slice(nl + 1)
      if (line.length > 0) yield line
    }
  }
  const rest = buf.trim()
  if (rest.length > 0) yield rest
}

interface PullMessage {
  error?: string
  errorDetail?: { message?: string }
}

interface DockerEvent {
  Type?: string
  Action?: string
  status?: string
  id?: string
  time?: number
  timeNano?: number
  Actor?: { ID?: string; Attributes?: Record<string, string> }
}

interface Sample {
  cpuMilliSeconds: number
  memoryPeakMiB: number
}

export class Runtime {
  readonly meshletDid: string
  readonly #docker: Docker
  readonly #config: ContainerConfigOptions
  readonly #onError: (err: Error) => void
  readonly #lifetime = new AbortController()
  readonly #pulls = new Map<string, Promise<void>>()
  readonly #samples = new Map<string, Sample>()
  readonly #watches = new Set<Promise<void>>()
  readonly #starting = new Map<string, Promise<void>>()
  #host: Promise<{ cpus: number; memoryBytes: number }> | undefined
  #egress: Promise<void> | undefined
  #maxImageMiB: number | undefined
  readonly #fetch: typeof fetch | undefined

  /** The lender's egress setting, changed while running (applies to the next start). */
  setAllowEgress(allow: boolean): void {
    this.#config.allowEgress = allow
  }

  /** The lender's registry allow-list (undefined: every registry); applies to the next start. */
  setRegistryAllowList(list: readonly string[] | undefined): void {
    if (list === undefined) delete this.#config.registryAllowList
    else this.#config.registryAllowList = [...list]
  }

  /** The lender's maximum image size in MiB (undefined: none). */
  get maxImageMiB(): number | undefined {
    return this.#maxImageMiB
  }

  /** What pulling an image would download, in bytes, as its registry's manifest states for this
   *  machine's architecture; a RegistryLookupError when the registry does not say. */
  async imageBytes(image: string, signal?: AbortSignal): Promise<number> {
    return imageDownloadBytes(parseImageRef(image), {
      arch: dockerArchOf(osArch()),
      ...(signal ? { signal } : {}),
      ...(this.#fetch ? { fetch: this.#fetch } : {}),
    })
  }

  /** The lender's maximum image size in MiB (undefined: none); applies to the next pull. */
  setMaxImageMiB(mib: number | undefined): void {
    if (mib !== undefined && !(Number.isSafeInteger(mib) && mib > 0)) {
      throw new TypeError(`maxImageMiB must be a positive integer; got ${mib}`)
    }
    this.#maxImageMiB = mib
  }

  constructor(opts: RuntimeOptions) {
    this.#config = {
      meshletDid: opts.meshletDid,
      allowEgress: opts.allowEgress ?? false,
      pidsLimit: opts.pidsLimit ?? DEFAULT_PIDS_LIMIT,
    }
    if (opts.registryAllowList !== undefined) {
      this.#config.registryAllowList = [...opts.registryAllowList]
    }
    checkConfigOptions(this.#config)
    this.setMaxImageMiB(opts.maxImageMiB)
    this.#fetch = opts.fetch
    this.meshletDid = opts.meshletDid
    this.#docker = opts.docker ?? new Docker()
    this.#onError = opts.onError ?? defaultOnError
  }

  /** Resolves when the engine answers; RuntimeUnavailableError otherwise. */
  async ping(): Promise<void> {
    try {
      await this.#docker.ping()
    } catch (err) {
      throw new RuntimeUnavailableError('Docker engine is not reachable', { cause: err })
    }
  }

  /** Pulls `ref` unless the engine already has it. */
  async ensureImage(ref: string, signal?: AbortSignal): Promise<void> {
    const parsed = checkImage(ref, this.#config.registryAllowList)
    await this.#checkPinnedTag(ref, parsed, signal)
    await this.#ensureImage(ref, parsed, signal)
  }

  /**
   * `name:tag@digest` says the tag is that digest. The engine would pull the digest and ignore
   * the tag; if the registry now gives the tag another digest (re-tagged), which one the owner
   * meant is not known, so neither runs. A registry that cannot be asked proves nothing: the
   * digest, which the engine verifies, is then what runs.
   */
  async #checkPinnedTag(ref: string, parsed: ImageRef, signal?: AbortSignal): Promise<void> {
    if (parsed.tag === undefined || parsed.digest === undefined) return
    let current: string | undefined
    try {
      const answer = (await raceAbort(
        this.#docker.getImage(`${parsed.name}:${parsed.tag}`).distribution(),
        signal,
      )) as { Descriptor?: { digest?: unknown } }
      if (typeof answer?.Descriptor?.digest === 'string') current = answer.Descriptor.digest
    } catch (err) {
      if (signal?.aborted) throw signal.reason
      if (isConnectionError(err)) throw wrapDockerError(err, 'distribution')
      return
    }
    if (current !== undefined && current !== parsed.digest) {
      throw new ImageDigestMismatchError(ref, current)
    }
  }

  /** The lender's maximum image size, checked against the registry's manifest before pulling. */
  async #checkImageSize(ref: string, parsed: ImageRef, signal?: AbortSignal): Promise<void> {
    const max = this.#maxImageMiB
    if (max === undefined) return
    let bytes: number
    try {
      bytes = await imageDownloadBytes(parsed, {
        arch: dockerArchOf(osArch()),
        ...(signal ? { signal } : {}),
        ...(this.#fetch ? { fetch: this.#fetch } : {}),
      })
    } catch (err) {
      if (signal?.aborted) throw signal.reason
      if (!(err instanceof RegistryLookupError)) throw err
      throw new PolicyError(
        'image-size-unknown',
        `image-size-unknown: this meshlet pulls images of at most ${max} MiB and the registry would not say how large ${ref} is (${err.message}); not pulled`,
        { cause: err },
      )
    }
    if (bytes > max * MiB) {
      throw new PolicyError(
        'image-too-large',
        `image-too-large: ${ref} is ${(bytes / MiB).toFixed(1)} MiB to download; this meshlet pulls at most ${max} MiB; not pulled`,
      )
    }
  }

  /**
   * Runs one replica: checks the spec and the lender's policy, pulls the image when absent, then
   * creates and starts the hardened container. Starting a replica that already runs returns it.
   */
  async start(spec: ReplicaSpec, signal?: AbortSignal): Promise<ManagedReplica> {
    checkSpec(spec, this.#config)
    signal?.throwIfAborted()
    const name = replicaName(this.meshletDid, spec.workloadUri, spec.round)
    // Starts of one replica queue behind each other, so the second finds the first's container.
    const previous = this.#starting.get(name) ?? Promise.resolve()
    const run = previous.then(() => this.#start(spec, name, signal))
    const settled = run.then(
      () => undefined,
      () => undefined,
    )
    this.#starting.set(name, settled)
    void settled.then(() => {
      if (this.#starting.get(name) === settled) this.#starting.delete(name)
    })
    return raceAbort(run, signal)
  }

  async #start(spec: ReplicaSpec, name: string, signal?: AbortSignal): Promise<ManagedReplica> {
    signal?.throwIfAborted()
    await this.#checkHost(spec)
    const existing = await this.#inspectContainer(name, 'start', signal)
    if (existing) return this.#adopt(existing, spec, signal)

    const parsed = parseImageRef(spec.image)
    await this.#checkPinnedTag(spec.image, parsed, signal)
    const image = await this.#ensureImage(spec.image, parsed, signal)
    if (spec.network === 'egress') await this.#ensureEgressNetwork()
    const config = containerConfig(spec, {
      ...this.#config,
      imageVolumes: Object.keys(image.Config?.Volumes ?? {}),
    })

    let container: Docker.Container
    try {
      container = await this.#docker.createContainer({ ...config, abortSignal: signal })
    } catch (err) {
      if (statusOf(err) === 409) {
        // Another process started the same replica first: treat its container as found. The
        // engine reserves the name before the container can be inspected, so allow it a moment.
        for (let attempt = 0; attempt < 50; attempt++) {
          const raced = await this.#inspectContainer(name, 'start', signal)
          if (raced) return this.#adopt(raced, spec, signal)
          await sleep(100, undefined, signal ? { signal } : {})
        }
      }
      if (signal?.aborted) {
        await this.#discardIfCreated(name)
        throw signal.reason
      }
      throw this.#startError(err, 'create', spec)
    }
    try {
      signal?.throwIfAborted()
      await container.start({ abortSignal: signal })
    } catch (err) {
      // 304: a racing start of the same replica (another process adopting the container we
      // created) started it first. That is the outcome we wanted; removing it would kill theirs.
      if (statusOf(err) === 304 && !signal?.aborted) return this.#replicaOf(container.id, 'start')
      await this.#discard(container.id)
      if (signal?.aborted) throw signal.reason
      throw this.#startError(err, 'start', spec)
    }
    return this.#replicaOf(container.id, 'start')
  }

  /** Every container of this meshlet, running or stopped, sorted by workload and round. */
  async list(): Promise<ManagedReplica[]> {
    return this.#listOurs([])
  }

  /** This meshlet's containers for one workload, any round, running or stopped. */
  async find(workloadUri: string): Promise<ManagedReplica[]> {
    if (typeof workloadUri !== 'string' || workloadUri.length === 0) {
      throw new TypeError('workloadUri must be a non-empty string')
    }
    const found = await this.#listOurs([`${LABEL_WORKLOAD}=${workloadUri}`])
    return found.filter((r) => r.workloadUri === workloadUri)
  }

  /**
   * Resource use of one of our containers. Docker keeps no counters once a container has
   * stopped, so for a stopped one this returns the last sample this Runtime took (and its wall
   * time from the engine's start and finish times); sample while it runs.
   */
  async usage(containerId: string): Promise<ReplicaUsage> {
    const info = await this.#inspectOurs(containerId, 'usage')
    const prev = this.#samples.get(info.Id)
    const startedMs = Date.parse(dockerTime(info.State.StartedAt) ?? '')
    const finishedMs = Date.parse(dockerTime(info.State.FinishedAt) ?? '')
    if (!info.State.Running) {
      const wallMs =
        Number.isFinite(startedMs) && Number.isFinite(finishedMs)
          ? Math.max(0, finishedMs - startedMs)
          : 0
      return {
        cpuMilliSeconds: prev?.cpuMilliSeconds ?? 0,
        memoryPeakMiB: prev?.memoryPeakMiB ?? 0,
        memoryMiB: 0,
        wallMs,
      }
    }
    let stats: Docker.ContainerStats
    try {
      stats = await this.#docker.getContainer(info.Id).stats({ stream: false, 'one-shot': true })
    } catch (err) {
      if (statusOf(err) === 404) throw new ReplicaNotFoundError(containerId, { cause: err })
      throw wrapDockerError(err, 'usage')
    }
    const cpuNs = stats.cpu_stats?.cpu_usage?.total_usage ?? 0
    const mem = stats.memory_stats ?? ({} as Partial<Docker.MemoryStats>)
    const usageBytes = mem.usage ?? 0
    const memStats = (mem.stats ?? {}) as Record<string, number | undefined>
    // As `docker stats` does: page cache that can be dropped is not the guest's working set.
    const inactiveFile = memStats.total_inactive_file ?? memStats.inactive_file ?? 0
    const workingSet = Math.max(0, usageBytes - inactiveFile)
    // cgroup v1 reports a peak; v2 does not through this API, so we keep our own.
    const peakBytes = Math.max(mem.max_usage ?? 0, usageBytes)
    const sample: Sample = {
      cpuMilliSeconds: Math.max(prev?.cpuMilliSeconds ?? 0, Math.round(cpuNs / 1e6)),
      memoryPeakMiB: Math.max(prev?.memoryPeakMiB ?? 0, Math.ceil(peakBytes / MiB)),
    }
    this.#samples.set(info.Id, sample)
    return {
      ...sample,
      memoryMiB: Math.ceil(workingSet / MiB),
      wallMs: Number.isFinite(startedMs) ? Math.max(0, Date.now() - startedMs) : 0,
    }
  }

  /**
   * The end of one of our containers' output, stdout and stderr interleaved as the engine kept
   * them: at most `maxBytes`, read from the last 10,000 lines. For sealed results (core/sealing).
   */
  async outputTail(containerId: string, maxBytes: number): Promise<string> {
    const info = await this.#inspectOurs(containerId, 'logs')
    let raw: Buffer
    try {
      raw = (await this.#docker
        .getContainer(info.Id)
        .logs({ stdout: true, stderr: true, follow: false, tail: 10_000 })) as unknown as Buffer
    } catch (err) {
      if (statusOf(err) === 404) throw new ReplicaNotFoundError(containerId, { cause: err })
      throw wrapDockerError(err, 'logs')
    }
    const text = demuxLogs(raw)
    return text.length > maxBytes
      ? text.subarray(text.length - maxBytes).toString('utf8')
      : text.toString('utf8')
  }

  /**
   * Stops (SIGTERM, then SIGKILL after `timeoutSec`, default 10) and removes one of our
   * containers. A container already gone is fine; one without our labels is refused.
   */
  async stop(containerId: string, opts: { timeoutSec?: number } = {}): Promise<void> {
    const timeoutSec = opts.timeoutSec ?? 10
    if (!Number.isSafeInteger(timeoutSec) || timeoutSec < 0) {
      throw new TypeError(`timeoutSec must be an integer >= 0; got ${timeoutSec}`)
    }
    let info: Docker.ContainerInspectInfo
    try {
      info = await this.#inspectOurs(containerId, 'stop')
    } catch (err) {
      if (err instanceof ReplicaNotFoundError) return
      throw err
    }
    const container = this.#docker.getContainer(info.Id)
    if (info.State.Running || info.State.Paused || info.State.Restarting) {
      try {
        await container.stop({ t: timeoutSec })
      } catch (err) {
        // 304: already stopped; 404: already gone. Both are what we wanted.
        const status = statusOf(err)
        if (status !== 304 && status !== 404) throw wrapDockerError(err, 'stop')
      }
    }
    try {
      await container.remove({ force: true, v: true })
    } catch (err) {
      // 404: gone; 409: a removal is already in progress.
      const status = statusOf(err)
      if (status !== 404 && status !== 409) throw wrapDockerError(err, 'remove')
    }
    this.#samples.delete(info.Id)
  }

  /**
   * Changes the CPU limit of one of our running containers (`docker update --cpus`), as the
   * lending policy throttles guests while the lender uses the machine and restores them after.
   * Only the CFS quota changes; every other limit stays as `containerConfig` made it.
   */
  async updateCpu(containerId: string, cpuMillis: number): Promise<void> {
    if (!Number.isSafeInteger(cpuMillis) || cpuMillis < MIN_CPU_MILLIS) {
      throw new InvalidSpecError([
        `cpuMillis must be an integer from ${MIN_CPU_MILLIS} (Docker's minimum) up; got ${cpuMillis}`,
      ])
    }
    const info = await this.#inspectOurs(containerId, 'update cpu')
    try {
      await this.#docker.getContainer(info.Id).update({ NanoCpus: cpuMillis * 1_000_000 })
    } catch (err) {
      if (statusOf(err) === 404) throw new ReplicaNotFoundError(containerId, { cause: err })
      throw wrapDockerError(err, 'update cpu')
    }
  }

  /**
   * The last lines one of our containers printed (stdout and stderr, oldest first), bounded by
   * `tailLines`: at most `lines` (≤ MAX_LOG_LINES) lines and MAX_LOG_BYTES of text. `since` (ms
   * since the epoch) skips what was printed before it, for following. Docker keeps the output
   * of stopped containers too, until they are removed.
   */
  async logs(containerId: string, opts: { lines?: number; since?: number } = {}): Promise<LogTail> {
    const lines = Math.max(1, Math.min(MAX_LOG_LINES, Math.floor(opts.lines ?? 200)))
    const info = await this.#inspectOurs(containerId, 'logs')
    let raw: Buffer
    try {
      const options = {
        stdout: true,
        stderr: true,
        timestamps: true,
        tail: lines,
        follow: false,
        // Docker takes seconds with a fraction; a line at exactly `since` was seen already.
        ...(opts.since !== undefined ? { since: (opts.since + 1) / 1000 } : {}),
      } as const
      raw = (await this.#docker.getContainer(info.Id).logs(options)) as unknown as Buffer
    } catch (err) {
      if (statusOf(err) === 404) throw new ReplicaNotFoundError(containerId, { cause: err })
      throw wrapDockerError(err, 'logs')
    }
    const frames: LogFrame[] = []
    const sink = (stream: LogFrame['stream']) =>
      new Writable({
        write(chunk: Buffer, _enc, done) {
          frames.push({ stream, data: chunk.toString('utf8') })
          done()
        },
      })
    // Docker's multiplexed framing, split by the engine client's own demuxer.
    const source = Readable.from([Buffer.isBuffer(raw) ? raw : Buffer.from(String(raw))])
    const ended = new Promise<void>((resolve, reject) => {
      source.once('end', resolve).once('error', reject)
    })
    this.#docker.modem.demuxStream(source, sink('stdout'), sink('stderr'))
    await ended
    return tailLines(frames, lines)
  }

  /**
   * Follows the engine's events for this meshlet's containers until `signal` aborts (or the
   * Runtime is disposed). Stream failures go to `onError` and the watch reconnects, replaying
   * what it missed from the engine's event log; a handler may see an event twice, never zero
   * times while the engine kept it.
   */
  watch(
    onEvent: (e: ReplicaEvent) => void,
    signal: AbortSignal,
    onEngine?: (available: boolean, cause?: unknown) => void,
  ): void {
    const stop = AbortSignal.any([signal, this.#lifetime.signal])
    const engine = (available: boolean, cause?: unknown) => {
      try {
        onEngine?.(available, cause)
      } catch (err) {
        this.#report(new EventHandlerError({ cause: err }))
      }
    }
    const loop = this.#watchLoop(onEvent, stop, engine).catch((err: unknown) => {
      this.#report(wrapDockerError(err, 'watch'))
    })
    this.#watches.add(loop)
    void loop.finally(() => this.#watches.delete(loop))
  }

  /** Ends watches and pulls this Runtime started. Containers keep running: they outlive us. */
  async [Symbol.asyncDispose](): Promise<void> {
    this.#lifetime.abort(new Error('runtime disposed'))
    await Promise.allSettled([...this.#watches])
  }

  // --- internals ---------------------------------------------------------------------------

  #report(err: Error): void {
    try {
      this.#onError(err)
    } catch {
      // An onError that throws must not end the loop that called it.
    }
  }

  async #checkHost(spec: ReplicaSpec): Promise<void> {
    if (!this.#host) {
      this.#host = this.#docker.info().then(
        (info: { NCPU?: number; MemTotal?: number }) => ({
          cpus: info.NCPU ?? 0,
          memoryBytes: info.MemTotal ?? 0,
        }),
        (err: unknown) => {
          this.#host = undefined
          throw wrapDockerError(err, 'info')
        },
      )
    }
    const host = await this.#host
    const problems: string[] = []
    if (host.cpus > 0 && spec.resources.cpuMillis > host.cpus * 1000) {
      problems.push(
        `resources.cpuMillis ${spec.resources.cpuMillis} exceeds this host's ${host.cpus} CPUs`,
      )
    }
    if (host.memoryBytes > 0 && spec.resources.memoryMiB * MiB > host.memoryBytes) {
      problems.push(
        `resources.memoryMiB ${spec.resources.memoryMiB} exceeds this host's ${Math.floor(host.memoryBytes / MiB)} MiB`,
      )
    }
    if (problems.length > 0) throw new InvalidSpecError(problems)
  }

  async #inspectImage(
    ref: string,
    signal: AbortSignal | undefined,
  ): Promise<Docker.ImageInspectInfo | undefined> {
    try {
      // Image inspect takes no abort signal; it is quick, so we only stop waiting for it.
      return await raceAbort(this.#docker.getImage(ref).inspect(), signal)
    } catch (err) {
      if (signal?.aborted) throw signal.reason
      if (statusOf(err) === 404) return undefined
      throw wrapDockerError(err, 'inspect image')
    }
  }

  async #ensureImage(
    ref: string,
    parsed: ImageRef,
    signal: AbortSignal | undefined,
  ): Promise<Docker.ImageInspectInfo> {
    signal?.throwIfAborted()
    const present = await this.#inspectImage(ref, signal)
    if (present) return present
    await this.#checkImageSize(ref, parsed, signal)
    // One pull per reference at a time; each caller may give up on it without cancelling it
    // for the others (it then finishes into the image cache).
    let pull = this.#pulls.get(ref)
    if (!pull) {
      pull = this.#pull(ref, parsed).finally(() => this.#pulls.delete(ref))
      this.#pulls.set(ref, pull)
    }
    await raceAbort(pull, signal)
    const pulled = await this.#inspectImage(ref, signal)
    if (!pulled) throw new ImagePullError(ref, 'the pull finished but the image is still absent')
    return pulled
  }

  async #pull(ref: string, parsed: ImageRef): Promise<void> {
    const signal = this.#lifetime.signal
    const fail = (err: unknown): Error => {
      if (signal.aborted) return signal.reason as Error
      if (err instanceof ImagePullError) return err
      if (isConnectionError(err)) {
        return new RuntimeUnavailableError(`Docker engine unavailable while pulling ${ref}`, {
          cause: err,
        })
      }
      return new ImagePullError(ref, dockerMessage(err), { cause: err })
    }
    let stream: NodeJS.ReadableStream
    try {
      stream = await this.#docker.createImage({
        fromImage: parsed.name,
        // Without a tag the engine would pull every tag of the repository.
        tag: parsed.digest ?? parsed.tag ?? 'latest',
        abortSignal: signal,
      })
    } catch (err) {
      throw fail(err)
    }
    try {
      // The engine reports a failure mid-pull as a JSON line in a 200 answer.
      for await (const line of lines(stream)) {
        let msg: PullMessage
        try {
          msg = JSON.parse(line) as PullMessage
        } catch {
          continue
        }
        if (msg.error || msg.errorDetail?.message) {
          throw new ImagePullError(ref, msg.errorDetail?.message ?? msg.error ?? 'unknown error')
        }
      }
    } catch (err) {
      throw fail(err)
    }
  }

  async #ensureEgressNetwork(): Promise<void> {
    this.#egress ??= this.#createEgressNetwork().catch((err: unknown) => {
      this.#egress = undefined
      throw err
    })
    await this.#egress
  }

  async #createEgressNetwork(): Promise<void> {
    const check = (info: Docker.NetworkInspectInfo): void => {
      const icc = info.Options?.['com.docker.network.bridge.enable_icc']
      if (info.Driver !== 'bridge' || info.Internal || icc !== 'false') {
        throw new RuntimeOperationError(
          'egress network',
          `network ${EGRESS_NETWORK} exists but is not a bridge with inter-container traffic off; remove it and let the meshlet create it`,
        )
      }
    }
    try {
      check(await this.#docker.getNetwork(EGRESS_NETWORK).inspect())
      return
    } catch (err) {
      if (statusOf(err) !== 404) throw wrapDockerError(err, 'inspect egress network')
    }
    try {
      await this.#docker.createNetwork({
        Name: EGRESS_NETWORK,
        Driver: 'bridge',
        CheckDuplicate: true,
        Internal: false,
        Options: { 'com.docker.network.bridge.enable_icc': 'false' },
        Labels: { 'commune.network': 'egress' },
      })
    } catch (err) {
      if (statusOf(err) !== 409) throw wrapDockerError(err, 'create egress network')
    }
  }

  async #inspectContainer(
    id: string,
    operation: string,
    signal?: AbortSignal,
  ): Promise<Docker.ContainerInspectInfo | undefined> {
    try {
      return await this.#docker.getContainer(id).inspect({ abortSignal: signal })
    } catch (err) {
      if (signal?.aborted) throw signal.reason
      if (statusOf(err) === 404) return undefined
      throw wrapDockerError(err, operation)
    }
  }

  /** Inspects a container that must be ours: ReplicaNotFoundError, ForeignContainerError. */
  async #inspectOurs(containerId: string, operation: string): Promise<Docker.ContainerInspectInfo> {
    if (typeof containerId !== 'string' || containerId.length === 0) {
      throw new TypeError('containerId must be a non-empty string')
    }
    const info = await this.#inspectContainer(containerId, operation)
    if (!info) throw new ReplicaNotFoundError(containerId)
    if (!toReplica(info, this.meshletDid)) throw new ForeignContainerError(containerId)
    return info
  }

  async #replicaOf(id: string, operation: string): Promise<ManagedReplica> {
    const info = await this.#inspectContainer(id, operation)
    const replica = info && toReplica(info, this.meshletDid)
    if (!replica) {
      throw new RuntimeOperationError(operation, `container ${id} vanished right after starting`)
    }
    return replica
  }

  /** A container with the replica's name already exists: return it, start it, or refuse. */
  async #adopt(
    info: Docker.ContainerInspectInfo,
    spec: ReplicaSpec,
    signal: AbortSignal | undefined,
  ): Promise<ManagedReplica> {
    const replica = toReplica(info, this.meshletDid)
    if (!replica || replica.workloadUri !== spec.workloadUri || replica.round !== spec.round) {
      throw new ForeignContainerError(info.Id)
    }
    if (replica.cid !== spec.cid) {
      throw new ReplicaConflictError(
        info.Id,
        `replica container ${info.Name} runs version ${replica.cid} of ${spec.workloadUri} round ${spec.round}, not ${spec.cid}; stop it first`,
      )
    }
    switch (replica.state) {
      case 'running':
      case 'paused':
      case 'restarting':
        return replica
      case 'created':
        // Left behind by a start that was interrupted between create and start.
        try {
          await this.#docker.getContainer(info.Id).start({ abortSignal: signal })
        } catch (err) {
          if (signal?.aborted) throw signal.reason
          if (statusOf(err) !== 304) throw this.#startError(err, 'start', spec)
        }
        return this.#replicaOf(info.Id, 'start')
      default:
        throw new ReplicaConflictError(
          info.Id,
          `replica container ${info.Name} already exists and is ${replica.state}` +
            (replica.exitCode !== undefined ? ` (exit code ${replica.exitCode})` : '') +
            '; stop() it before starting this replica again',
        )
    }
  }

  #startError(err: unknown, stage: 'create' | 'start', spec: ReplicaSpec): Error {
    if (isConnectionError(err)) {
      return new RuntimeUnavailableError(
        `Docker engine unavailable while starting ${spec.workloadUri} round ${spec.round}`,
        { cause: err },
      )
    }
    return new ReplicaStartError(
      `could not ${stage} the container for ${spec.workloadUri} round ${spec.round}: ${dockerMessage(err)}`,
      { cause: err },
    )
  }

  /** Best-effort removal after a failed start; a failure here is reported, not thrown. */
  async #discard(id: string): Promise<void> {
    try {
      await this.#docker.getContainer(id).remove({ force: true, v: true })
    } catch (err) {
      if (statusOf(err) !== 404) this.#report(wrapDockerError(err, 'remove after failed start'))
    }
  }

  async #discardIfCreated(name: string): Promise<void> {
    try {
      const info = await this.#inspectContainer(name, 'start')
      if (info && info.State.Status === 'created' && toReplica(info, this.meshletDid)) {
        await this.#discard(info.Id)
      }
    } catch (err) {
      this.#report(wrapDockerError(err, 'remove after aborted start'))
    }
  }

  async #listOurs(extraLabels: string[]): Promise<ManagedReplica[]> {
    let containers: Docker.ContainerInfo[]
    try {
      containers = await this.#docker.listContainers({
        all: true,
        filters: { label: [`${LABEL_MESHLET}=${this.meshletDid}`, ...extraLabels] },
      })
    } catch (err) {
      throw wrapDockerError(err, 'list')
    }
    const infos = await Promise.all(containers.map((c) => this.#inspectContainer(c.Id, 'list')))
    const replicas: ManagedReplica[] = []
    for (const info of infos) {
      // A container removed between the list and the inspect is simply gone.
      const replica = info && toReplica(info, this.meshletDid)
      if (replica) replicas.push(replica)
    }
    return replicas.sort(compareReplicas)
  }

  async #watchLoop(
    onEvent: (e: ReplicaEvent) => void,
    stop: AbortSignal,
    engine: (available: boolean, cause?: unknown) => void,
  ): Promise<void> {
    let delay = RECONNECT_MIN_MS
    // The engine replays its recent events from a given second on. Starting from the second
    // watch() was called means nothing between the call and the connection is missed; after a
    // reconnect we resume from the last event's second, skipping the events already delivered
    // in it. (This trusts the engine's clock to agree with ours, as a local engine's does.)
    const watchedFrom = Math.floor(Date.now() / 1000)
    let lastTime: number | undefined
    let seen = new Set<string>()
    while (!stop.aborted) {
      const connectedAt = Date.now()
      let delivered = false
      try {
        const options: Docker.GetEventsOptions & { abortSignal: AbortSignal } = {
          filters: {
            type: ['container'],
            event: [...watchedActions],
            label: [`${LABEL_MESHLET}=${this.meshletDid}`],
          },
          since: lastTime ?? watchedFrom,
          abortSignal: stop,
        }
        const stream = await this.#docker.getEvents(options)
        // The engine answers: whoever follows it may lend again.
        engine(true)
        const onAbort = () => (stream as NodeJS.ReadableStream & { destroy(): void }).destroy()
        stop.addEventListener('abort', onAbort, { once: true })
        try {
          for await (const line of lines(stream)) {
            let ev: DockerEvent
            try {
              ev = JSON.parse(line) as DockerEvent
            } catch (err) {
              this.#report(new RuntimeOperationError('watch', 'malformed event', { cause: err }))
              continue
            }
            if (typeof ev.time === 'number') {
              if (lastTime === undefined || ev.time > lastTime) {
                lastTime = ev.time
                seen = new Set()
              }
              const key = `${ev.Actor?.ID ?? ev.id}|${ev.Action ?? ev.status}|${ev.timeNano}`
              if (ev.time === lastTime) {
                if (seen.has(key)) continue
                seen.add(key)
              }
            }
            const event = this.#toEvent(ev)
            if (!event) continue
            delivered = true
            try {
              const result: unknown = onEvent(event)
              // An async handler's failure is reported like a thrown one.
              if (result instanceof Promise) {
                result.catch((err: unknown) => this.#report(new EventHandlerError({ cause: err })))
              }
            } catch (err) {
              this.#report(new EventHandlerError({ cause: err }))
            }
          }
        } finally {
          stop.removeEventListener('abort', onAbort)
        }
        if (stop.aborted) return
        this.#report(new RuntimeUnavailableError('Docker event stream ended; reconnecting'))
        // An ended stream is news only when the engine is gone too.
        await this.#docker.ping().then(
          () => undefined,
          (err: unknown) => engine(false, err),
        )
      } catch (err) {
        if (stop.aborted) return
        const wrapped = wrapDockerError(err, 'watch')
        if (wrapped instanceof RuntimeUnavailableError) engine(false, err)
        this.#report(wrapped)
      }
      if (delivered || Date.now() - connectedAt > HEALTHY_CONNECTION_MS) delay = RECONNECT_MIN_MS
      try {
        await sleep(delay, undefined, { signal: stop })
      } catch {
        return
      }
      delay = Math.min(delay * 2, RECONNECT_MAX_MS)
    }
  }

  #toEvent(ev: DockerEvent): ReplicaEvent | undefined {
    if (ev.Type !== undefined && ev.Type !== 'container') return undefined
    const action = ev.Action ?? ev.status
    if (!action || !watchedActions.has(action)) return undefined
    const attrs = ev.Actor?.Attributes ?? {}
    if (attrs[LABEL_MESHLET] !== this.meshletDid) return undefined
    const workloadUri = attrs[LABEL_WORKLOAD]
    const cid = attrs[LABEL_CID]
    const round = Number(attrs[LABEL_ROUND])
    const containerId = ev.Actor?.ID ?? ev.id
    if (!workloadUri || !cid || !containerId || !Number.isSafeInteger(round)) return undefined
    const event: ReplicaEvent = {
      containerId,
      workloadUri,
      cid,
      round,
      action: action as ReplicaAction,
    }
    if (action === 'die' && attrs.exitCode !== undefined) {
      const exitCode = Number(attrs.exitCode)
      if (Number.isSafeInteger(exitCode)) event.exitCode = exitCode
    }
    return event
  }
}

/** The payloads of Docker's multiplexed log frames (8-byte header: stream, 0, 0, 0, length as
 *  uint32 big-endian), as the engine sends them for a container without a TTY. */
function demuxLogs(raw: Buffer): Buffer {
  const parts: Buffer[] = []
  let at = 0
  while (at + 8 <= raw.length) {
    const size = raw.readUInt32BE(at + 4)
    parts.push(raw.subarray(at + 8, Math.min(raw.length, at + 8 + size)))
    at += 8 + size
  }
  return Buffer.concat(parts)
}

/** Docker's name for a Node.js architecture. */
function dockerArchOf(a: string): string {
  return a === 'x64' ? 'amd64' : a === 'ia32' ? '386' : a
}
