// The owner's workloads as the app publishes them: a draft from the submit form becomes a record
// (and sealed secrets), an edit rewrites the record as a new version, a delete removes it. Moved
// out of MeshletApp, which only checks that an owner is signed in and notes what happened.
import { AtUri } from '@atproto/syntax'
import { ApiError, type RestartMode, type WorkloadDraft, type WorkloadSpecView } from '../api.js'
import { checkRecord, NSID, type WorkloadRecord } from '../lexicon/index.js'
import type { RepoReader } from '../repo/reader.js'
import type { RepoWriter } from '../repo/writer.js'
import { publishWorkloadWithSecrets, type SealingKeyring } from '../sealing/index.js'

/** What publishing needs of the signed-in owner. */
export interface OwnerSide {
  reader: RepoReader
  writer: RepoWriter
  keys: SealingKeyring
}

/** The record fields a draft sets; the rest (createdAt, bidWindowMs, secrets, name, the
 *  meshlets a workload names) are the publisher's or an earlier version's. */
export function specFields(draft: WorkloadDraft): Partial<WorkloadRecord> {
  const restart = draft.restart
  return {
    image: draft.image,
    resources: {
      cpuMillis: draft.cpuMillis,
      memoryMiB: draft.memoryMiB,
      ...(draft.storageMiB !== undefined ? { storageMiB: draft.storageMiB } : {}),
    },
    replicas: draft.replicas,
    ...(draft.command.length > 0 ? { command: draft.command } : {}),
    ...(draft.env && draft.env.length > 0 ? { env: draft.env } : {}),
    network: draft.egress ? 'egress' : 'none',
    ...(draft.arch && draft.arch.length > 0 ? { constraints: { arch: draft.arch } } : {}),
    ...(restart
      ? {
          restartPolicy: {
            mode: restart.mode,
            ...(restart.maxAttempts !== undefined ? { maxAttempts: restart.maxAttempts } : {}),
            ...(restart.delayMs !== undefined ? { delayMs: restart.delayMs } : {}),
          },
        }
      : {}),
    ...(draft.maxRuntimeSeconds !== undefined
      ? { maxRuntimeMs: draft.maxRuntimeSeconds * 1000 }
      : {}),
  } as Partial<WorkloadRecord>
}

/** A published record as the edit form starts from it. */
export function specOf(record: WorkloadRecord): WorkloadSpecView {
  const r = record as WorkloadRecord & { maxRuntimeMs?: number }
  const restart = r.restartPolicy
  const mode = restart?.mode
  return {
    image: r.image,
    cpuMillis: r.resources.cpuMillis,
    memoryMiB: r.resources.memoryMiB,
    replicas: r.replicas,
    command: [...(r.command ?? [])],
    egress: r.network === 'egress',
    ...(r.env && r.env.length > 0
      ? { env: r.env.map((e) => ({ name: e.name, value: e.value })) }
      : {}),
    ...(r.resources.storageMiB !== undefined ? { storageMiB: r.resources.storageMiB } : {}),
    ...(r.constraints?.arch && r.constraints.arch.length > 0
      ? { arch: [...r.constraints.arch] }
      : {}),
    // A mode this app does not know (a newer publisher's) is shown as never rather than guessed.
    ...(restart && (mode === 'never' || mode === 'on-failure' || mode === 'always')
      ? {
          restart: {
            mode: mode as RestartMode,
            ...(restart.maxAttempts !== undefined ? { maxAttempts: restart.maxAttempts } : {}),
            ...(restart.delayMs !== undefined ? { delayMs: restart.delayMs } : {}),
          },
        }
      : {}),
    ...(r.maxRuntimeMs !== undefined
      ? { maxRuntimeSeconds: Math.ceil(r.maxRuntimeMs / 1000) }
      : {}),
    ...(r.secrets && r.secrets.length > 0 ? { secretNames: [...r.secrets] } : {}),
  }
}

