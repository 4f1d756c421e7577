// The hardening of a guest container, as a pure function from the replica spec to Docker's create
// options. Every choice here is explained in README.md; tests check this function directly and
// then check the same limits from inside a real container.
import { createHash } from 'node:crypto'
import { posix } from 'node:path'
import type Docker from 'dockerode'
import { InvalidSpecError, PolicyError } from './errors.js'
import { parseImageRef, registryAllowed, type ImageRef } from './image-ref.js'

export const LABEL_WORKLOAD = 'commune.workload'
export const LABEL_MESHLET = 'commune.meshlet'
export const LABEL_ROUND = 'commune.round'
export const LABEL_CID = 'commune.cid'
/** The same label names, as one object. */
export const LABELS = {
  workload: LABEL_WORKLOAD,
  meshlet: LABEL_MESHLET,
  round: LABEL_ROUND,
  cid: LABEL_CID,
} as const

/** The bridge network egress guests join: Docker's bridge driver with inter-container traffic off. */
export const EGRESS_NETWORK = 'commune-egress'
/** Guests run as nobody: a container escape then lands as an unprivileged host user. */
export const GUEST_USER = '65534:65534'
export const DEFAULT_PIDS_LIMIT = 256
export const DEFAULT_STORAGE_MIB = 64
/** Docker's floor for a memory limit (6 MiB); it refuses anything lower. */
export const MIN_MEMORY_MIB = 6
/** Docker's floor for a CPU limit (0.01 CPU); it refuses anything lower. */
export const MIN_CPU_MILLIS = 10

const MiB = 1024 * 1024
// Upper bounds that no laptop reaches, so arithmetic on them stays exact; the real check against
// the host's CPUs and memory happens in Runtime.start.
const MAX_CPU_MILLIS = 1024 * 1000
const MAX_MEMORY_MIB = 1024 * 1024
const MAX_STORAGE_MIB = 1024 * 1024

export interface Resources {
  cpuMillis: number
  memoryMiB: number
  storageMiB?: number
}

export interface ReplicaSpec {
  /** at-uri of the workload record */
  workloadUri: string
  /** CID of the workload version being run */
  cid: string
  round: number
  image: string
  /** Replaces the image's CMD (the ENTRYPOINT stays); absent or [] => the image's default CMD. */
  command?: string[]
  env?: { name: string; value: string }[]
  resources: Resources
  network: 'none' | 'egress'
}

export interface ContainerConfigOptions {
  meshletDid: string
  allowEgress?: boolean
  registryAllowList?: string[]
  pidsLimit?: number
  /** Paths the image declares as VOLUME; each gets a tmpfs so Docker makes no host volume. */
  imageVolumes?: string[]
}

/** What `containerConfig` returns: dockerode's create options with the fields we always set. */
export type GuestContainerConfig = Docker.ContainerCreateOptions & {
  name: string
  Image: string
  User: string
  Labels: Record<string, string>
  HostConfig: Docker.HostConfig & {
    // Known to the Engine API since 1.41, missing from @types/dockerode.
    CgroupnsMode: 'private'
  }
}

/** Deterministic, Docker-safe container name for one replica: the same inputs, the same name. */
export function replicaName(meshletDid: string, workloadUri: string, round: number): string {
  const hash = createHash('sha256')
    .update(`${meshletDid}\n${workloadUri}\n${round}`)
    .digest('hex')
    .slice(0, 32)
  return `commune-${hash}`
}

function isInt(n: unknown): n is number {
  return typeof n === 'number' && Number.isSafeInteger(n)
}

function hasNul(s: string): boolean {
  return s.includes('\0')
}

