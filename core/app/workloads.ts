// The owner's workloads as the app publishes them: a draft from the submit form becomes a record
// (and sealed secrets), an edit rewrites the record as a new version, a delete removes it. Moved
// out of MeshletApp, which only checks that an owner is signed in and notes what happened.
// Records are built and checked by core/spec, the same module `meshlet submit` and `update` use.
import { AtUri } from '@atproto/syntax'
import { ApiError, type RestartMode, type WorkloadDraft, type WorkloadSpecView } from '../api.js'
import { checkRecord, NSID, type WorkloadRecord } from '../lexicon/index.js'
import {
  buildWorkload,
  SpecError,
  updateWorkload as buildUpdate,
  type WorkloadOptions,
} from '../spec/index.js'
import type { RepoReader } from '../repo/reader.js'
import type { RepoWriter } from '../repo/writer.js'
import { publishWorkloadWithSecrets, type SealingKeyring } from '../sealing/index.js'
import { deleteWorkloadRecord, WorkloadDeleteError } from '../tombstone/delete.js'
import { publishVersion } from '../tombstone/update.js'

/** What publishing needs of the signed-in owner. */
export interface OwnerSide {
  reader: RepoReader
  writer: RepoWriter
  keys: SealingKeyring
}

/** A draft as core/spec's options: the whole spec, so an edit replaces every field the form
 *  shows (an empty one removes it) and keeps the rest. */
export function optionsOf(draft: WorkloadDraft): WorkloadOptions {
  const mode = draft.restart?.mode ?? 'never'
  return {
    image: draft.image,
    command: draft.command,
    cpuMillis: draft.cpuMillis,
    memoryMiB: draft.memoryMiB,
    storageMiB: draft.storageMiB ?? null,
    replicas: draft.replicas,
    env: draft.env ?? [],
    arch: draft.arch ?? [],
    egress: draft.egress ?? false,
    restart: mode,
    ...(mode !== 'never' && draft.restart?.maxAttempts !== undefined
      ? { restartAttempts: draft.restart.maxAttempts }
      : {}),
    ...(mode !== 'never' && draft.restart?.delayMs !== undefined
      ? { restartDelayMs: draft.restart.delayMs }
      : {}),
    maxRuntimeMs: draft.maxRuntimeSeconds !== undefined ? draft.maxRuntimeSeconds * 1000 : null,
    ...(draft.secrets ? { secrets: draft.secrets.map((x) => x.name) } : {}),
  }
}

/** Runs core/spec, whose refusals name the field, as the contract's invalid-args. */
function spec<T>(build: () => T): T {
  try {
    return build()
  } catch (err) {
    if (err instanceof SpecError) {
      throw new ApiError('invalid-args', `${err.field}: ${err.message}`, { cause: err })
    }
    throw err
  }
}

/** A published record as the edit form starts from it. */
export function specOf(record: WorkloadRecord): WorkloadSpecView {
  const r = record
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
  const record = {
    ...spec(() => buildWorkload({ ...optionsOf(draft), bidWindowMs: opts.bidWindowMs })),
    createdAt: opts.now.toISOString(),
  }
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
  if (was.value.deletedAt !== undefined) {
    throw new ApiError('not-found', 'that workload was deleted')
  }
  const old = was.value
  // Secrets stay as published (their sealed values cannot be read back into a form); the rest
  // of what the form does not show (name, bid window, the meshlets it names) core/spec keeps.
  const { secrets: _kept, ...options } = optionsOf(draft)
  const record = {
    ...spec(() => buildUpdate(old, options)),
    updatedAt: laterThan(old, now).toISOString(),
  }
  // The replaced version leaves a tombstone, so its usage keeps counting (core/tombstone).
  const written = await publishVersion(
    side,
    uri,
    { cid: current.cid, value: old },
    record as unknown as Record<string, unknown>,
    { now },
  ).catch(unavailable('publish the new version'))
  return { uri: written.uri, cid: written.cid }
}

/** A version opens at updatedAt: never at or before the one it replaces. */
function laterThan(old: WorkloadRecord, now: Date): Date {
  const before = Date.parse(old.updatedAt ?? old.createdAt)
  return Number.isFinite(before) && before >= now.getTime() ? new Date(before + 1) : now
}

/** Deletes a workload: every replica stops (DESIGN §1). The record stays as a tombstone for the
 *  retention period, so the rounds decided before keep their winners (core/tombstone); expired
 *  tombstones are removed on the way, and `warning` says why they could not be. */
export async function deleteWorkload(
  side: Pick<OwnerSide, 'reader' | 'writer'>,
  uri: string,
  now: Date,
): Promise<{ rkey: string; warning?: string }> {
  ownWorkload(side.writer.did, uri)
  try {
    const done = await deleteWorkloadRecord(side, uri, { now })
    return { rkey: done.rkey, ...(done.sweepError ? { warning: done.sweepError.message } : {}) }
  } catch (err) {
    if (!(err instanceof WorkloadDeleteError)) throw err
    const message = err.code === 'not-found' ? 'that workload no longer exists' : err.message
    throw new ApiError(err.code, message, { cause: err })
  }
}
