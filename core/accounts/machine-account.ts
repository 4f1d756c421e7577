// A meshlet's own account, made for it instead of by hand (DESIGN §11, "Machine accounts"): the
// owner names a PDS, we ask it what it needs (describeServer), pick a handle under a domain it
// offers, generate a strong password and create the account with
// com.atproto.server.createAccount. The credentials rest in a SecretStore (the keychain-sealed
// store in the app, a 0600 file in the daemon's data directory), so the same data directory
// always means the same machine.
import { randomBytes } from 'node:crypto'
import type { AtpAgent, XRPCError } from '@atproto/api'
import { isValidHandle } from '@atproto/syntax'
import type { SecretStore } from '../secrets.js'

// @atproto/api is loaded when an account is made or signed in to here, not by every importer: a
// daemon's start only reads the saved credentials, and the library is among its heaviest imports.
let api: typeof import('@atproto/api') | undefined
async function atpAgent(service: string): Promise<AtpAgent> {
  api ??= await import('@atproto/api')
  return new api.AtpAgent({ service })
}

/** An error of @atproto/api (none can exist before it is loaded). */
function isXrpcError(err: unknown): err is XRPCError {
  return api !== undefined && err instanceof api.XRPCError
}

/** Where the credentials rest in the store: one machine per store (per data directory). */
export const MACHINE_ACCOUNT_KEY = 'machine-account'

export interface MachineCredentials {
  /** Absent while the account is being created: a crash between createAccount and the save
   *  must not leave an account nobody can sign in to, so the password is kept first. */
  did?: string
  handle: string
  /** The PDS's URL, as the owner gave it (normalised to its origin). */
  pds: string
  password: string
  /** The owner the machine was made for. */
  owner: string
  createdAt: string
}

export type CreatedMachine = MachineCredentials & { did: string }

/** What went wrong, as a field the user can fix (the CLI names its flag, the app its input). */
export type MachineAccountProblem =
  | 'invite-required'
  | 'invite-invalid'
  | 'email-required'
  | 'email-taken'
  | 'email-unsupported'
  | 'handle-taken'
  | 'handle-invalid'
  | 'verification-required'
  | 'rate-limited'
  | 'unreachable'
  | 'insecure-pds'
  | 'other-machine'
  | 'refused'

export type MachineAccountField = 'pds' | 'handle' | 'email' | 'inviteCode' | 'dataDir'

const FIELD_OF: Partial<Record<MachineAccountProblem, MachineAccountField>> = {
  'invite-required': 'inviteCode',
  'invite-invalid': 'inviteCode',
  'email-required': 'email',
  'email-taken': 'email',
  'email-unsupported': 'email',
  'handle-taken': 'handle',
  'handle-invalid': 'handle',
  'insecure-pds': 'pds',
  unreachable: 'pds',
  'verification-required': 'pds',
  'other-machine': 'dataDir',
}

export class MachineAccountError extends Error {
  /** The input that would fix it, when one would. */
  readonly field?: MachineAccountField

  constructor(
    readonly problem: MachineAccountProblem,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options)
    this.name = 'MachineAccountError'
    const field = FIELD_OF[problem]
    if (field) this.field = field
  }
}

export interface PdsDescription {
  /** Handle domains the PDS hands out, each with its leading dot (".bsky.social"). */
  domains: string[]
  inviteCodeRequired: boolean
  phoneVerificationRequired: boolean
}

export interface EnsureMachineOptions {
  store: SecretStore
  /** The PDS to create the account on (https, or http on loopback). */
  pds: string
  /** The owner's DID, and handle when known (it names the generated handle). */
  owner: string
  ownerHandle?: string
  /** A full handle, a label to put under the PDS's first domain, or ".domain" for a generated
   *  label under that domain. Default: a generated label under the PDS's first domain. */
  handle?: string
  email?: string
  inviteCode?: string
  /** Test seam for the generated parts; node:crypto by default. */
  random?: (bytes: number) => Buffer
}

