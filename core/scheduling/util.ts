// Small pure helpers shared by the scheduling modules: times, resources, URIs, record keys.
import { createHash } from 'node:crypto'
import { NSID, type Resources } from '../lexicon/index.js'

/** Milliseconds since the epoch for an atproto datetime; NaN when it does not parse. */
export function timeOf(datetime: string | undefined): number {
  if (datetime === undefined) return Number.NaN
  return Date.parse(datetime)
}

/** The DID in `at://did/collection/rkey`, or '' when the URI has no authority. */
export function authorityOf(uri: string): string {
  const rest = uri.startsWith('at://') ? uri.slice('at://'.length) : uri
  const slash = rest.indexOf('/')
  return slash === -1 ? rest : rest.slice(0, slash)
}

/** Plain code-unit order; localeCompare would differ between machines with different locales. */
export function compareStrings(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0
}

/** Membership in a list of DIDs, for any string (the lexicon types DIDs as template literals). */
export function listed(list: readonly string[] | undefined, value: string): boolean {
  return list !== undefined && list.includes(value)
}

// Storage absent on either side counts as zero: scratch space is a tmpfs, which is memory, so a
// lender that does not state it lends none.
function storage(r: Resources): number {
  return r.storageMiB ?? 0
}

/** Whether `need` fits into `have` in every dimension. */
export function fits(need: Resources, have: Resources): boolean {
  return (
    need.cpuMillis <= have.cpuMillis &&
    need.memoryMiB <= have.memoryMiB &&
    storage(need) <= storage(have)
  )
}

/** `a - b` per dimension, floored at zero. */
export function subtract(a: Resources, b: Resources): Resources {
  return {
    cpuMillis: Math.max(0, a.cpuMillis - b.cpuMillis),
    memoryMiB: Math.max(0, a.memoryMiB - b.memoryMiB),
    storageMiB: Math.max(0, storage(a) - storage(b)),
  }
}

export function add(a: Resources, b: Resources): Resources {
  return {
    cpuMillis: a.cpuMillis + b.cpuMillis,
    memoryMiB: a.memoryMiB + b.memoryMiB,
    storageMiB: storage(a) + storage(b),
  }
}

/** `r × factor` per dimension, rounded down (a factor below 1 counts as 1). */
export function scale(r: Resources, factor: number): Resources {
  const f = Number.isFinite(factor) ? Math.max(1, factor) : 1
  return {
    cpuMillis: Math.floor(r.cpuMillis * f),
    memoryMiB: Math.floor(r.memoryMiB * f),
    storageMiB: Math.floor(storage(r) * f),
  }
}

/**
 * The tie-break between equal priorities: sha256 of (workload URI, meshlet DID) in hex. Every peer
 * computes it alike, and it orders meshlets differently for every workload, so replicas spread
 * across meshlets instead of always landing on the lowest DIDs.
 */
export function spreadKey(workloadUri: string, meshlet: string): string {
  const input = `${workloadUri} ${meshlet}`
  let key = spreadKeys.get(input)
  if (key === undefined) {
    // Every plan ranks the same bids again; hashing them each time was most of a plan's cost.
    if (spreadKeys.size >= SPREAD_KEYS_KEPT) spreadKeys.clear()
    key = createHash('sha256').update(input, 'utf8').digest('hex')
    spreadKeys.set(input, key)
  }
  return key
}

// A memo, not state: the key is a pure function of its input. Bounded so a long-lived daemon
// does not keep keys of workloads long gone.
const SPREAD_KEYS_KEPT = 65_536
const spreadKeys = new Map<string, string>()

const BASE32 = 'abcdefghijklmnopqrstuvwxyz234567'

function base32(bytes: Uint8Array): string {
  let out = ''
  let buffer = 0
  let bits = 0
  for (const byte of bytes) {
    buffer = (buffer << 8) | byte
    bits += 8
    while (bits >= 5) {
      out += BASE32[(buffer >>> (bits - 5)) & 31]
      bits -= 5
    }
    buffer &= (1 << bits) - 1
  }
  if (bits > 0) out += BASE32[(buffer << (5 - bits)) & 31]
  return out
}

/**
 * The record key of a meshlet's bid (and status) for one round of one version of a workload: 26
 * base32 chars of sha256(workload URI, a space, the version's CID), a dash, the round.
 * Deterministic, so a meshlet can only ever hold one bid per (version, round), and a status sits
 * beside its bid. The version is part of it: a new version's round 0 must not overwrite the old
 * version's, whose usage the ledger keeps counting (core/tombstone).
 */
export function bidRkey(workloadUri: string, round: number, cid: string): string {
  const digest = createHash('sha256').update(`${workloadUri} ${cid}`, 'utf8').digest()
  return `${base32(digest).slice(0, 26)}-${round}`
}

export function bidUri(meshlet: string, workloadUri: string, round: number, cid: string): string {
  return `at://${meshlet}/${NSID.bid}/${bidRkey(workloadUri, round, cid)}`
}

export function statusUri(
  meshlet: string,
  workloadUri: string,
  round: number,
  cid: string,
): string {
  return `at://${meshlet}/${NSID.workloadStatus}/${bidRkey(workloadUri, round, cid)}`
}
