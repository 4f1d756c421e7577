// The CLI's part of sealing: secrets from flags, and where the owner's key pair rests on this
// machine (`meshlet logs` reads sealed results with it: core/sealing/log-source.ts).
import { readFile, stat } from 'node:fs/promises'
import { homedir } from 'node:os'
import { join } from 'node:path'
import {
  checkSecrets,
  MAX_SECRETS_BYTES,
  parseAssignment,
  SealingKeyring,
  SecretsError,
  type Secrets,
} from '../sealing/index.js'
import { FileSecretStore } from '../secrets.js'
import { UsageError } from './args.js'

/** Where the owner's sealing key rests for the CLI and the daemon: one file per user, readable by
 *  that user only (MESHLET_CONFIG_DIR, else $XDG_CONFIG_HOME/commune-meshlet, else
 *  ~/.config/commune-meshlet). `submit`, `logs` and `run` with OWNER_PASSWORD share it. */
export function ownerKeyFile(env: NodeJS.ProcessEnv): string {
  const dir =
    env.MESHLET_CONFIG_DIR ??
    join(env.XDG_CONFIG_HOME ?? join(env.HOME ?? homedir(), '.config'), 'commune-meshlet')
  return join(dir, 'owner-keys.json')
}

export function ownerKeys(env: NodeJS.ProcessEnv, owner: string): SealingKeyring {
  return new SealingKeyring(new FileSecretStore(ownerKeyFile(env)), owner)
}

/** --secret NAME=VALUE and --secret-file NAME=PATH, checked. Messages never quote a value. */
export async function secretsFromFlags(values: {
  secret?: string[]
  'secret-file'?: string[]
}): Promise<Secrets> {
  const secrets: Secrets = new Map()
  const add = (name: string, value: string, flag: string) => {
    if (secrets.has(name)) throw new UsageError(`${flag}: ${name} is given twice`)
    secrets.set(name, value)
  }
  try {
    for (const raw of values.secret ?? []) {
      const [name, value] = parseAssignment(raw, '--secret')
      add(name, value, '--secret')
    }
    for (const raw of values['secret-file'] ?? []) {
      const [name, path] = parseAssignment(raw, '--secret-file')
      const size = (await stat(path).catch(() => undefined))?.size
      if (size === undefined) throw new UsageError(`--secret-file ${name}: cannot read ${path}`)
      if (size > MAX_SECRETS_BYTES) {
        throw new UsageError(
          `--secret-file ${name}: ${path} is larger than ${MAX_SECRETS_BYTES} bytes`,
        )
      }
      add(name, await readFile(path, 'utf8'), '--secret-file')
    }
    checkSecrets(secrets)
  } catch (err) {
    if (err instanceof SecretsError) throw new UsageError(err.message)
    throw err
  }
  return secrets
}
