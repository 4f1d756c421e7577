// Results: when a replica ends, its host seals the tail of its output and an exit summary to the
// workload owner's key and uploads it as a blob referenced from the final status record. The
// owner reads it later from the host's PDS, with the host offline. The PDS keeps a blob while a
// record references it, so deleting old status records (retention) removes their results too.
import { AtUri } from '@atproto/syntax'
import { checkRecord, NSID } from '../lexicon/index.js'
import type { RepoReader } from '../repo/reader.js'
import { communeAround } from '../status.js'
import { open, seal, type SealingKeyPair } from './box.js'

/** At most this much of a replica's output is kept (its end). */
export const RESULT_TAIL_BYTES = 64 * 1024
/** The lexicon's bound on the blob: the tail, the summary and the box's overhead fit. */
export const RESULT_MAX_BYTES = 128 * 1024
export const RESULT_MIME = 'application/octet-stream'

export interface ResultSummary {
  workload: string
  round: number
  meshlet: string
  state: string
  exitCode?: number
  oomKilled?: boolean
  startedAt?: string
  finishedAt: string
  /** The end of the output, stdout and stderr interleaved. */
  output: string
  /** Output before the tail was dropped. */
  truncated: boolean
}

export class ResultError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options)
    this.name = 'ResultError'
  }
}

export function resultContext(workloadUri: string, round: number, meshlet: string): string {
  return `${NSID.workloadStatus}#result|${workloadUri}|${round}|${meshlet}`
}

/** Keeps the last `max` bytes of `text`, cut at a character boundary. */
export function tailOf(
  text: string,
  max = RESULT_TAIL_BYTES,
): { output: string; truncated: boolean } {
  const bytes = Buffer.from(text, 'utf8')
  if (bytes.length <= max) return { output: text, truncated: false }
  let start = bytes.length - max
  // Skip UTF-8 continuation bytes so the tail starts on a whole character.
  while (start < bytes.length && (bytes[start]! & 0xc0) === 0x80) start++
  return { output: bytes.subarray(start).toString('utf8'), truncated: true }
}

export function sealResult(summary: ResultSummary, ownerKey: Uint8Array): Uint8Array {
  const plain = new TextEncoder().encode(JSON.stringify(summary))
  const box = seal(plain, ownerKey, resultContext(summary.workload, summary.round, summary.meshlet))
  if (box.length > RESULT_MAX_BYTES)
    throw new ResultError(`result of ${box.length} bytes is too large`)
  return box
}

export function openResult(
  box: Uint8Array,
  keys: SealingKeyPair,
  workloadUri: string,
  round: number,
  meshlet: string,
): ResultSummary {
  const plain = open(box, keys, resultContext(workloadUri, round, meshlet))
  const parsed = JSON.parse(Buffer.from(plain).toString('utf8')) as ResultSummary
  if (
    typeof parsed !== 'object' ||
    parsed === null ||
    parsed.workload !== workloadUri ||
    parsed.round !== round ||
    parsed.meshlet !== meshlet ||
    typeof parsed.output !== 'string'
  ) {
    throw new ResultError('the sealed result does not describe this replica')
  }
  return parsed
}

export type ReadResult =
  | { meshlet: string; round: number; state: string; ok: true; summary: ResultSummary }
  | { meshlet: string; round: number; state: string; ok: false; error: string }

/**
 * The sealed results of a workload, read from the PDSes of the meshlets that may have run it
 * (the commune around its owner), opened with the owner's key pair. Oldest round first.
 */
export async function readResults(
  reader: RepoReader,
  workloadUri: string,
  keys: SealingKeyPair,
): Promise<ReadResult[]> {
  const owner = new AtUri(workloadUri).host
  const { meshlets } = await communeAround(reader, owner)
  const out: ReadResult[] = []
  await Promise.all(
    meshlets.map(async (m) => {
      for (const r of await reader.listAll(m, NSID.workloadStatus).catch(() => [])) {
        const c = checkRecord(NSID.workloadStatus, r.value)
        if (!c.ok || c.value.workload.uri !== workloadUri || !c.value.result) continue
        const { round, state } = c.value
        const base = { meshlet: m, round, state }
        try {
          const cid = blobCid(c.value.result)
          const box = await reader.blob(m, cid, RESULT_MAX_BYTES)
          out.push({ ...base, ok: true, summary: openResult(box, keys, workloadUri, round, m) })
        } catch (err) {
          out.push({ ...base, ok: false, error: messageOf(err) })
        }
      }
    }),
  )
  return out.sort((a, b) => a.round - b.round || (a.meshlet < b.meshlet ? -1 : 1))
}

function blobCid(ref: { ref: { toString(): string } } | { cid: string }): string {
  return 'ref' in ref ? ref.ref.toString() : ref.cid
}

function messageOf(err: unknown): string {
  const parts: string[] = []
  for (let e: unknown = err; e instanceof Error; e = e.cause) parts.push(e.message)
  return parts.join(': ') || String(err)
}