/** Checks a record against the lexicon before it is written: what the PDS would store is what
 *  every meshlet will accept. */
function checked(record: Record<string, unknown>): Record<string, unknown> {
  const check = checkRecord(NSID.workload, { $type: NSID.workload, ...record })
  if (!check.ok) throw new ApiError('invalid-args', `not a valid workload: ${check.reason}`)
  return record
}

function unavailable(what: string) {
  return (err: unknown): never => {
    const message = err instanceof Error ? err.message : String(err)
    throw new ApiError('unavailable', `could not ${what}: ${message}`, { cause: err })
  }
}

/** Publishes a new workload; its round 0 opens at `now`. */
export async function submitWorkload(
  side: OwnerSide,
  draft: WorkloadDraft,
  opts: { bidWindowMs: number; now: Date },
): Promise<{ uri: string }> {
  const record = checked({
    ...specFields(draft),
    bidWindowMs: opts.bidWindowMs,
    createdAt: opts.now.toISOString(),
  })
  const secrets = new Map((draft.secrets ?? []).map((s) => [s.name, s.value]))
  const written = await publishWorkloadWithSecrets(side, record, secrets).catch(
    unavailable('publish the workload'),
  )
  return { uri: written.uri }
}

/** The at-uri of one of the owner's workloads, or not-found. */
function ownWorkload(owner: string, uri: string): AtUri {
  const at = new AtUri(uri)
  if (at.host !== owner || at.collection !== NSID.workload || at.rkey === '') {
    throw new ApiError('not-found', 'not one of your workloads')
  }
  return at
}

/**
 * Publishes a new version of a workload: the record as published now (read from the owner's
 * repo, not from what this app last saw), with the draft's spec and `updatedAt`. The new CID
 * opens a new round 0 at `updatedAt`; meshlets running the old version yield. What the form does
 * not show is kept: createdAt, the bid window, the name, the meshlets it names, its secrets.
 */
export async function updateWorkload(
  side: OwnerSide,
  uri: string,
  draft: WorkloadDraft,
  now: Date,
): Promise<{ uri: string; cid: string }> {
  const at = ownWorkload(side.writer.did, uri)
  const current = await side.reader
    .get(side.writer.did, NSID.workload, at.rkey)
    .catch(unavailable('read the workload'))
  if (current === undefined) throw new ApiError('not-found', 'that workload no longer exists')
  const was = checkRecord(NSID.workload, current.value)
  if (!was.ok) throw new ApiError('conflict', `the published workload is not valid: ${was.reason}`)
  const old = was.value
  // Only the form's fields are replaced; arch lives among constraints beside the meshlet lists.
  const { constraints: oldConstraints, ...kept } = old as WorkloadRecord & Record<string, unknown>
  for (const k of ['command', 'env', 'restartPolicy', 'maxRuntimeMs'] as const) delete kept[k]
  const spec = specFields(draft)
  const constraints = { ...oldConstraints, ...spec.constraints }
  if (!spec.constraints) delete constraints.arch
  const record = checked({
    ...kept,
    ...spec,
    ...(Object.keys(constraints).length > 0 ? { constraints } : {}),
    updatedAt: laterThan(old, now).toISOString(),
  })
  const written = await side.writer
    .put(NSID.workload, at.rkey, record)
    .catch(unavailable('publish the new version'))
  return { uri: written.uri, cid: written.cid }
}

/** A version opens at updatedAt: never at or before the one it replaces. */
function laterThan(old: WorkloadRecord, now: Date): Date {
  const before = Date.parse(old.updatedAt ?? old.createdAt)
  return Number.isFinite(before) && before >= now.getTime() ? new Date(before + 1) : now
}

/** Deletes a workload: every replica stops (DESIGN §1). */
export async function deleteWorkload(writer: RepoWriter, uri: string): Promise<string> {
  const at = ownWorkload(writer.did, uri)
  await writer.delete(NSID.workload, at.rkey).catch(unavailable('delete the workload'))
  return at.rkey
}