export interface EnsuredMachine {
  credentials: CreatedMachine
  /** Signed in as the machine. */
  agent: AtpAgent
  /** False when the store already held this machine (a second run on the same data dir). */
  created: boolean
}

const LABEL_ALPHABET = 'abcdefghijklmnopqrstuvwxyz234567'
/** Reference PDS limits for a label under a service domain. */
const LABEL_MIN = 3
const LABEL_MAX = 18
const PASSWORD_BYTES = 24
/** A generated handle that is taken is generated again, this many times in all. */
const HANDLE_TRIES = 3

/** The PDS URL, checked: https, or http only on loopback (a password crosses it). */
export function pdsOrigin(pds: string): string {
  let url: URL
  try {
    url = new URL(pds)
  } catch {
    throw new MachineAccountError('insecure-pds', `not a URL: ${pds.slice(0, 200)}`)
  }
  const loopback = ['localhost', '127.0.0.1', '[::1]'].includes(url.hostname)
  if (url.protocol !== 'https:' && !(url.protocol === 'http:' && loopback)) {
    throw new MachineAccountError(
      'insecure-pds',
      `the PDS address must start with https:// (got ${url.origin}); plain http is allowed only on this machine`,
    )
  }
  return url.origin
}

/** A handle for the machine (pure). See `EnsureMachineOptions.handle` for what `requested`
 *  may be; `suffix` is the random part of a generated label. */
export function machineHandle(opts: {
  requested?: string
  ownerHandle?: string
  domains: readonly string[]
  suffix: string
}): string {
  const requested = opts.requested?.trim().replace(/^@/, '').toLowerCase()
  const fullHandle = requested && !requested.startsWith('.') && requested.includes('.')
  let handle: string
  if (fullHandle) {
    handle = requested
  } else {
    const domain = requested?.startsWith('.') ? requested : opts.domains[0]
    if (!domain) {
      throw new MachineAccountError(
        'handle-invalid',
        'the PDS offers no handle domain: give a full handle under a domain you control',
      )
    }
    handle = (requested && !requested.startsWith('.') ? requested : generatedLabel(opts)) + domain
  }
  if (!isValidHandle(handle)) {
    throw new MachineAccountError('handle-invalid', `not a valid handle: ${handle.slice(0, 260)}`)
  }
  return handle
}

function generatedLabel(opts: { ownerHandle?: string; suffix: string }): string {
  // "alice-mesh-k3f9": whose machine it is, readable in a member list, and unlikely to clash.
  const tail = `-mesh-${opts.suffix}`
  const owner = (opts.ownerHandle?.split('.')[0] ?? '').toLowerCase().replace(/[^a-z0-9]/g, '')
  const prefix = (owner || 'machine').slice(0, Math.max(1, LABEL_MAX - tail.length))
  const label = prefix + tail
  return label.length >= LABEL_MIN ? label : `machine${tail}`
}

function randomLabel(random: (n: number) => Buffer, length: number): string {
  return Array.from(random(length), (b) => LABEL_ALPHABET[b % 32]).join('')
}

/** Asks a PDS what creating an account there needs. */
export async function describePds(pds: string): Promise<PdsDescription> {
  const agent = await atpAgent(pdsOrigin(pds))
  try {
    const { data } = await agent.com.atproto.server.describeServer()
    return {
      domains: data.availableUserDomains.filter((d) => typeof d === 'string' && d.length > 1),
      inviteCodeRequired: data.inviteCodeRequired === true,
      phoneVerificationRequired: data.phoneVerificationRequired === true,
    }
  } catch (err) {
    throw new MachineAccountError(
      'unreachable',
      `cannot reach a PDS at ${pds}: ${messageOf(err)}`,
      {
        cause: err,
      },
    )
  }
}

