// The two linkage records (DESIGN §1): the owner's repo names the meshlet, the meshlet's repo
// names the owner. Written by `meshlet link`, `meshlet init` and the app's "Link this machine".
import { NSID } from '../lexicon/index.js'
import type { RepoWriter, WrittenRecord } from './writer.js'

export class LinkageError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options)
    this.name = 'LinkageError'
  }
}

/** Writes both records (idempotent: rkeys are fixed, so a second run rewrites the same two). */
export async function publishLinkage(
  owner: RepoWriter,
  meshlet: RepoWriter,
  now: Date = new Date(),
): Promise<{ owner: WrittenRecord; meshlet: WrittenRecord }> {
  if (owner.did === meshlet.did) {
    throw new LinkageError('a meshlet needs its own account, not its owner’s')
  }
  const createdAt = now.toISOString()
  const a = await owner.put(NSID.meshlet, meshlet.did, { meshlet: meshlet.did, createdAt })
  const b = await meshlet.put(NSID.meshletOwner, 'self', { owner: owner.did, createdAt })
  return { owner: a, meshlet: b }
}
