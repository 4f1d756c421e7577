// The owner's side of secrets: seal them when a workload is submitted, and share them later with a
// meshlet that won a round but could not open them (it joined the commune after the submission, or
// rotated its key). Sharing needs the plaintext, which the owner's side reads from its own box in
// the record: nothing is kept in plain text between runs.
import { AtUri } from '@atproto/syntax'
import {
  checkRecord,
  NSID,
  type WorkloadSecretsRecord,
  type WorkloadStatusRecord,
} from '../lexicon/index.js'
import type { Logger } from '../log.js'
import type { RepoReader } from '../repo/reader.js'
import type { RepoWriter } from '../repo/writer.js'
import { communeAround } from '../status.js'
import { sameKey } from './box.js'
import { meshletKeyOf, publishOwnerKey, type SealingKeyring } from './keys.js'
import {
  checkSecrets,
  MAX_BOXES,
  openSecrets,
  readSecretsRecord,
  sealFor,
  secretsRecord,
  SecretsError,
  WAITING_FOR_SECRETS,
  type Recipient,
  type Secrets,
} from './secrets.js'

export interface OwnerSealing {
  reader: RepoReader
  /** Signed in as the owner. */
  writer: RepoWriter
  /** The owner's key pair. */
  keys: SealingKeyring
}

/**
 * Seals `secrets` for the workload `workloadUri` (the owner's): to the owner's own key and to every
 * meshlet that may run it now (mutual members' meshlets with a published key). Writes the
 * workloadSecrets record with the workload's record key. Returns who got a box and which eligible
 * meshlets had no key to seal to (they will wait until they publish one and the owner shares).
 */
export async function sealWorkloadSecrets(
  side: OwnerSealing,
  workloadUri: string,
  secrets: Secrets,
): Promise<{ sealedTo: string[]; withoutKey: string[] }> {
  const owner = side.writer.did
  const at = new AtUri(workloadUri)
  if (at.host !== owner || at.collection !== NSID.workload) {
    throw new SecretsError(`${workloadUri} is not a workload of ${owner}`)
  }
  const pair = await side.keys.current()
  await publishOwnerKey(side.reader, side.writer, pair)
  const { meshlets, meshletOwners } = await communeAround(side.reader, owner)
  const recipients: Recipient[] = [{ did: owner, publicKey: pair.publicKey }]
  const withoutKey: string[] = []
  for (const m of meshlets) {
    const key = meshletOwners.get(m)?.sealingKey?.publicKey
    if (key && key.length === 32) recipients.push({ did: m, publicKey: key })
    else withoutKey.push(m)
  }
  const record = secretsRecord(secrets, workloadUri, recipients.slice(0, MAX_BOXES))
  await side.writer.put(NSID.workloadSecrets, at.rkey, record)
  return { sealedTo: recipients.map((r) => r.did), withoutKey }
}

/**
 * Publishes a workload with secrets: the record names them (`secrets`), the values go sealed into
 * the workloadSecrets record. Checked before anything is written; if sealing fails the workload is
 * deleted again, so no workload waits for secrets that will never come.
 */
export async function publishWorkloadWithSecrets(
  side: OwnerSealing,
  record: Record<string, unknown>,
  secrets: Secrets,
): Promise<{ uri: string; sealedTo: string[]; withoutKey: string[] }> {
  checkSecrets(secrets)
  const named = secrets.size > 0 ? { ...record, secrets: [...secrets.keys()].sort() } : record
  const written = await side.writer.create(NSID.workload, named)
  if (secrets.size === 0) return { uri: written.uri, sealedTo: [], withoutKey: [] }
  try {
    return { uri: written.uri, ...(await sealWorkloadSecrets(side, written.uri, secrets)) }
  } catch (err) {
    await side.writer.delete(NSID.workload, new AtUri(written.uri).rkey).catch(() => undefined)
    throw err
  }
}