/** The machine's credentials kept in the store, if any (malformed entries count as none). */
export async function savedMachine(store: SecretStore): Promise<MachineCredentials | undefined> {
  const raw = await store.get(MACHINE_ACCOUNT_KEY)
  if (!raw) return undefined
  try {
    const v = JSON.parse(raw) as Partial<MachineCredentials>
    if (
      typeof v.handle === 'string' &&
      typeof v.pds === 'string' &&
      typeof v.password === 'string' &&
      typeof v.owner === 'string' &&
      (v.did === undefined || typeof v.did === 'string')
    ) {
      return v as MachineCredentials
    }
  } catch {
    // fall through: unreadable
  }
  return undefined
}

/**
 * The machine's account for this store: the one already kept there, or a new one on `pds`.
 * Idempotent: a second call with the same store signs in to the same account and creates none.
 */
export async function ensureMachineAccount(opts: EnsureMachineOptions): Promise<EnsuredMachine> {
  const pds = pdsOrigin(opts.pds)
  const random = opts.random ?? randomBytes
  const saved = await savedMachine(opts.store)
  if (saved) {
    if (saved.owner !== opts.owner) {
      throw new MachineAccountError(
        'other-machine',
        `this data directory already holds the machine ${saved.did ?? saved.handle} of ${saved.owner}; use another data directory for a new machine`,
      )
    }
    if (saved.pds !== pds) {
      throw new MachineAccountError(
        'other-machine',
        `this data directory's machine ${saved.did ?? saved.handle} lives on ${saved.pds}, not ${pds}; use another data directory for a machine on ${pds}`,
      )
    }
    if (saved.did) {
      return {
        credentials: { ...saved, did: saved.did },
        agent: await login(saved),
        created: false,
      }
    }
    // Created before, but the DID was never saved: the account may exist.
    const agent = await login(saved).catch((err: unknown) => {
      if (isBadCredentials(err)) return undefined
      throw err
    })
    if (agent) {
      const credentials = { ...saved, did: agent.session!.did }
      await opts.store.set(MACHINE_ACCOUNT_KEY, JSON.stringify(credentials))
      return { credentials, agent, created: true }
    }
  }
  const described = await describePds(pds)
  if (described.phoneVerificationRequired) {
    throw new MachineAccountError(
      'verification-required',
      `the PDS at ${pds} verifies new accounts by phone, which only its own sign-up page can do: create the machine's account there, then sign it in with an app password (meshlet link, or "Use an app password" in the app), or choose a PDS that does not ask`,
    )
  }
  if (described.inviteCodeRequired && !opts.inviteCode) {
    throw inviteRequired(pds)
  }
  const password = saved?.password ?? random(PASSWORD_BYTES).toString('base64url')
  const requestedHandle = opts.handle ?? (saved ? saved.handle : undefined)
  for (let attempt = 1; ; attempt++) {
    const handle = machineHandle({
      ...(requestedHandle !== undefined ? { requested: requestedHandle } : {}),
      ...(opts.ownerHandle ? { ownerHandle: opts.ownerHandle } : {}),
      domains: described.domains,
      suffix: randomLabel(random, 4),
    })
    const pending: MachineCredentials = {
      handle,
      pds,
      password,
      owner: opts.owner,
      createdAt: new Date().toISOString(),
    }
    await opts.store.set(MACHINE_ACCOUNT_KEY, JSON.stringify(pending))
    const agent = await atpAgent(pds)
    try {
      await agent.createAccount({
        handle,
        password,
        ...(opts.email ? { email: opts.email } : {}),
        ...(opts.inviteCode ? { inviteCode: opts.inviteCode } : {}),
      })
    } catch (err) {
      const e = createError(err, { pds, handle, email: opts.email })
      // A generated handle that someone has: draw another; a chosen one is the owner's call.
      const generated = requestedHandle === undefined || requestedHandle.startsWith('.')
      if (e.problem === 'handle-taken' && generated && attempt < HANDLE_TRIES) continue
      // Nothing was created: forget the pending entry, unless it was there before.
      if (!saved) await opts.store.delete(MACHINE_ACCOUNT_KEY)
      throw e
    }
    const credentials: CreatedMachine = { ...pending, did: agent.session!.did }
    await opts.store.set(MACHINE_ACCOUNT_KEY, JSON.stringify(credentials))
    return { credentials, agent, created: true }
  }
}

