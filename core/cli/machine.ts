// `meshlet init` (the machine's own account, made and linked in one command) and how `meshlet
// run` finds the machine's credentials. Thin: the work is core/accounts and core/repo.
import { join } from 'node:path'
import {
  ensureMachineAccount,
  MachineAccountError,
  savedMachine,
  type MachineAccountField,
} from '../accounts/index.js'
import type { IdentityResolver } from '../identity/resolver.js'
import { publishLinkage } from '../repo/linkage.js'
import { passwordSession, PasswordSession } from '../repo/writer.js'
import { FileSecretStore } from '../secrets.js'
import { parse, required, secretFromEnv, UsageError } from './args.js'

/** Where `meshlet init` keeps the machine unless told otherwise, and where `meshlet run` looks
 *  for it when no --did is given. */
export const DEFAULT_MACHINE_DIR = '.meshlet/machine'

/** The daemon's secrets file in a data directory (0600; no keychain on a server). */
export function secretsFile(dataDir: string): string {
  return join(dataDir, 'secrets.json')
}

const FLAG_OF: Record<MachineAccountField, string> = {
  pds: '--pds <url>',
  handle: '--handle <handle>',
  email: '--email <address>',
  inviteCode: '--invite-code <code>',
  dataDir: '--data-dir <dir>',
}

export interface InitIo {
  out: (line: string) => void
  err: (line: string) => void
  env: NodeJS.ProcessEnv
}

export async function init(
  argv: string[],
  io: InitIo,
  identityFrom: (values: { plc?: string; 'handle-resolver'?: string }) => IdentityResolver,
): Promise<number> {
  const { values } = parse(argv, {
    owner: { type: 'string' },
    pds: { type: 'string' },
    handle: { type: 'string' },
    email: { type: 'string' },
    'invite-code': { type: 'string' },
    'data-dir': { type: 'string' },
    plc: { type: 'string' },
    'handle-resolver': { type: 'string' },
  })
  required(values, 'owner', 'pds')
  const pds = values.pds!
  if (!URL.canParse(pds)) throw new UsageError(`not a URL: ${pds}`)
  const ownerPassword = secretFromEnv('OWNER_PASSWORD', io.env)
  const dataDir = values['data-dir'] ?? DEFAULT_MACHINE_DIR
  // The chosen PDS resolves handles too (a real one through DNS; a local one knows its own).
  const identity = identityFrom({
    ...(values.plc !== undefined ? { plc: values.plc } : {}),
    'handle-resolver': values['handle-resolver'] ?? pds,
  })
  const ownerDid = await identity.resolveActor(values.owner!)
  // The owner signs in first: a wrong password must not leave a machine account behind.
  const owner = await passwordSession(identity, ownerDid, ownerPassword)
  const ownerHandle = values.owner!.startsWith('did:')
    ? (await identity.resolveDid(ownerDid).catch(() => undefined))?.handle
    : values.owner!.replace(/^@/, '')
  const store = new FileSecretStore(secretsFile(dataDir))
  let machine
  try {
    machine = await ensureMachineAccount({
      store,
      pds,
      owner: ownerDid,
      ...(ownerHandle ? { ownerHandle } : {}),
      ...(values.handle ? { handle: values.handle } : {}),
      ...(values.email ? { email: values.email } : {}),
      ...(values['invite-code'] ? { inviteCode: values['invite-code'] } : {}),
    })
  } catch (err) {
    if (err instanceof MachineAccountError && err.field) {
      throw new MachineAccountError(err.problem, `${err.message} (${FLAG_OF[err.field]})`, {
        cause: err.cause,
      })
    }
    throw err
  }
  const { did, handle } = machine.credentials
  io.err(
    machine.created
      ? `meshlet: created ${handle} (${did}) on ${machine.credentials.pds}; its password is in ${secretsFile(dataDir)}, readable by you only`
      : `meshlet: ${dataDir} already holds ${handle} (${did}); no new account`,
  )
  await publishLinkage(owner, new PasswordSession(machine.agent, did))
  io.err(`meshlet: linked ${did} and ${ownerDid}`)
  io.err(
    `meshlet: next: meshlet run --data-dir ${dataDir} --owner ${values.owner} --cluster-members <owners>`,
  )
  io.out(did)
  return 0
}

/** The machine `meshlet run` runs as: MESHLET_PASSWORD and --did when given (an account made by
 *  hand), else the account `meshlet init` kept in the data directory. */
export async function machineForRun(
  values: { did?: string | undefined; 'data-dir'?: string | undefined },
  identity: IdentityResolver,
  env: NodeJS.ProcessEnv,
): Promise<{ did: string; dataDir: string; writer: PasswordSession }> {
  const dirFor = (did: string) => `.meshlet/${did.replace(/[^a-zA-Z0-9]/g, '_')}`
  if (env.MESHLET_PASSWORD) {
    if (!values.did) throw new UsageError('missing --did (the account MESHLET_PASSWORD signs in)')
    const did = await identity.resolveActor(values.did)
    const writer = await passwordSession(identity, did, env.MESHLET_PASSWORD)
    return { did, dataDir: values['data-dir'] ?? dirFor(did), writer }
  }
  const given = values.did ? await identity.resolveActor(values.did) : undefined
  const dataDir = values['data-dir'] ?? (given ? dirFor(given) : DEFAULT_MACHINE_DIR)
  const saved = await savedMachine(new FileSecretStore(secretsFile(dataDir)))
  if (!saved?.did) {
    throw new UsageError(
      `no machine account in ${dataDir}: create one with \`meshlet init\` (and pass the same --data-dir), or set MESHLET_PASSWORD and --did for an account made by hand`,
    )
  }
  if (given && given !== saved.did) {
    throw new UsageError(`${dataDir} holds the machine ${saved.did}, not ${given}`)
  }
  const writer = await passwordSession(identity, saved.did, saved.password)
  return { did: saved.did, dataDir, writer }
}