export type ShareOutcome =
  | 'shared'
  /** The meshlet's box already matches its current key. */
  | 'already'
  /** Not ours, not eligible, no record, no key published, or our own box cannot be opened. */
  | 'refused'

export interface SharerOptions extends OwnerSealing {
  /** Whether a meshlet may run the owner's workloads (linkage verified, owners mutual). */
  isEligible: (meshlet: string) => boolean
  log?: Logger
}

/** Shares a workload's secrets with meshlets that ask by waiting. One share at a time per
 *  workload: each rewrites the same record. */
export class SecretsSharer {
  private readonly queues = new Map<string, Promise<unknown>>()

  constructor(private readonly opts: SharerOptions) {}

  share(workloadUri: string, meshlet: string): Promise<ShareOutcome> {
    const previous = this.queues.get(workloadUri) ?? Promise.resolve()
    const next = previous.then(() => this.shareNow(workloadUri, meshlet))
    const settled = next.catch(() => undefined)
    this.queues.set(workloadUri, settled)
    void settled.then(() => {
      if (this.queues.get(workloadUri) === settled) this.queues.delete(workloadUri)
    })
    return next
  }

  private async shareNow(workloadUri: string, meshlet: string): Promise<ShareOutcome> {
    const { reader, writer, keys, log } = this.opts
    const at = new AtUri(workloadUri)
    const refuse = (why: string): ShareOutcome => {
      log?.log('warn', 'secrets.refused', { workload: workloadUri, meshlet, why })
      return 'refused'
    }
    if (at.host !== writer.did || at.collection !== NSID.workload) return refuse('not our workload')
    // A stranger could publish a status that claims to wait: only meshlets that may run our
    // workloads ever get a box.
    if (!this.opts.isEligible(meshlet)) return refuse('not a mutual member’s meshlet')
    const value = await readSecretsRecord(reader, workloadUri)
    if (value === undefined) return refuse('the workload has no secrets record')
    const check = checkRecord(NSID.workloadSecrets, value)
    if (!check.ok) return refuse(`the secrets record is invalid: ${check.reason}`)
    const key = await meshletKeyOf(reader, meshlet)
    if (!key) return refuse('the meshlet has published no sealing key')
    const existing = check.value.boxes.find((b) => b.recipient === meshlet)
    if (existing && sameKey(existing.publicKey, key)) return 'already'
    const mine = openSecrets(value, workloadUri, writer.did, await keys.current())
    if (!mine.ok) return refuse(`cannot open the owner’s own copy (${mine.why})`)
    const boxes = check.value.boxes.filter((b) => b.recipient !== meshlet)
    if (boxes.length >= MAX_BOXES) return refuse(`already sealed to ${MAX_BOXES} recipients`)
    boxes.push(sealFor(mine.secrets, workloadUri, { did: meshlet, publicKey: key }))
    const record: Omit<WorkloadSecretsRecord, '$type'> = {
      workload: check.value.workload,
      boxes,
      updatedAt: new Date().toISOString() as WorkloadSecretsRecord['updatedAt'],
    }
    await writer.put(NSID.workloadSecrets, at.rkey, record)
    log?.log('info', 'secrets.shared', { workload: workloadUri, meshlet })
    return 'shared'
  }
}

/** A status by which a winner asks `owner` to share: it waits for the secrets of one of the
 *  owner's workloads. */
export function shareRequest(
  owner: string,
  meshlet: string,
  status: Pick<WorkloadStatusRecord, 'workload' | 'state' | 'message'>,
): { workloadUri: string; meshlet: string } | undefined {
  if (status.state !== 'starting' || status.message !== WAITING_FOR_SECRETS) return undefined
  const uri = status.workload.uri
  let at: AtUri
  try {
    at = new AtUri(uri)
  } catch {
    return undefined
  }
  if (at.host !== owner || at.collection !== NSID.workload) return undefined
  return { workloadUri: uri, meshlet }
}
