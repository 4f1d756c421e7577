// What this meshlet says about itself, from the lender's settings and its own state: the
// membership record owners read (whom it recognises, whether and what it lends, and its policy,
// so an owner whose workload waits can see why it does not bid), and the planner's view of it
// (`SelfState`: what its guests hold). Pure.
import type { Resources } from '../lexicon/index.js'
import type { SelfState } from '../scheduling/index.js'

/** The lender's image policy; absent fields: no restriction. */
export interface ImagePolicy {
  allowRegistries?: string[]
  maxImageMiB?: number
}

/** A copy of the policy's set fields only. */
export function imagePolicyOf(p: ImagePolicy): ImagePolicy {
  return {
    ...(p.allowRegistries !== undefined ? { allowRegistries: [...p.allowRegistries] } : {}),
    ...(p.maxImageMiB !== undefined ? { maxImageMiB: p.maxImageMiB } : {}),
  }
}

/** The lender's settings and the meshlet's state that its records and plans depend on. */
export interface Lender {
  meshlet: string
  owner: string
  /** Owners this meshlet recognises besides its own. */
  members: readonly string[]
  /** The lender lends at all (the daemon's flag). */
  lending: boolean
  /** Paused by the user, the system or the rules. */
  paused: boolean
  offer: Resources
  allowEgress: boolean
  minBalance?: number
  imagePolicy: ImagePolicy
  /** Whether Docker answers; undefined before the first answer. */
  dockerAvailable: boolean | undefined
  /** A container runtime is configured (without one the meshlet follows but never bids). */
  hasRuntime: boolean
  /** Docker's name for this machine's architecture. */
  arch: string
}

/** Lending now: lending, not paused, and Docker not known to be away. */
export function isLending(l: Lender): boolean {
  return l.lending && !l.paused && l.dockerAvailable !== false
}

/** The `commune.scheduler.membership` record (without `$type`). */
export function membershipRecord(l: Lender, now: number) {
  return {
    members: [...new Set([l.owner, ...l.members])],
    lending: isLending(l),
    offer: l.offer,
    // Its policy, so an owner whose workload waits can see why this meshlet does not bid.
    paused: l.paused,
    arch: l.arch,
    allowEgress: l.allowEgress,
    ...(l.minBalance !== undefined ? { minBalance: l.minBalance } : {}),
    ...imagePolicyOf(l.imagePolicy),
    ...(l.dockerAvailable === false ? { dockerAvailable: false } : {}),
    createdAt: new Date(now).toISOString(),
  }
}

/** The planner's view of this meshlet. Guests (running, created or restarting containers of
 *  known workloads) hold capacity; open bids and wins about to start are the plan's to count. */
export function selfStateOf(
  l: Lender,
  replicas: readonly { workloadUri: string; state: string }[],
  resourcesOf: (workloadUri: string) => Resources | undefined,
): SelfState {
  const committed = { cpuMillis: 0, memoryMiB: 0, storageMiB: 0 }
  for (const r of replicas) {
    if (r.state !== 'running' && r.state !== 'created' && r.state !== 'restarting') continue
    const held = resourcesOf(r.workloadUri)
    if (!held) continue
    committed.cpuMillis += held.cpuMillis
    committed.memoryMiB += held.memoryMiB
    committed.storageMiB += held.storageMiB ?? 0
  }
  return {
    meshlet: l.meshlet,
    owner: l.owner,
    lending: l.lending && l.hasRuntime,
    paused: l.paused,
    arch: l.arch,
    offer: l.offer,
    committed,
    allowEgress: l.allowEgress,
    ...(l.imagePolicy.allowRegistries ? { allowRegistries: l.imagePolicy.allowRegistries } : {}),
    dockerAvailable: l.dockerAvailable !== false,
  }
}
