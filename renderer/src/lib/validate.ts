// Client-side checks that mirror the core's (core/api.ts LIMITS and validateArgs), so a form
// says what is wrong beside the field before anything is sent. The core checks again anyway.
import {
  ENV_NAME,
  LIMITS,
  validateArgs,
  type RestartMode,
  type WorkloadDraft,
} from '../../../core/api.js'
import { splitShellWords } from './shell-words.js'

export type HandleCheck = { ok: true; handle: string } | { ok: false; error: string }

/** A handle (alice.bsky.social) or a DID; a leading @ and spaces are forgiven. */
export function checkHandle(raw: string): HandleCheck {
  const handle = raw.trim().replace(/^@/, '')
  if (handle === '') return { ok: false, error: 'Enter a handle, like alice.bsky.social.' }
  if (handle.length > LIMITS.handle) {
    return { ok: false, error: `A handle is at most ${LIMITS.handle} characters.` }
  }
  try {
    validateArgs('members.add', { handle })
  } catch {
    return { ok: false, error: 'That is not a handle (alice.bsky.social) or a DID (did:plc:…).' }
  }
  return { ok: true, handle }
}

export interface WorkloadForm {
  image: string
  cpuMillis: string
  memoryMiB: string
  replicas: string
  command: string
  /** One NAME=VALUE per line. */
  secrets?: string
  /** Plain environment variables, one row each (published: never secrets). */
  env?: EnvRow[]
  /** Blank: the runtime's default. */
  storageMiB?: string
  /** Blank: any architecture. */
  arch?: string
  restartMode?: RestartMode
  restartAttempts?: string
  /** The first back-off delay, in seconds. */
  restartDelaySeconds?: string
  /** Blank: no limit. */
  maxRuntimeSeconds?: string
  egress?: boolean
}

export interface EnvRow {
  name: string
  value: string
}

export type WorkloadField = keyof WorkloadForm

export type FormErrors = Partial<Record<WorkloadField, string>> & {
  /** The environment row the env error is about (0-based). */
  envRow?: number
  /** What the contract refused that no single field explains. */
  form?: string
}

export type DraftCheck = { ok: true; draft: WorkloadDraft } | { ok: false; errors: FormErrors }

/** Docker's names for the architectures a lender's machine may have. */
export const ARCHITECTURES = [
  'amd64',
  'arm64',
  'arm',
  '386',
  'ppc64le',
  's390x',
  'riscv64',
  'mips64le',
]

/** Defaults of the restart policy's inputs (the scheduler's: 3 attempts, 5 s back-off). */
export const RESTART_DEFAULTS = { attempts: '3', delaySeconds: '5' }

const IMAGE = /^[a-zA-Z0-9][a-zA-Z0-9._\-/:@]*$/

function wholeNumber(text: string, label: string, min: number, max: number): number | string {
  const t = text.trim()
  if (t === '') return `Enter ${label}.`
  if (/^-\s*\d/.test(t)) return `${capitalise(label)} cannot be negative.`
  if (!/^\d+$/.test(t)) return `${capitalise(label)} must be a whole number.`
  const n = Number(t)
  if (n < min || n > max) {
    return `${capitalise(label)} must be between ${min.toLocaleString('en-US')} and ${max.toLocaleString('en-US')}.`
  }
  return n
}

function capitalise(s: string): string {
  return s.charAt(0).toUpperCase() + s.slice(1)
}