/** Every problem with a spec, as sentences; empty when the spec is runnable. */
export function specProblems(spec: ReplicaSpec): string[] {
  const problems: string[] = []
  if (typeof spec !== 'object' || spec === null) return ['spec must be an object']
  if (typeof spec.workloadUri !== 'string' || !spec.workloadUri.startsWith('at://')) {
    problems.push('workloadUri must be an at:// URI')
  } else if (spec.workloadUri.length > 2048 || hasNul(spec.workloadUri)) {
    problems.push('workloadUri is too long or contains NUL')
  }
  if (typeof spec.cid !== 'string' || !/^[A-Za-z0-9]{1,256}$/.test(spec.cid)) {
    problems.push('cid must be a CID string')
  }
  if (!isInt(spec.round) || spec.round < 0) problems.push('round must be an integer >= 0')
  if (typeof spec.image !== 'string' || spec.image.length === 0) {
    problems.push('image must be a non-empty string')
  }
  if (spec.command !== undefined) {
    if (
      !Array.isArray(spec.command) ||
      !spec.command.every((a) => typeof a === 'string' && !hasNul(a))
    ) {
      problems.push('command, when given, must be an array of strings without NUL')
    }
  }
  if (spec.env !== undefined) {
    if (!Array.isArray(spec.env)) {
      problems.push('env must be an array')
    } else {
      for (const e of spec.env) {
        const ok =
          typeof e === 'object' &&
          e !== null &&
          typeof e.name === 'string' &&
          /^[^=\0]+$/.test(e.name) &&
          typeof e.value === 'string' &&
          !hasNul(e.value)
        if (!ok) {
          problems.push(`env entry ${JSON.stringify(e)} needs a name without "=" and string value`)
        }
      }
    }
  }
  const r = spec.resources
  if (typeof r !== 'object' || r === null) {
    problems.push('resources must be an object')
  } else {
    if (!isInt(r.cpuMillis) || r.cpuMillis < MIN_CPU_MILLIS || r.cpuMillis > MAX_CPU_MILLIS) {
      problems.push(
        `resources.cpuMillis must be an integer from ${MIN_CPU_MILLIS} (Docker's minimum) up; got ${r.cpuMillis}`,
      )
    }
    if (!isInt(r.memoryMiB) || r.memoryMiB < MIN_MEMORY_MIB || r.memoryMiB > MAX_MEMORY_MIB) {
      problems.push(
        `resources.memoryMiB must be an integer from ${MIN_MEMORY_MIB} (Docker's minimum) up; got ${r.memoryMiB}`,
      )
    }
    if (
      r.storageMiB !== undefined &&
      (!isInt(r.storageMiB) || r.storageMiB < 1 || r.storageMiB > MAX_STORAGE_MIB)
    ) {
      problems.push(`resources.storageMiB must be a positive integer; got ${r.storageMiB}`)
    }
  }
  if (spec.network !== 'none' && spec.network !== 'egress') {
    problems.push(`network must be 'none' or 'egress'; got ${JSON.stringify(spec.network)}`)
  }
  return problems
}

/** Throws TypeError for options no Runtime can work with. */
export function checkConfigOptions(opts: ContainerConfigOptions): void {
  if (typeof opts.meshletDid !== 'string' || !opts.meshletDid.startsWith('did:')) {
    throw new TypeError(`meshletDid must be a DID; got ${JSON.stringify(opts.meshletDid)}`)
  }
  if (opts.pidsLimit !== undefined && (!isInt(opts.pidsLimit) || opts.pidsLimit < 4)) {
    throw new TypeError(`pidsLimit must be an integer >= 4; got ${opts.pidsLimit}`)
  }
}

/** Parses an image reference and applies the registry allow-list: InvalidImageError, PolicyError. */
export function checkImage(
  image: string,
  registryAllowList: readonly string[] | undefined,
): ImageRef {
  const ref = parseImageRef(image)
  if (!registryAllowed(ref, registryAllowList)) {
    throw new PolicyError(
      'registry-not-allowed',
      `image ${image} comes from registry ${ref.registry}, which is not on this meshlet's allow-list (${(registryAllowList ?? []).join(', ')})`,
    )
  }
  return ref
}

/**
 * Checks a spec against the rules and the lender's policy, without Docker: InvalidSpecError,
 * InvalidImageError or PolicyError.
 */
