// The OAuth scopes of each role, apart from the OAuth client: the app checks a restored session's
// granted scope against them without loading the client.
import type { Role } from '../api.js'
import { NSID, type Collection } from '../lexicon/index.js'
import { RESULT_MIME } from '../sealing/results.js'

const ROLE_COLLECTIONS: Record<Role, readonly Collection[]> = {
  owner: [NSID.workload, NSID.meshlet, NSID.sealingKey, NSID.workloadSecrets],
  meshlet: [
    NSID.meshletOwner,
    NSID.membership,
    NSID.bid,
    NSID.workloadStatus,
    NSID.presence,
    NSID.challenge,
    NSID.settlement,
  ],
}

/** Blobs a role uploads: a meshlet seals each ended replica's output to its owner as a blob. */
const ROLE_BLOBS: Record<Role, readonly string[]> = {
  owner: [],
  meshlet: [RESULT_MIME],
}

/** The narrowest scope a role needs: create, update and delete in its own collections only. */
export function scopeFor(role: Role): string {
  if (!Object.hasOwn(ROLE_COLLECTIONS, role)) throw new TypeError(`unknown role: ${String(role)}`)
  const collections = ROLE_COLLECTIONS[role]
  return [
    'atproto',
    ...collections.map((c) => `repo:${c}`),
    ...ROLE_BLOBS[role].map((mime) => `blob:${mime}`),
  ].join(' ')
}

/** What a granted scope lacks of the role's (`scopeFor`): a session granted by an older version
 *  of the app, before the role needed a new collection, cannot write it. */
export function missingScopes(granted: string, role: Role): string[] {
  const have = new Set(granted.split(/\s+/).filter(Boolean))
  return scopeFor(role)
    .split(' ')
    .filter((s) => !have.has(s))
}

/** What the client may ever ask for: the union of the roles' scopes. A sign-in asks for its
 *  role's part, which the server checks is declared here. */
export function clientScope(): string {
  return [...new Set(Object.keys(ROLE_COLLECTIONS).flatMap((r) => scopeFor(r as Role).split(' ')))]
    .sort((a, b) => (a === 'atproto' ? -1 : b === 'atproto' ? 1 : a.localeCompare(b)))
    .join(' ')
}
