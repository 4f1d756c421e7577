// The workload spec: one place that turns what a person asks for (CLI flags, the app's submit
// form, an edit) into a commune.scheduler.workload record, and refuses what no meshlet could run
// with a sentence that names the field. Pure: no I/O, no clock (callers date the record when they
// write it, after signing in).
import { checkRecord, NSID, type WorkloadRecord } from '../lexicon/index.js'
import { parseImageRef } from '../runtime/image-ref.js'
import { SPEC_LIMITS } from './limits.js'

export type RestartMode = 'never' | 'on-failure' | 'always'
export const RESTART_MODES: readonly RestartMode[] = ['never', 'on-failure', 'always']

export interface EnvVar {
  name: string
  value: string
}

/**
 * What a person asks for. Every field is optional so the same shape describes a change to an
 * existing workload (`updateWorkload`): a field given replaces it, one left out is kept. `null`
 * removes an optional field.
 */
export interface WorkloadOptions {
  name?: string | null
  image?: string
  /** Replaces the image's command; [] or null: the image's default. */
  command?: string[] | null
  cpuMillis?: number
  memoryMiB?: number
  /** Scratch space (the writable tmpfs) per replica, in MiB; null: the runtime's default. */
  storageMiB?: number | null
  replicas?: number
  /** Plain environment variables (public: secrets go in `secrets`); [] or null: none. */
  env?: EnvVar[] | null
  /** CPU architectures the image runs on (Docker's names; common aliases are accepted). */
  arch?: string[] | null
  /** Outbound network, on meshlets whose lender allows it. */
  egress?: boolean
  restart?: RestartMode
  /** New placements after a failure before giving up (on-failure, always). */
  restartAttempts?: number
  /** First back-off before a new placement; doubles on each further failure. */
  restartDelayMs?: number
  /** A replica running longer than this is stopped and reported; null: no limit. */
  maxRuntimeMs?: number | null
  bidWindowMs?: number
  /** Names of secret environment variables (their values are sealed elsewhere). */
  secrets?: string[] | null
}

/** A workload record as written, minus the times the writer adds. */
export type WorkloadBody = Omit<WorkloadRecord, '$type' | 'createdAt' | 'updatedAt'>

export { SPEC_LIMITS } from './limits.js'

export const DEFAULTS = Object.freeze({
  cpuMillis: 100,
  memoryMiB: 64,
  replicas: 1,
  bidWindowMs: 5_000,
  /** Written into the record when a restarting mode is chosen, so every peer reads the same. */
  restartAttempts: 3,
  restartDelayMs: 5_000,
})

/** Docker's architecture names (GOARCH), and the names people also use for them. */
const ARCHES = ['amd64', 'arm64', 'arm', '386', 'ppc64le', 's390x', 'riscv64', 'mips64le']
const ARCH_ALIASES: Record<string, string> = {
  x86_64: 'amd64',
  'x86-64': 'amd64',
  x64: 'amd64',
  aarch64: 'arm64',
  armv8: 'arm64',
  armv7: 'arm',
  armv7l: 'arm',
  armhf: 'arm',
  i386: '386',
  i686: '386',
  x86: '386',
}

/** A variable name a POSIX shell would take; Docker passes it on unchanged. */
const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]{0,127}$/

/** The field a problem is about (the option's key), so a CLI can name its flag. */
export type SpecField = keyof WorkloadOptions

export class SpecError extends Error {
  readonly field: SpecField
  /** For a value out of bounds, the message without the field's name ("must be between …"), so
   *  a form or a CLI can put its own name for the field in front. */
  readonly detail?: string
  constructor(field: SpecField, message: string, options?: { cause?: unknown; label?: string }) {
    super(message, options)
    this.name = 'SpecError'
    this.field = field
    const label = options?.label
    if (label !== undefined && message.startsWith(`${label} `)) {
      this.detail = message.slice(label.length + 1)
    }
  }
}

/** `NAME=VALUE` as a person types it (the value may contain `=`, and may be empty). */
export function parseEnvVar(raw: string): EnvVar {
  const eq = raw.indexOf('=')
  if (eq <= 0) {
    throw new SpecError('env', `expected NAME=VALUE, got ${JSON.stringify(raw.slice(0, 80))}`)
  }
  const env = { name: raw.slice(0, eq), value: raw.slice(eq + 1) }
  checkEnvName(env.name)
  return env
}

