// Confirms an unsigned report of a record change (a Jetstream event) with the author's own PDS:
// com.atproto.sync.getRecord returns the signed commit and the MST path to the record (or to
// where it would be), and @atproto/repo checks both against the DID's signing key. Only what
// the PDS proves acts; the record that acts is the PDS's copy.
import { isDeepStrictEqual } from 'node:util'
import { parseCid } from '@atproto/lex-data'
import { jsonToLex } from '@atproto/lexicon'
import {
  cborToLex,
  cborToLexRecord,
  cidForRecord,
  readCar,
  readCarWithRoot,
  RepoVerificationError,
  verifyProofs,
  verifyRecords,
} from '@atproto/repo'
import type { IdentityResolver } from '../identity/resolver.js'

/** A getRecord answer is the commit, a few MST nodes and the record: small. */
const MAX_PROOF_BYTES = 2 * 1024 * 1024

export interface Claim {
  did: string
  collection: string
  rkey: string
  /** The claimed CID of the new version; null for a delete. */
  cid: string | null
  /** The claimed record (JSON), compared with the PDS's copy. */
  record?: unknown
}

/** What the author's PDS proves about the record now: present (the version and record) or
 *  absent, at the commit `rev`. */
export type CurrentState = { rev: string; cid?: string; record?: unknown }

export type Confirmation =
  | { ok: true; cid?: string; record?: unknown }
  | {
      ok: false
      reason: string
      /** When asked for and the proof verifies: what the PDS has instead of the claim. */
      current?: CurrentState
    }

export async function confirmClaim(
  identity: IdentityResolver,
  claim: Claim,
  timeoutMs = 10_000,
  /** On a mismatch, also say what the PDS has (signed) instead. */
  wantCurrent = false,
): Promise<Confirmation> {
  let cid
  try {
    cid = claim.cid === null ? null : parseCid(claim.cid)
  } catch {
    return { ok: false, reason: `not confirmed: ${String(claim.cid)} is not a CID` }
  }
  let proof: Uint8Array
  try {
    const { pds } = await identity.resolveDid(claim.did)
    const url = new URL('/xrpc/com.atproto.sync.getRecord', pds)
    url.searchParams.set('did', claim.did)
    url.searchParams.set('collection', claim.collection)
    url.searchParams.set('rkey', claim.rkey)
    const res = await identity.fetch(url, { signal: AbortSignal.timeout(timeoutMs) })
    if (!res.ok) {
      await res.body?.cancel()
      return { ok: false, reason: `not confirmed: the author's PDS answered ${res.status}` }
    }
    const length = Number(res.headers.get('content-length') ?? 0)
    if (length > MAX_PROOF_BYTES) {
      await res.body?.cancel()
      return { ok: false, reason: 'not confirmed: the proof is oversized' }
    }
    proof = new Uint8Array(await res.arrayBuffer())
    if (proof.byteLength > MAX_PROOF_BYTES) {
      return { ok: false, reason: 'not confirmed: the proof is oversized' }
    }
  } catch (err) {
    return {
      ok: false,
      reason: `not confirmed: the author's PDS is unreachable (${messageOf(err)})`,
    }
  }
  const claims = [{ collection: claim.collection, rkey: claim.rkey, cid }]
  let verified
  try {
    verified = await verify(identity, claim.did, proof, claims, false)
  } catch (err) {
    return { ok: false, reason: `not confirmed: the proof does not verify (${messageOf(err)})` }
  }
  if (verified.length === 0) {
    const reason =
      cid === null
        ? 'not confirmed: the PDS still has the record'
        : 'not confirmed: the PDS does not have this version of the record'
    if (!wantCurrent) return { ok: false, reason }
    const current = await currentState(identity, claim, proof).catch(() => undefined)
    return { ok: false, reason, ...(current ? { current } : {}) }
  }
  if (cid === null) return { ok: true }
  // The CID is proven; the bytes are the block with that CID, checked against it on reading.
  const car = await readCar(proof)
  const bytes = car.blocks.get(cid)
  if (!bytes) return { ok: false, reason: 'not confirmed: the proof lacks the record' }
  const record = cborToLexRecord(bytes)
  if (claim.record !== undefined) {
    let claimed
    try {
      claimed = jsonToLex(claim.record as Parameters<typeof jsonToLex>[0])
    } catch {
      claimed = undefined
    }
    if (!isDeepStrictEqual(normal(claimed), normal(record))) {
      return { ok: false, reason: "not confirmed: the record differs from the PDS's copy" }
    }
  }
  return { ok: true, cid: claim.cid!, record }
}

/** Verifies with the cached key; on failure once more with a freshly resolved one (the DID may
 *  have rotated its key since it was cached). */
async function verify(
  identity: IdentityResolver,
  did: string,
  proof: Uint8Array,
  claims: Parameters<typeof verifyProofs>[1],
  fresh: boolean,
): Promise<Parameters<typeof verifyProofs>[1]> {
  const key = await identity.idResolver.did.resolveAtprotoKey(did, fresh)
  try {
    return (await verifyProofs(proof, claims, did, key)).verified
  } catch (err) {
    if (err instanceof RepoVerificationError && !fresh) {
      return verify(identity, did, proof, claims, true)
    }
    throw err
  }
}

/** The record's proven state in a getRecord proof (whose signature was checked already, and is
 *  checked again here by @atproto/repo): its version and value, or its absence. */
async function currentState(
  identity: IdentityResolver,
  claim: Claim,
  proof: Uint8Array,
): Promise<CurrentState> {
  const key = await identity.idResolver.did.resolveAtprotoKey(claim.did)
  const records = await verifyRecords(proof, claim.did, key)
  const { root, blocks } = await readCarWithRoot(proof)
  const rev = (cborToLex(blocks.get(root)!) as { rev: string }).rev
  const found = records.find((r) => r.collection === claim.collection && r.rkey === claim.rkey)
  if (!found?.record) return { rev }
  return { rev, cid: (await cidForRecord(found.record)).toString(), record: found.record }
}

/** Plain data for comparison: class instances (CIDs, bytes) by their JSON form. */
function normal(v: unknown): unknown {
  return JSON.parse(JSON.stringify(v ?? null)) as unknown
}

function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err)
}
