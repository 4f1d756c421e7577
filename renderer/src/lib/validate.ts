// Client-side checks that mirror the core's (core/api.ts LIMITS and validateArgs), so a form
// says what is wrong beside the field before anything is sent. The core checks again anyway.
import { LIMITS, validateArgs, type WorkloadDraft } from '../../../core/api.js'
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
}

export type WorkloadField = keyof WorkloadForm

export type DraftCheck =
  { ok: true; draft: WorkloadDraft } | { ok: false; errors: Partial<Record<WorkloadField, string>> }

const IMAGE = /^[a-zA-Z0-9][a-zA-Z0-9._\-/:@]*$/

function wholeNumber(text: string, label: string, min: number, max: number): number | string {
  const t = text.trim()
  if (t === '') return `Enter ${label}.`
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
  const errors: Partial<Record<WorkloadField, string>> = {}
  const image = form.image.trim()
  if (image === '') errors.image = 'Enter an image, like registry.example/app:1.2.'
  else if (image.length > LIMITS.image) {
    errors.image = `An image reference is at most ${LIMITS.image} characters.`
  } else if (!IMAGE.test(image)) {
    errors.image = 'An image reference has no spaces and starts with a letter or digit.'
  }

  const cpu = wholeNumber(form.cpuMillis, 'the CPU in millicores', 1, LIMITS.cpuMillis)
  if (typeof cpu === 'string') errors.cpuMillis = cpu
  const memory = wholeNumber(
    form.memoryMiB,
    'the memory in MiB',
    LIMITS.minMemoryMiB,
    LIMITS.memoryMiB,
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

  if (
    typeof secrets === 'string' ||
    Object.keys(errors).length > 0 ||
    typeof cpu !== 'number' ||
    typeof memory !== 'number' ||
    typeof replicas !== 'number'
  ) {
    return { ok: false, errors }
  }
  return {
    ok: true,
    draft: {
      image,
      cpuMillis: cpu,
      memoryMiB: memory,
      replicas,
      command,
      ...(secrets.length > 0 ? { secrets } : {}),
    },
  }
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