/** Architectures from a list whose items may themselves be comma-separated; aliases mapped to
 *  Docker's names, duplicates dropped. */
export function parseArch(raw: readonly string[]): string[] {
  const out: string[] = []
  for (const part of raw.flatMap((r) => r.split(','))) {
    const name = part.trim().toLowerCase()
    if (name === '') continue
    const arch = ARCH_ALIASES[name] ?? name
    if (!ARCHES.includes(arch)) {
      throw new SpecError(
        'arch',
        `unknown architecture ${JSON.stringify(part.trim().slice(0, 40))}; use one of ${ARCHES.join(', ')}`,
      )
    }
    if (!out.includes(arch)) out.push(arch)
  }
  return out
}

/** A new workload from options; `image` is required, the rest have defaults. */
export function buildWorkload(options: WorkloadOptions): WorkloadBody {
  if (options.image === undefined) throw new SpecError('image', 'an image is required')
  return updateWorkload(
    {
      image: options.image,
      resources: { cpuMillis: DEFAULTS.cpuMillis, memoryMiB: DEFAULTS.memoryMiB },
      replicas: DEFAULTS.replicas,
      network: 'none',
      bidWindowMs: DEFAULTS.bidWindowMs,
    },
    options,
  )
}

/**
 * A new version of `current`: the options given replace their fields, the rest is kept as it was
 * (fields this version does not know included). The result is checked whole, so a kept field that
 * is out of bounds is reported too. Times are the caller's: keep createdAt, set updatedAt.
 */
export function updateWorkload<T extends WorkloadBody>(current: T, changes: WorkloadOptions): T {
  const o = changes
  const next: WorkloadBody & Record<string, unknown> = {
    ...current,
    resources: { ...current.resources },
    ...(current.constraints ? { constraints: { ...current.constraints } } : {}),
  }
  const drop = (key: keyof WorkloadBody) => delete next[key]
  if (o.name !== undefined) {
    if (o.name === null || o.name === '') drop('name')
    else next.name = o.name
  }
  if (o.image !== undefined) next.image = o.image
  if (o.command !== undefined) {
    if (o.command === null || o.command.length === 0) drop('command')
    else next.command = [...o.command]
  }
  if (o.cpuMillis !== undefined) next.resources.cpuMillis = o.cpuMillis
  if (o.memoryMiB !== undefined) next.resources.memoryMiB = o.memoryMiB
  if (o.storageMiB !== undefined) {
    if (o.storageMiB === null) delete next.resources.storageMiB
    else next.resources.storageMiB = o.storageMiB
  }
  if (o.replicas !== undefined) next.replicas = o.replicas
  if (o.env !== undefined) {
    if (o.env === null || o.env.length === 0) drop('env')
    else next.env = o.env.map((e) => ({ name: e.name, value: e.value }))
  }
  if (o.arch !== undefined) {
    const arch = o.arch === null ? [] : parseArch(o.arch)
    const constraints = { ...next.constraints }
    if (arch.length === 0) delete constraints.arch
    else constraints.arch = arch
    if (Object.keys(constraints).length === 0) drop('constraints')
    else next.constraints = constraints
  }
  if (o.egress !== undefined) next.network = o.egress ? 'egress' : 'none'
  if (o.bidWindowMs !== undefined) next.bidWindowMs = o.bidWindowMs
  if (o.maxRuntimeMs !== undefined) {
    if (o.maxRuntimeMs === null) drop('maxRuntimeMs')
    else next.maxRuntimeMs = o.maxRuntimeMs
  }
  if (o.secrets !== undefined) {
    if (o.secrets === null || o.secrets.length === 0) drop('secrets')
    else next.secrets = [...o.secrets]
  }
  applyRestart(next, o)
  checkWorkload(next)
  return next as T
}

