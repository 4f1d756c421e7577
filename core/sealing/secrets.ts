// Workload secrets: the owner's side seals the values, once per meshlet that may run the workload
// and once to the owner's own key, into a commune.scheduler.workloadSecrets record with the
// workload's record key. The record holds ciphertext and public keys only. The owner's own box is
// what lets the owner's app or daemon share the values later with a meshlet that joined after the
// workload was submitted, without keeping a plaintext copy anywhere.
import { AtUri } from '@atproto/syntax'
import { checkRecord, NSID, type WorkloadSecretsRecord } from '../lexicon/index.js'
import type { RepoReader } from '../repo/reader.js'
import { open, OpenError, sameKey, seal, type SealingKeyPair } from './box.js'

/** A name as a POSIX shell would take it: Docker passes it on unchanged. */
const NAME = /^[A-Za-z_][A-Za-z0-9_]{0,127}$/
export const MAX_SECRETS = 16
/** All values together, in bytes of their JSON form: a box must stay under 8 KiB. */
export const MAX_SECRETS_BYTES = 4096
/** The lexicon's bound on boxes per record (meshlets + the owner). */
export const MAX_BOXES = 64

/** The reason a winner shows while it cannot open a workload's secrets. A contract: the owner's
 *  side looks for it to know whom to share with. */
export const WAITING_FOR_SECRETS = 'waiting for its owner to share its secrets'

export type Secrets = Map<string, string>

export class SecretsError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options)
    this.name = 'SecretsError'
  }
}

/** Checks names and sizes. Messages name the secret, never its value. */
export function checkSecrets(secrets: Secrets): void {
  if (secrets.size > MAX_SECRETS) {
    throw new SecretsError(`at most ${MAX_SECRETS} secrets per workload (${secrets.size} given)`)
  }
  for (const [name, value] of secrets) {
    if (!NAME.test(name)) {
      throw new SecretsError(
        `secret name ${JSON.stringify(name.slice(0, 140))} must be letters, digits and _, not starting with a digit`,
      )
    }
    if (value.includes('\0')) throw new SecretsError(`secret ${name} contains a NUL byte`)
  }
  const size = Buffer.byteLength(encodeSecrets(secrets))
  if (size > MAX_SECRETS_BYTES) {
    throw new SecretsError(`secrets take ${size} bytes; at most ${MAX_SECRETS_BYTES} together`)
  }
}

function encodeSecrets(secrets: Secrets): string {
  return JSON.stringify(Object.fromEntries([...secrets].sort(([a], [b]) => (a < b ? -1 : 1))))
}

function decodeSecrets(bytes: Uint8Array): Secrets {
  const parsed = JSON.parse(Buffer.from(bytes).toString('utf8')) as unknown
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    throw new SecretsError('sealed secrets are not an object')
  }
  const out: Secrets = new Map()
  for (const [k, v] of Object.entries(parsed)) {
    if (typeof v !== 'string') throw new SecretsError(`sealed secret ${k} is not a string`)
    out.set(k, v)
  }
  checkSecrets(out)
  return out
}

/** What a box is bound to: this workload and this recipient. */
export function secretsContext(workloadUri: string, recipient: string): string {
  return `${NSID.workloadSecrets}|${workloadUri}|${recipient}`
}

export interface Recipient {
  did: string
  publicKey: Uint8Array
}

export type Box = WorkloadSecretsRecord['boxes'][number]

export function sealFor(secrets: Secrets, workloadUri: string, to: Recipient): Box {
  const plain = new TextEncoder().encode(encodeSecrets(secrets))
  return {
    recipient: to.did as Box['recipient'],
    publicKey: to.publicKey,
    sealed: seal(plain, to.publicKey, secretsContext(workloadUri, to.did)),
  }
}

/** The record body for `secrets`, sealed to each recipient (the owner among them). */
export function secretsRecord(
  secrets: Secrets,
  workloadUri: string,
  recipients: Recipient[],
  now = new Date(),
): Omit<WorkloadSecretsRecord, '$type'> {
  checkSecrets(secrets)
  const unique = [...new Map(recipients.map((r) => [r.did, r])).values()]
  if (unique.length > MAX_BOXES) {
    throw new SecretsError(`can seal to at most ${MAX_BOXES} meshlets (${unique.length} eligible)`)
  }
  return {
    workload: workloadUri as WorkloadSecretsRecord['workload'],
    boxes: unique.map((r) => sealFor(secrets, workloadUri, r)),
    updatedAt: now.toISOString() as WorkloadSecretsRecord['updatedAt'],
  }
}

/** Why a recipient cannot open a workload's secrets (named, for logs and the UI). */
export type SecretsMissing =
  | 'no-record'
  | 'invalid-record'
  | 'not-shared'
  | 'sealed-to-old-key'
  | 'cannot-open'
  | 'names-missing'

export type OpenedSecrets = { ok: true; secrets: Secrets } | { ok: false; why: SecretsMissing }

/** Opens the box for `did` in a workload's secrets record. Never throws for bad input. */
export function openSecrets(
  value: unknown,
  workloadUri: string,
  did: string,
  keys: SealingKeyPair,
  names: readonly string[] = [],
): OpenedSecrets {
  if (value === undefined) return { ok: false, why: 'no-record' }
  const check = checkRecord(NSID.workloadSecrets, value)
  if (!check.ok || check.value.workload !== workloadUri) return { ok: false, why: 'invalid-record' }
  const box = check.value.boxes.find((b) => b.recipient === did)
  if (!box) return { ok: false, why: 'not-shared' }
  if (!sameKey(box.publicKey, keys.publicKey)) return { ok: false, why: 'sealed-to-old-key' }
  let secrets: Secrets
  try {
    secrets = decodeSecrets(open(box.sealed, keys, secretsContext(workloadUri, did)))
  } catch (err) {
    if (err instanceof OpenError || err instanceof SecretsError || err instanceof SyntaxError) {
      return { ok: false, why: 'cannot-open' }
    }
    throw err
  }
  if (names.some((n) => !secrets.has(n))) return { ok: false, why: 'names-missing' }
  return { ok: true, secrets }
}

/** The secrets record of a workload, read from its owner's repo. */
export async function readSecretsRecord(reader: RepoReader, workloadUri: string) {
  const at = new AtUri(workloadUri)
  return (await reader.get(at.host, NSID.workloadSecrets, at.rkey))?.value
}

/** Parses `NAME=VALUE`; the value may hold `=`. */
export function parseAssignment(raw: string, flag: string): [string, string] {
  const eq = raw.indexOf('=')
  if (eq <= 0) throw new SecretsError(`${flag} takes NAME=VALUE`)
  return [raw.slice(0, eq), raw.slice(eq + 1)]
}
