// Small factories for scheduling tests: records as peers would see them, and a cluster view.
import {
  NSID,
  type BidRecord,
  type Resources,
  type WorkloadRecord,
  type WorkloadStatusRecord,
} from '../../../core/lexicon/index.js'
import type {
  BidView,
  ClusterView,
  SelfState,
  StatusView,
  WorkloadView,
} from '../../../core/scheduling/index.js'
import { bidUri, statusUri } from '../../../core/scheduling/index.js'

export const T0 = Date.parse('2025-03-01T12:00:00.000Z')
export const SEC = 1000

export const ALICE = 'did:plc:alice'
export const BOB = 'did:plc:bob'
export const CAROL = 'did:plc:carol'
export const DAVE = 'did:plc:dave'
export const ALICE_M = 'did:plc:alicemesh'
export const BOB_M = 'did:plc:bobmesh'
export const CAROL_M = 'did:plc:carolmesh'
export const DAVE_M = 'did:plc:davemesh'

export const SMALL: Resources = { cpuMillis: 500, memoryMiB: 256 }

export function iso(ms: number): string {
  return new Date(ms).toISOString()
}

export interface WorkloadOpts {
  owner?: string
  rkey?: string
  cid?: string
  image?: string
  createdAt?: number
  updatedAt?: number
  replicas?: number
  resources?: Resources
  constraints?: WorkloadRecord['constraints']
  network?: string
  bidWindowMs?: number
  restartPolicy?: { mode: string; maxAttempts?: number; delayMs?: number }
}

export function workload(opts: WorkloadOpts = {}): WorkloadView {
  const owner = opts.owner ?? ALICE
  const record = {
    $type: NSID.workload,
    image: opts.image ?? 'commune-test/busybox:1',
    resources: opts.resources ?? SMALL,
    replicas: opts.replicas ?? 1,
    createdAt: iso(opts.createdAt ?? T0),
    ...(opts.updatedAt !== undefined ? { updatedAt: iso(opts.updatedAt) } : {}),
    ...(opts.constraints ? { constraints: opts.constraints } : {}),
    ...(opts.network ? { network: opts.network } : {}),
    ...(opts.bidWindowMs ? { bidWindowMs: opts.bidWindowMs } : {}),
    ...(opts.restartPolicy ? { restartPolicy: opts.restartPolicy } : {}),
  } as WorkloadRecord
  return {
    uri: `at://${owner}/${NSID.workload}/${opts.rkey ?? '3lwork0000000'}`,
    cid: opts.cid ?? 'bafyworkloadv1',
    owner,
    record,
  }
}

export interface BidOpts {
  round?: number
  priority?: number
  createdAt?: number
  offer?: Resources
  cid?: string
  workloadCid?: string
  workloadUri?: string
}

export function bid(meshlet: string, w: WorkloadView, opts: BidOpts = {}): BidView {
  const round = opts.round ?? 0
  const record = {
    $type: NSID.bid,
    workload: { uri: opts.workloadUri ?? w.uri, cid: opts.workloadCid ?? w.cid },
    round,
    priority: opts.priority ?? 0,
    offer: opts.offer ?? w.record.resources,
    createdAt: iso(opts.createdAt ?? T0 + SEC),
  } as BidRecord
  return {
    uri: bidUri(meshlet, w.uri, round, w.cid),
    cid: opts.cid ?? `bafybid-${meshlet}-${round}-${opts.priority ?? 0}`,
    meshlet,
    record,
  }
}

export interface StatusOpts {
  round?: number
  state?: string
  updatedAt: number
  exitCode?: number
  resources?: Resources
  wallMs?: number
  cid?: string
  workloadCid?: string
  workloadUri?: string
}

export function status(meshlet: string, w: WorkloadView, opts: StatusOpts): StatusView {
  const round = opts.round ?? 0
  const record = {
    $type: NSID.workloadStatus,
    workload: { uri: opts.workloadUri ?? w.uri, cid: opts.workloadCid ?? w.cid },
    round,
    state: opts.state ?? 'running',
    updatedAt: iso(opts.updatedAt),
    ...(opts.exitCode !== undefined ? { exitCode: opts.exitCode } : {}),
    ...(opts.resources ? { resources: opts.resources } : {}),
    ...(opts.wallMs !== undefined ? { usage: { wallMs: opts.wallMs } } : {}),
  } as WorkloadStatusRecord
  return {
    uri: statusUri(meshlet, opts.workloadUri ?? w.uri, round, opts.workloadCid ?? w.cid),
    cid: opts.cid ?? `bafystatus-${meshlet}-${round}-${opts.updatedAt}`,
    meshlet,
    record,
  }
}

/** A cluster where each listed meshlet is verified for its owner and every pair is mutual,
 *  except the pairs named in `notMutual`. */
export function cluster(
  owners: Record<string, string> = {
    [ALICE_M]: ALICE,
    [BOB_M]: BOB,
    [CAROL_M]: CAROL,
    [DAVE_M]: DAVE,
  },
  notMutual: [string, string][] = [],
): ClusterView {
  return {
    ownerOf: (m) => owners[m],
    isMutual: (a, b) =>
      a === b || !notMutual.some(([x, y]) => (x === a && y === b) || (x === b && y === a)),
  }
}

export function self(overrides: Partial<SelfState> = {}): SelfState {
  return {
    meshlet: BOB_M,
    owner: BOB,
    lending: true,
    paused: false,
    arch: 'amd64',
    offer: { cpuMillis: 4000, memoryMiB: 8192, storageMiB: 1024 },
    committed: { cpuMillis: 0, memoryMiB: 0, storageMiB: 0 },
    allowEgress: false,
    ...overrides,
  }
}