function applyRestart(next: WorkloadBody, o: WorkloadOptions): void {
  const tuning = o.restartAttempts !== undefined || o.restartDelayMs !== undefined
  if (o.restart === undefined && !tuning) return
  if (o.restart !== undefined && !RESTART_MODES.includes(o.restart)) {
    throw new SpecError(
      'restart',
      `restart mode must be one of ${RESTART_MODES.join(', ')}, got ${JSON.stringify(String(o.restart).slice(0, 40))}`,
    )
  }
  const mode = o.restart ?? next.restartPolicy?.mode ?? 'never'
  if (mode === 'never') {
    if (tuning) {
      const field = o.restartAttempts !== undefined ? 'restartAttempts' : 'restartDelayMs'
      throw new SpecError(field, 'restart attempts and delay need restart on-failure or always')
    }
    next.restartPolicy = { mode }
    return
  }
  // A mode given anew starts from the defaults; tuning alone keeps the rest of the policy.
  const base = o.restart !== undefined ? undefined : next.restartPolicy
  next.restartPolicy = {
    mode,
    maxAttempts: o.restartAttempts ?? base?.maxAttempts ?? DEFAULTS.restartAttempts,
    delayMs: o.restartDelayMs ?? base?.delayMs ?? DEFAULTS.restartDelayMs,
  }
}

/** The options that describe a record, for a form that edits it (inverse of buildWorkload). */
export function workloadOptions(record: WorkloadBody): WorkloadOptions {
  const policy = record.restartPolicy
  const restart = RESTART_MODES.find((m) => m === policy?.mode)
  return {
    ...(record.name !== undefined ? { name: record.name } : {}),
    image: record.image,
    command: record.command ?? [],
    cpuMillis: record.resources.cpuMillis,
    memoryMiB: record.resources.memoryMiB,
    storageMiB: record.resources.storageMiB ?? null,
    replicas: record.replicas,
    env: (record.env ?? []).map((e) => ({ name: e.name, value: e.value })),
    arch: record.constraints?.arch ?? [],
    egress: record.network === 'egress',
    restart: restart ?? 'never',
    ...(restart !== undefined && restart !== 'never'
      ? {
          restartAttempts: policy?.maxAttempts ?? DEFAULTS.restartAttempts,
          restartDelayMs: policy?.delayMs ?? DEFAULTS.restartDelayMs,
        }
      : {}),
    maxRuntimeMs: record.maxRuntimeMs ?? null,
    bidWindowMs: record.bidWindowMs ?? DEFAULTS.bidWindowMs,
    secrets: record.secrets ?? [],
  }
}

function checkEnvName(name: string): void {
  if (!ENV_NAME.test(name)) {
    throw new SpecError(
      'env',
      `environment variable name ${JSON.stringify(name.slice(0, 140))} must be letters, digits and _, not starting with a digit (at most 128)`,
    )
  }
}

function int(field: SpecField, label: string, v: unknown, min: number, max: number, unit = '') {
  if (typeof v !== 'number' || !Number.isSafeInteger(v)) {
    throw new SpecError(field, `${label} must be a whole number, got ${String(v).slice(0, 40)}`, {
      label,
    })
  }
  if (v < min || v > max) {
    throw new SpecError(field, `${label} must be between ${min} and ${max}${unit}, got ${v}`, {
      label,
    })
  }
}

function seconds(ms: number): string {
  return ms % 1000 === 0 ? `${ms / 1000} s` : `${ms} ms`
}

function duration(field: SpecField, label: string, v: unknown, min: number, max: number) {
  if (typeof v !== 'number' || !Number.isSafeInteger(v)) {
    throw new SpecError(field, `${label} must be a whole number, got ${String(v).slice(0, 40)}`, {
      label,
    })
  }
  if (v < min || v > max) {
    throw new SpecError(
      field,
      `${label} must be between ${seconds(min)} and ${seconds(max)}, got ${seconds(v)}`,
      { label },
    )
  }
}

function noNul(field: SpecField, label: string, s: string): void {
  if (s.includes('\0')) throw new SpecError(field, `${label} contains a NUL character`)
}

