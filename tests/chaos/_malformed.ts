// Bad records of every kind, spread over every collection: oversized, of the wrong types, dated
// far ahead or before the protocol, with references to nothing, and valid ones from strangers.
// Each says whether a meshlet of the commune must drop it with a reason (schema or skew), or
// keep it harmlessly (a dangling reference, a stranger it never follows).
import { NSID } from '../../core/lexicon/index.js'
import type { Account } from '../_util.js'
import { TEST_IMAGE } from '../infra.js'

export interface BadRecord {
  kind: string
  by: Account
  collection: string
  /** For records with a fixed or derived key; otherwise created with a fresh TID. */
  rkey?: string
  record: Record<string, unknown>
  /** A meshlet that follows `by` must log `record.dropped` for it. */
  dropped: boolean
}

export interface Authors {
  /** A member's owner and meshlet account (followed by every daemon of the commune). */
  owner: Account
  meshlet: Account
  /** Someone outside the commune. */
  stranger: Account
  /** The CID of some real record, for references that are well formed but lead nowhere. */
  someCid: string
}

const DAY = 86_400_000
const resources = { cpuMillis: 100, memoryMiB: 32 }

/** `count` bad records, cycling over the kinds below so every kind and collection is hit. */
export function badRecords(a: Authors, count: number): BadRecord[] {
  const now = () => new Date().toISOString()
  const ahead = () => new Date(Date.now() + 40 * DAY).toISOString()
  const past = '1999-01-01T00:00:00.000Z'
  const nowhere = (i: number) => ({
    uri: `at://${a.owner.did}/${NSID.workload}/3kchaosnowhere${String(i).padStart(4, '0')}`,
    cid: a.someCid,
  })
  const badRef = { uri: 'not-an-at-uri', cid: 'not-a-cid' }
  const workload = (extra: Record<string, unknown>) => ({
    image: TEST_IMAGE,
    command: ['sleep', '600'],
    resources,
    replicas: 1,
    createdAt: now(),
    ...extra,
  })
  const bid = (i: number, extra: Record<string, unknown>) => ({
    workload: nowhere(i),
    round: 0,
    priority: 0,
    offer: resources,
    createdAt: now(),
    ...extra,
  })
  const status = (i: number, extra: Record<string, unknown>) => ({
    workload: nowhere(i),
    round: 0,
    state: 'running',
    updatedAt: now(),
    ...extra,
  })
  const presence = (extra: Record<string, unknown>) => ({
    state: 'lending',
    replicas: [],
    seq: 1,
    updatedAt: now(),
    ...extra,
  })
  const W = NSID.workload
  type Kind = [string, (i: number) => Omit<BadRecord, 'kind'>]
  const kinds: Kind[] = [
    // Oversized.
    ['workload image too long', () => drop(a.owner, W, workload({ image: 'x'.repeat(600) }))],
    [
      'workload command too many args',
      () => drop(a.owner, W, workload({ command: Array(65).fill('a') })),
    ],
    [
      'workload command arg of 100 kB',
      () => drop(a.owner, W, workload({ command: ['sh', 'y'.repeat(100_000)] })),
    ],
    ['workload name of 100 kB', () => drop(a.owner, W, workload({ name: 'n'.repeat(100_000) }))],
    [
      'status message of 100 kB',
      (i) =>
        drop(a.meshlet, NSID.workloadStatus, status(i, { message: 'z'.repeat(100_000) }), `s${i}`),
    ],
    [
      'presence of 1001 replicas (~100 kB)',
      (i) =>
        drop(
          a.meshlet,
          NSID.presence,
          presence({
            replicas: Array.from({ length: 1001 }, () => ({ workload: nowhere(i), round: 0 })),
          }),
          'self',
        ),
    ],
    // Wrong types.
    ['workload replicas a string', () => drop(a.owner, W, workload({ replicas: 'two' }))],
    ['workload replicas 0', () => drop(a.owner, W, workload({ replicas: 0 }))],
    ['workload resources a string', () => drop(a.owner, W, workload({ resources: 'lots' }))],
    [
      'workload without image',
      () => drop(a.owner, W, { resources, replicas: 1, createdAt: now() }),
    ],
    ['bid round -1', (i) => drop(a.meshlet, NSID.bid, bid(i, { round: -1 }), `b${i}`)],
    [
      'bid priority a string',
      (i) => drop(a.meshlet, NSID.bid, bid(i, { priority: 'high' }), `b${i}`),
    ],
    [
      'status state a number',
      (i) => drop(a.meshlet, NSID.workloadStatus, status(i, { state: 42 }), `s${i}`),
    ],
    ['presence seq -5', () => drop(a.meshlet, NSID.presence, presence({ seq: -5 }), 'self')],
    [
      'membership members a string',
      () => drop(a.meshlet, NSID.membership, { members: 'everyone', createdAt: now() }, 'self'),
    ],
    [
      'meshletOwner owner a number',
      () => drop(a.meshlet, NSID.meshletOwner, { owner: 42, createdAt: now() }, 'self'),
    ],
    [
      'meshlet record meshlet a number',
      (i) => drop(a.owner, NSID.meshlet, { meshlet: 12, createdAt: now() }, `m${i}`),
    ],
    ['sealingKey key a number', () => drop(a.owner, NSID.sealingKey, { key: 5 }, 'self')],
    [
      'workloadSecrets of the wrong types',
      (i) =>
        drop(
          a.owner,
          NSID.workloadSecrets,
          { workload: 'x', boxes: 'y', updatedAt: now() },
          `k${i}`,
        ),
    ],
    // Dated far ahead or before the protocol.
    ['workload 40 days ahead', () => drop(a.owner, W, workload({ createdAt: ahead() }))],
    ['workload from 1999', () => drop(a.owner, W, workload({ createdAt: past }))],
    ['workload updated 40 days ahead', () => drop(a.owner, W, workload({ updatedAt: ahead() }))],
    [
      'bid 40 days ahead',
      (i) => drop(a.meshlet, NSID.bid, bid(i, { createdAt: ahead() }), `b${i}`),
    ],
    [
      'status 40 days ahead',
      (i) => drop(a.meshlet, NSID.workloadStatus, status(i, { updatedAt: ahead() }), `s${i}`),
    ],
    // References that are malformed, or well formed and lead nowhere.
    [
      'bid with a malformed ref',
      (i) => drop(a.meshlet, NSID.bid, bid(i, { workload: badRef }), `b${i}`),
    ],
    ['bid for no workload', (i) => keep(a.meshlet, NSID.bid, bid(i, {}), `b${i}`)],
    [
      'status running for no workload',
      (i) => keep(a.meshlet, NSID.workloadStatus, status(i, {}), `s${i}`),
    ],
    [
      'meshlet record naming a DID nobody has',
      (i) => {
        const did = `did:plc:chaosnobody${String(i).padStart(13, '0')}`
        return keep(a.owner, NSID.meshlet, { meshlet: did, createdAt: now() }, did)
      },
    ],
    // Strangers: valid records from someone the commune does not follow.
    ['stranger’s workload', () => keep(a.stranger, W, workload({}))],
    ['stranger’s bid', (i) => keep(a.stranger, NSID.bid, bid(i, {}), `b${i}`)],
  ]
  return Array.from({ length: count }, (_, i) => {
    const [kind, make] = kinds[i % kinds.length]!
    return { kind, ...make(i) }
  })
}

function drop(by: Account, collection: string, record: Record<string, unknown>, rkey?: string) {
  return { by, collection, record, dropped: true, ...(rkey ? { rkey } : {}) }
}

function keep(by: Account, collection: string, record: Record<string, unknown>, rkey?: string) {
  return { by, collection, record, dropped: false, ...(rkey ? { rkey } : {}) }
}

/** Writes the records, a few at a time (a flood, not a queue); returns the at-uri of each. */
export async function publishAll(records: BadRecord[], parallel = 6): Promise<string[]> {
  const uris: string[] = Array(records.length)
  let next = 0
  const worker = async () => {
    for (let i = next++; i < records.length; i = next++) {
      const r = records[i]!
      const written = r.rkey
        ? await r.by.session.put(r.collection, r.rkey, r.record)
        : await r.by.session.create(r.collection, r.record)
      uris[i] = written.uri
    }
  }
  await Promise.all(Array.from({ length: parallel }, worker))
  return uris
}

/** The bytes of the records as JSON, for the report. */
export const bytesOf = (records: BadRecord[]) =>
  records.reduce((n, r) => n + JSON.stringify(r.record).length, 0)
