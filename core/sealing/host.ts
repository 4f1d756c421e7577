// The host's side: a winner opens a workload's secrets in memory just before it starts the guest.
// Nothing here writes: the values go from the record to the container's environment only.
import type { RepoReader } from '../repo/reader.js'
import type { WorkloadView } from '../scheduling/types.js'
import type { SealingKeyring } from './keys.js'
import { openSecrets, readSecretsRecord, type OpenedSecrets } from './secrets.js'

export async function openWorkloadSecrets(
  reader: RepoReader,
  keys: SealingKeyring,
  w: WorkloadView,
): Promise<OpenedSecrets> {
  const names = w.record.secrets ?? []
  const value = await readSecretsRecord(reader, w.uri)
  return openSecrets(value, w.uri, keys.did, await keys.current(), names)
}

/** The guest's environment: the workload's public variables, then its secrets. */
export function envWithSecrets(
  env: readonly { name: string; value: string }[] | undefined,
  secrets: ReadonlyMap<string, string> | undefined,
): { name: string; value: string }[] {
  const names = new Set(secrets?.keys() ?? [])
  return [
    ...(env ?? []).filter((e) => !names.has(e.name)),
    ...[...(secrets ?? [])].map(([name, value]) => ({ name, value })),
  ]
}

/** Removes secret values from a message that may be published or logged (a start error that
 *  quotes the container's configuration). */
export function redact(message: string, secrets: ReadonlyMap<string, string> | undefined): string {
  let out = message
  for (const v of secrets?.values() ?? []) if (v.length > 0) out = out.split(v).join('[secret]')
  return out
}