/** Throws SpecError for the first problem of a workload body; the lexicon checks it last. */
export function checkWorkload(body: WorkloadBody): void {
  const L = SPEC_LIMITS
  if (typeof body.image !== 'string' || body.image.trim() === '') {
    throw new SpecError('image', 'an image is required')
  }
  if (body.image.length > L.image) {
    throw new SpecError('image', `image reference is longer than ${L.image} characters`)
  }
  try {
    parseImageRef(body.image)
  } catch (err) {
    throw new SpecError('image', (err as Error).message, { cause: err })
  }
  if (body.name !== undefined && [...body.name].length > L.name) {
    throw new SpecError('name', `name is longer than ${L.name} characters`)
  }
  if (body.command !== undefined) {
    if (body.command.length > L.commandArgs) {
      throw new SpecError('command', `command has more than ${L.commandArgs} parts`)
    }
    for (const arg of body.command) {
      if (typeof arg !== 'string') throw new SpecError('command', 'command parts must be text')
      if (arg.length > L.commandArg) {
        throw new SpecError('command', `a command part is longer than ${L.commandArg} characters`)
      }
      noNul('command', 'command', arg)
    }
  }
  const r = body.resources
  int('cpuMillis', 'cpu', r.cpuMillis, L.minCpuMillis, L.maxCpuMillis, ' millicores')
  int('memoryMiB', 'memory', r.memoryMiB, L.minMemoryMiB, L.maxMemoryMiB, ' MiB')
  if (r.storageMiB !== undefined) {
    int('storageMiB', 'storage', r.storageMiB, L.minStorageMiB, L.maxStorageMiB, ' MiB')
  }
  int('replicas', 'replicas', body.replicas, 1, L.maxReplicas)
  const secrets = body.secrets ?? []
  if (secrets.length > L.secrets) {
    throw new SpecError('secrets', `at most ${L.secrets} secrets per workload`)
  }
  for (const name of secrets) {
    if (!ENV_NAME.test(name)) {
      throw new SpecError(
        'secrets',
        `secret name ${JSON.stringify(name.slice(0, 140))} is not valid`,
      )
    }
  }
  if (new Set(secrets).size !== secrets.length) {
    throw new SpecError('secrets', 'a secret name is given twice')
  }
  const env = body.env ?? []
  if (env.length > L.envVars) {
    throw new SpecError('env', `at most ${L.envVars} environment variables`)
  }
  const seen = new Set<string>()
  let bytes = 0
  for (const e of env) {
    checkEnvName(e.name)
    if (typeof e.value !== 'string') throw new SpecError('env', `${e.name} needs a text value`)
    if (e.value.length > L.envValue) {
      throw new SpecError('env', `the value of ${e.name} is longer than ${L.envValue} characters`)
    }
    noNul('env', `the value of ${e.name}`, e.value)
    if (seen.has(e.name)) throw new SpecError('env', `${e.name} is given twice`)
    if (secrets.includes(e.name)) {
      throw new SpecError(
        'env',
        `${e.name} is also a secret; give it once, as a secret if its value is private`,
      )
    }
    seen.add(e.name)
    bytes += Buffer.byteLength(e.name) + Buffer.byteLength(e.value)
  }
  if (bytes > L.envBytes) {
    throw new SpecError('env', `environment variables take ${bytes} bytes; at most ${L.envBytes}`)
  }
  const arch = body.constraints?.arch ?? []
  if (arch.length > L.arch) throw new SpecError('arch', `at most ${L.arch} architectures`)
  for (const a of arch) {
    if (!ARCHES.includes(a))
      throw new SpecError('arch', `unknown architecture ${JSON.stringify(a)}`)
  }
  if (body.network !== undefined && body.network !== 'none' && body.network !== 'egress') {
    throw new SpecError('egress', `network must be none or egress, got ${String(body.network)}`)
  }
  if (body.bidWindowMs !== undefined) {
    duration('bidWindowMs', 'bid window', body.bidWindowMs, L.minBidWindowMs, L.maxBidWindowMs)
  }
  const policy = body.restartPolicy
  if (policy !== undefined) {
    if (!RESTART_MODES.includes(policy.mode as RestartMode)) {
      throw new SpecError(
        'restart',
        `restart mode must be one of ${RESTART_MODES.join(', ')}, got ${JSON.stringify(String(policy.mode).slice(0, 40))}`,
      )
    }
    if (policy.maxAttempts !== undefined) {
      int('restartAttempts', 'restart attempts', policy.maxAttempts, 0, L.maxRestartAttempts)
    }
    if (policy.delayMs !== undefined) {
      duration('restartDelayMs', 'restart delay', policy.delayMs, 0, L.maxRestartDelayMs)
    }
  }
  if (body.maxRuntimeMs !== undefined) {
    duration('maxRuntimeMs', 'max runtime', body.maxRuntimeMs, L.minRuntimeMs, L.maxRuntimeMs)
  }
  // The lexicon has the last word: whatever passes here must also pass every peer's check.
  const checked = checkRecord(NSID.workload, {
    ...body,
    $type: NSID.workload,
    createdAt: new Date(0).toISOString(),
  })
  if (!checked.ok) throw new SpecError('image', `not a valid workload record: ${checked.reason}`)
}