export function checkSpec(spec: ReplicaSpec, opts: ContainerConfigOptions): void {
  checkConfigOptions(opts)
  const problems = specProblems(spec)
  if (problems.length > 0) throw new InvalidSpecError(problems)
  if (spec.network === 'egress' && opts.allowEgress !== true) {
    throw new PolicyError(
      'egress-not-allowed',
      `workload ${spec.workloadUri} asks for network egress, which this meshlet does not allow`,
    )
  }
  checkImage(spec.image, opts.registryAllowList)
}

/** Docker create options for a guest, hardened as DESIGN §8 asks. Pure; throws like checkSpec. */
export function containerConfig(
  spec: ReplicaSpec,
  opts: ContainerConfigOptions,
): GuestContainerConfig {
  checkSpec(spec, opts)
  const storageMiB = spec.resources.storageMiB ?? DEFAULT_STORAGE_MIB
  // exec is allowed on purpose: the guest already runs arbitrary code from its own image, so
  // noexec confines nothing, and it breaks ordinary tools that unpack and load native code in
  // /tmp (JNI libraries, Python wheels, test runners). nosuid/nodev cost nothing.
  // uid/gid: runc chmods the tmpfs root to the image's directory mode, so ownership is what makes
  // it writable for the unprivileged guest user.
  const [uid, gid] = GUEST_USER.split(':')
  const tmpfsOptions = `rw,exec,nosuid,nodev,size=${storageMiB}m,uid=${uid},gid=${gid}`
  const tmpfs: Record<string, string> = { '/tmp': tmpfsOptions }
  for (const volume of opts.imageVolumes ?? []) {
    if (typeof volume !== 'string' || !volume.startsWith('/')) continue
    const path = posix.normalize(volume).replace(/(.)\/$/, '$1')
    tmpfs[path] = tmpfsOptions
  }
  const mem = spec.resources.memoryMiB * MiB
  const config: GuestContainerConfig = {
    name: replicaName(opts.meshletDid, spec.workloadUri, spec.round),
    Image: spec.image,
    User: GUEST_USER,
    Env: (spec.env ?? []).map((e) => `${e.name}=${e.value}`),
    Labels: {
      [LABEL_WORKLOAD]: spec.workloadUri,
      [LABEL_MESHLET]: opts.meshletDid,
      [LABEL_ROUND]: String(spec.round),
      [LABEL_CID]: spec.cid,
    },
    AttachStdin: false,
    AttachStdout: false,
    AttachStderr: false,
    Tty: false,
    OpenStdin: false,
    HostConfig: {
      NanoCpus: spec.resources.cpuMillis * 1_000_000,
      Memory: mem,
      MemorySwap: mem,
      OomKillDisable: false,
      OomScoreAdj: 1000,
      PidsLimit: opts.pidsLimit ?? DEFAULT_PIDS_LIMIT,
      Privileged: false,
      CapDrop: ['ALL'],
      CapAdd: [],
      SecurityOpt: ['no-new-privileges'],
      ReadonlyRootfs: true,
      Tmpfs: tmpfs,
      ShmSize: storageMiB * MiB,
      Binds: [],
      Mounts: [],
      VolumesFrom: [],
      Devices: [],
      PortBindings: {},
      PublishAllPorts: false,
      NetworkMode: spec.network === 'egress' ? EGRESS_NETWORK : 'none',
      IpcMode: 'private',
      CgroupnsMode: 'private',
      Init: true,
      AutoRemove: false,
      RestartPolicy: { Name: 'no', MaximumRetryCount: 0 },
      // No core dumps: the host's core_pattern handler would run on the host for a guest crash.
      Ulimits: [{ Name: 'core', Soft: 0, Hard: 0 }],
      LogConfig: { Type: 'json-file', Config: { 'max-size': '8m', 'max-file': '2' } },
    },
  }
  // An empty command means the image's default, as it does to Docker.
  if (spec.command !== undefined && spec.command.length > 0) config.Cmd = [...spec.command]
  return config
}