export function checkWorkload(form: WorkloadForm): DraftCheck {
  const errors: FormErrors = {}
  const image = form.image.trim()
  if (image === '') errors.image = 'Enter an image, like registry.example/app:1.2.'
  else if (image.length > LIMITS.image) {
    errors.image = `An image reference is at most ${LIMITS.image} characters.`
  } else if (!IMAGE.test(image)) {
    errors.image = 'An image reference has no spaces and starts with a letter or digit.'
  }

  const cpu = wholeNumber(
    form.cpuMillis,
    'the CPU in millicores',
    LIMITS.minCpuMillis,
    LIMITS.cpuMillis,
  )
  if (typeof cpu === 'string') errors.cpuMillis = cpu
  const memory = wholeNumber(
    form.memoryMiB,
    'the memory in MiB',
    LIMITS.minMemoryMiB,
    LIMITS.workloadMemoryMiB,
  )
  if (typeof memory === 'string') errors.memoryMiB = memory
  const replicas = wholeNumber(form.replicas, 'the number of replicas', 1, LIMITS.replicas)
  if (typeof replicas === 'string') errors.replicas = replicas

  let command: string[] = []
  const split = splitShellWords(form.command)
  if (!split.ok) errors.command = split.error
  else if (split.words.length > LIMITS.commandArgs) {
    errors.command = `A command has at most ${LIMITS.commandArgs} words.`
  } else if (split.words.some((w) => w.length > LIMITS.commandArg)) {
    errors.command = `Each word of the command is at most ${LIMITS.commandArg} characters.`
  } else command = split.words

  const secrets = checkSecretLines(form.secrets ?? '')
  if (typeof secrets === 'string') errors.secrets = secrets

  const env = checkEnvRows(form.env ?? [])
  if ('error' in env) {
    errors.env = env.error
    errors.envRow = env.row
  } else if (typeof secrets !== 'string') {
    const clash = env.rows.find((e) => secrets.some((x) => x.name === e.name))
    if (clash) errors.env = `${clash.name} is also a secret; give it once.`
  }

  const storage = optionalNumber(
    form.storageMiB,
    'the storage in MiB',
    1,
    LIMITS.workloadStorageMiB,
  )
  if (typeof storage === 'string') errors.storageMiB = storage
  const maxRuntime = optionalNumber(
    form.maxRuntimeSeconds,
    'the maximum run time in seconds',
    1,
    LIMITS.maxRuntimeSeconds,
  )
  if (typeof maxRuntime === 'string') errors.maxRuntimeSeconds = maxRuntime

  const arch = (form.arch ?? '').trim()
  if (arch !== '' && !ARCHITECTURES.includes(arch)) {
    errors.arch = `Choose one of ${ARCHITECTURES.join(', ')}, or any.`
  }

  const mode = form.restartMode ?? 'never'
  let attempts: number | string | undefined
  let delay: number | string | undefined
  if (mode !== 'never') {
    attempts = wholeNumber(
      form.restartAttempts ?? RESTART_DEFAULTS.attempts,
      'the number of attempts',
      0,
      LIMITS.restartAttempts,
    )
    if (typeof attempts === 'string') errors.restartAttempts = attempts
    delay = wholeNumber(
      form.restartDelaySeconds ?? RESTART_DEFAULTS.delaySeconds,
      'the back-off delay in seconds',
      0,
      LIMITS.restartDelayMs / 1000,
    )
    if (typeof delay === 'string') errors.restartDelaySeconds = delay
  }

  if (
    typeof secrets === 'string' ||
    'error' in env ||
    Object.keys(errors).length > 0 ||
    typeof cpu !== 'number' ||
    typeof memory !== 'number' ||
    typeof replicas !== 'number' ||
    typeof storage === 'string' ||
    typeof maxRuntime === 'string' ||
    typeof attempts === 'string' ||
    typeof delay === 'string'
  ) {
    return { ok: false, errors }
  }
  const draft: WorkloadDraft = {
    image,
    cpuMillis: cpu,
    memoryMiB: memory,
    replicas,
    command,
    ...(form.egress ? { egress: true } : {}),
    ...(secrets.length > 0 ? { secrets } : {}),
    ...(env.rows.length > 0 ? { env: env.rows } : {}),
    ...(storage !== undefined ? { storageMiB: storage } : {}),
    ...(arch !== '' ? { arch: [arch] } : {}),
    ...(mode !== 'never'
      ? { restart: { mode, maxAttempts: attempts as number, delayMs: (delay as number) * 1000 } }
      : form.restartMode
        ? { restart: { mode } }
        : {}),
    ...(maxRuntime !== undefined ? { maxRuntimeSeconds: maxRuntime } : {}),
  }
  // The contract has the last word: what it would refuse is shown here, not after a round trip.
  try {
    validateArgs('workloads.submit', draft)
  } catch (err) {
    return { ok: false, errors: { form: err instanceof Error ? err.message : String(err) } }
  }
  return { ok: true, draft }
}

/** A number the user may leave blank (absent from the draft). */
function optionalNumber(
  text: string | undefined,
  label: string,
  min: number,
  max: number,
): number | string | undefined {
  if (text === undefined || text.trim() === '') return undefined
  return wholeNumber(text, label, min, max)
}

/** Environment rows: blank rows are skipped; the first bad row is named. */
function checkEnvRows(
  rows: readonly EnvRow[],
): { rows: { name: string; value: string }[] } | { error: string; row: number } {
  const out: { name: string; value: string }[] = []
  for (let i = 0; i < rows.length; i++) {
    const name = rows[i]!.name.trim()
    const value = rows[i]!.value
    if (name === '' && value === '') continue
    const row = `Variable ${i + 1}`
    if (name === '') return { error: `${row}: give it a name.`, row: i }
    if (!ENV_NAME.test(name) || name.length > LIMITS.envName) {
      return {
        error: `${row}: "${name.slice(0, 40)}" is not a variable name; use letters, digits and _, not starting with a digit.`,
        row: i,
      }
    }
    if (value.length > LIMITS.envValue) {
      return {
        error: `${row}: the value is longer than ${LIMITS.envValue.toLocaleString('en-US')} characters.`,
        row: i,
      }
    }
    if (out.some((e) => e.name === name)) return { error: `${name} is given twice.`, row: i }
    out.push({ name, value })
  }
  if (out.length > LIMITS.env) {
    return { error: `At most ${LIMITS.env} variables.`, row: LIMITS.env }
  }
  const bytes = new TextEncoder().encode(out.map((e) => e.name + e.value).join('')).length
  if (bytes > LIMITS.envBytes) {
    return {
      error: `Variables take at most ${LIMITS.envBytes.toLocaleString('en-US')} bytes together.`,
      row: out.length - 1,
    }
  }
  return { rows: out }
}

const SECRET_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/

/** NAME=VALUE lines (blank lines skipped; the value is the rest of the line). Errors name the
 *  line or the secret, never a value. */
function checkSecretLines(text: string): { name: string; value: string }[] | string {
  const out: { name: string; value: string }[] = []
  const lines = text.split('\n')
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!.replace(/\r$/, '')
    if (line.trim() === '') continue
    const eq = line.indexOf('=')
    const name = eq > 0 ? line.slice(0, eq).trim() : ''
    if (!SECRET_NAME.test(name) || name.length > 128) {
      return `Line ${i + 1}: write NAME=VALUE; a name is letters, digits and _, not starting with a digit.`
    }
    if (out.some((s) => s.name === name)) return `${name} is given twice.`
    out.push({ name, value: line.slice(eq + 1) })
  }
  if (out.length > LIMITS.secrets) return `At most ${LIMITS.secrets} secrets.`
  const size = new TextEncoder().encode(
    JSON.stringify(Object.fromEntries(out.map((s) => [s.name, s.value]))),
  ).length
  if (size > LIMITS.secretsBytes) {
    return `Secrets take at most ${LIMITS.secretsBytes.toLocaleString('en-US')} bytes together.`
  }
  return out
}