/** Signs in to a machine account with its kept password. */
export async function login(credentials: MachineCredentials): Promise<AtpAgent> {
  const agent = await atpAgent(credentials.pds)
  try {
    await agent.login({
      identifier: credentials.did ?? credentials.handle,
      password: credentials.password,
    })
  } catch (err) {
    // The password never goes into the message.
    throw new MachineAccountError(
      isUnreachable(err) ? 'unreachable' : 'refused',
      `cannot sign in to the machine's account ${credentials.did ?? credentials.handle} at ${credentials.pds}: ${messageOf(err)}`,
      { cause: err },
    )
  }
  return agent
}

function inviteRequired(pds: string): MachineAccountError {
  return new MachineAccountError(
    'invite-required',
    `the PDS at ${pds} asks for an invite code: ask its operator for one and give it with the request`,
  )
}

/** Turns the PDS's refusal into what the owner can do about it. */
function createError(
  err: unknown,
  ctx: { pds: string; handle: string; email?: string | undefined },
): MachineAccountError {
  const code = isXrpcError(err) ? err.error : undefined
  const text = messageOf(err)
  const make = (problem: MachineAccountProblem, message: string) =>
    new MachineAccountError(problem, message, { cause: err })
  if (isUnreachable(err)) return make('unreachable', `cannot reach the PDS at ${ctx.pds}: ${text}`)
  if (isXrpcError(err) && err.status === 429) {
    return make(
      'rate-limited',
      `the PDS at ${ctx.pds} is limiting new accounts right now; try again in a while`,
    )
  }
  if (code === 'InvalidInviteCode') {
    return /no invite code/i.test(text)
      ? inviteRequired(ctx.pds)
      : make(
          'invite-invalid',
          `the PDS at ${ctx.pds} did not accept the invite code (used up, disabled or mistyped): ask its operator for another`,
        )
  }
  if (/email is required/i.test(text)) {
    return make(
      'email-required',
      `the PDS at ${ctx.pds} asks for an email address for the machine's account: give one that no other account there uses (for example you+meshlet@example.com)`,
    )
  }
  if (/email already taken/i.test(text)) {
    return make(
      'email-taken',
      `another account on ${ctx.pds} already uses ${ctx.email ?? 'that email address'}: give another (for example you+meshlet@example.com)`,
    )
  }
  if (/email address is not supported/i.test(text)) {
    return make(
      'email-unsupported',
      `the PDS at ${ctx.pds} does not accept that email address: give another`,
    )
  }
  if (code === 'HandleNotAvailable' || /handle already taken/i.test(text)) {
    return make('handle-taken', `the handle ${ctx.handle} is taken on ${ctx.pds}: choose another`)
  }
  if (code === 'InvalidHandle' || code === 'UnsupportedDomain') {
    return make('handle-invalid', `the PDS at ${ctx.pds} refused the handle ${ctx.handle}: ${text}`)
  }
  if (/verif|captcha/i.test(text)) {
    return make(
      'verification-required',
      `the PDS at ${ctx.pds} asks to verify new accounts, which only its own sign-up page can do: create the machine's account there, then sign it in with an app password, or choose a PDS that does not ask (${text})`,
    )
  }
  return make('refused', `the PDS at ${ctx.pds} refused to create the account: ${text}`)
}

// XRPCError statuses: 1 is "no response" (the network), the rest are HTTP's.
function isUnreachable(err: unknown): boolean {
  return isXrpcError(err) ? err.status === 1 : err instanceof TypeError
}

function isBadCredentials(err: unknown): boolean {
  const cause = err instanceof MachineAccountError ? err.cause : err
  return isXrpcError(cause) && cause.status === 401
}

function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err)
}
