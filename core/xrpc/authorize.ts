// Who may call what (DESIGN §7). Pure: the caller's DID (from a verified service-auth token)
// and the facts the meshlet knows. Every refusal carries a sentence for the caller.
import { AtUri } from '@atproto/syntax'

/** Cluster members (owners and their meshlets) may read; a workload's owner reads and stops
 *  their own workload here; only this meshlet's owner pauses or resumes it. */
export type Rule = 'member' | 'workload-owner' | 'meshlet-owner'

export interface AuthzFacts {
  /** This meshlet's owner. */
  owner: string
  /** DIDs of the cluster: mutual owners and their verified meshlets (our owner included). */
  members: ReadonlySet<string>
  /** For workload methods: the workload's at-uri. */
  workloadUri?: string
}

export type Decision = { ok: true } | { ok: false; reason: string }

export function authorize(rule: Rule, caller: string, facts: AuthzFacts): Decision {
  switch (rule) {
    case 'member':
      return caller === facts.owner || facts.members.has(caller)
        ? { ok: true }
        : { ok: false, reason: `${caller} is not a member of this meshlet's cluster` }
    case 'meshlet-owner':
      return caller === facts.owner
        ? { ok: true }
        : { ok: false, reason: `only this meshlet's owner (${facts.owner}) may do this` }
    case 'workload-owner': {
      const owner = workloadOwner(facts.workloadUri)
      if (owner === undefined) return { ok: false, reason: 'not a workload at-uri with a DID' }
      return caller === owner
        ? { ok: true }
        : { ok: false, reason: `only the workload's owner (${owner}) may do this` }
    }
  }
}

/** The DID that owns a workload: its at-uri's authority (a handle there counts as no owner,
 *  since a handle can change hands). */
export function workloadOwner(uri: string | undefined): string | undefined {
  if (!uri) return undefined
  try {
    const host = new AtUri(uri).host
    return host.startsWith('did:') ? host : undefined
  } catch {
    return undefined
  }
}
