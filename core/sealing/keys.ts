// Where a sealing key pair rests and where its public half is published. The private key lives in
// a SecretStore: the OS keychain in the desktop app (safeStorage), a file readable by its user only
// for the daemon and the CLI. It never leaves that store except into memory.
import { checkRecord, NSID, type SealingKey } from '../lexicon/index.js'
import type { RepoReader } from '../repo/reader.js'
import type { RepoWriter } from '../repo/writer.js'
import type { SecretStore } from '../secrets.js'
import {
  generateKeyPair,
  isPublicKey,
  publicKeyOf,
  sameKey,
  SEALING_ALGORITHM,
  type SealingKeyPair,
} from './box.js'

export class SealingKeyError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options)
    this.name = 'SealingKeyError'
  }
}

/** One DID's key pair in a SecretStore. */
export class SealingKeyring {
  private cached?: SealingKeyPair

  constructor(
    private readonly store: SecretStore,
    readonly did: string,
  ) {}

  private get storeKey(): string {
    return `sealing-key:${this.did}`
  }

  /** The key pair, made on first use. */
  async current(): Promise<SealingKeyPair> {
    if (this.cached) return this.cached
    const stored = await this.store.get(this.storeKey)
    if (stored !== undefined) {
      const privateKey = Buffer.from(stored, 'base64')
      if (privateKey.length === 32) {
        this.cached = { privateKey, publicKey: publicKeyOf(privateKey) }
        return this.cached
      }
    }
    return this.rotate()
  }

  /** Whether a key pair is stored already (without making one). */
  async exists(): Promise<boolean> {
    return (await this.store.get(this.storeKey)) !== undefined
  }

  /** Replaces the key pair. The old private key is gone: what was sealed to it stays sealed. */
  async rotate(): Promise<SealingKeyPair> {
    const pair = generateKeyPair()
    await this.store.set(this.storeKey, Buffer.from(pair.privateKey).toString('base64'))
    this.cached = pair
    return pair
  }
}

export function publishedKey(pair: SealingKeyPair, now = new Date()): SealingKey {
  return {
    algorithm: SEALING_ALGORITHM,
    publicKey: pair.publicKey,
    createdAt: now.toISOString() as SealingKey['createdAt'],
  }
}

function usable(key: SealingKey | undefined): Uint8Array | undefined {
  return key && key.algorithm === SEALING_ALGORITHM && isPublicKey(key.publicKey)
    ? key.publicKey
    : undefined
}

/** A meshlet's published key (on its commune.scheduler.meshletOwner record), if any. */
export async function meshletKeyOf(reader: RepoReader, meshlet: string) {
  const rec = await reader.get(meshlet, NSID.meshletOwner, 'self')
  const check = rec && checkRecord(NSID.meshletOwner, rec.value)
  return check?.ok ? usable(check.value.sealingKey) : undefined
}

/** An owner's published key (commune.scheduler.sealingKey, rkey self), if any. */
export async function ownerKeyOf(reader: RepoReader, owner: string) {
  const rec = await reader.get(owner, NSID.sealingKey, 'self')
  const check = rec && checkRecord(NSID.sealingKey, rec.value)
  return check?.ok ? usable(check.value.key) : undefined
}

/** Publishes a meshlet's key on its meshletOwner record, keeping the record's other fields.
 *  Returns false when the meshlet is not linked yet (no record to add the key to). */
export async function publishMeshletKey(
  reader: RepoReader,
  writer: RepoWriter,
  pair: SealingKeyPair,
): Promise<boolean> {
  const rec = await reader.get(writer.did, NSID.meshletOwner, 'self')
  if (!rec) return false
  const value = { ...(rec.value as Record<string, unknown>) }
  delete value.$type
  const existing = (value.sealingKey as { publicKey?: unknown } | undefined)?.publicKey
  if (existing instanceof Uint8Array && sameKey(existing, pair.publicKey)) return true
  await writer.put(NSID.meshletOwner, 'self', { ...value, sealingKey: publishedKey(pair) })
  return true
}

/** Publishes an owner's key (commune.scheduler.sealingKey, rkey self) unless it is there. */
export async function publishOwnerKey(
  reader: RepoReader,
  writer: RepoWriter,
  pair: SealingKeyPair,
): Promise<void> {
  const published = await ownerKeyOf(reader, writer.did)
  if (sameKey(published, pair.publicKey)) return
  await writer.put(NSID.sealingKey, 'self', { key: publishedKey(pair) })
}
