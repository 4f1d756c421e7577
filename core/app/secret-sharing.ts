// The owner's side of secrets in the app (core/sealing): a winner that waits for one of the
// signed-in owner's workloads' secrets gets them sealed to its key, if it may run the owner's
// workloads. One sharer per owner, made again when another owner signs in.
import type { LinkageRecords } from '../identity/cluster.js'
import type { Logger } from '../log.js'
import type { RepoReader } from '../repo/reader.js'
import type { RepoWriter } from '../repo/writer.js'
import { SecretsSharer, shareRequest, type SealingKeyring } from '../sealing/index.js'

export interface OwnerSecretsOptions {
  reader: RepoReader
  /** The owner's sealing keys (the keychain in the app, a 0600 file for the daemon). */
  keysOf: (ownerDid: string) => SealingKeyring
  log: Logger
  onError: (err: unknown) => void
}

/** The signed-in owner, as sharing needs them. */
export interface SharingOwner {
  did: string
  writer: RepoWriter
}

export class OwnerSecrets {
  private current?: { owner: string; sharer: SecretsSharer }
  /** The running meshlet's linkage, as of the latest status (a restarted meshlet has its own). */
  private linkage?: LinkageRecords

  constructor(private readonly opts: OwnerSecretsOptions) {}

  /** A status seen from `from`: when it asks for the secrets of one of `owner`'s workloads, they
   *  are shared (sealed to its key) if the meshlet's owner is mutual with `owner`. */
  onStatus(
    owner: SharingOwner | undefined,
    linkage: LinkageRecords,
    from: string,
    status: Parameters<typeof shareRequest>[2],
  ): void {
    if (!owner) return
    const ask = shareRequest(owner.did, from, status)
    if (!ask) return
    this.linkage = linkage
    if (this.current?.owner !== owner.did) {
      const ownerDid = owner.did
      this.current = {
        owner: ownerDid,
        sharer: new SecretsSharer({
          reader: this.opts.reader,
          writer: owner.writer,
          keys: this.opts.keysOf(ownerDid),
          isEligible: (m) => {
            const o = this.linkage?.verifiedOwner(m)
            return o !== undefined && this.linkage!.isMutual(ownerDid, o)
          },
          log: this.opts.log,
        }),
      }
    }
    void this.current.sharer.share(ask.workloadUri, ask.meshlet).catch(this.opts.onError)
  }
}
