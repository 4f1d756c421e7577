// The `meshlet` command: the headless daemon and the tools around it. Thin: parse flags, build
// the core objects, run. Exit codes: 0 ok, 1 failure, 2 usage error.
import { IdentityResolver, InvalidActorError } from '../identity/resolver.js'
import { checkRecord, NSID } from '../lexicon/index.js'
import { jsonLogger, type Level } from '../log.js'
import { FileSecretStore } from '../secrets.js'
import type { UiServer } from '../ui-server.js'
import { fileURLToPath } from 'node:url'
import { passwordSession } from '../repo/writer.js'
import { publishLinkage } from '../repo/linkage.js'
import { DEFAULT_MACHINE_DIR, init, machineForRun, secretsFile } from './machine.js'
import { POLICY_FLAGS, POLICY_HELP, policyFromFlags } from './policy-flags.js'
import { intFlag, list, parse, required, secretFromEnv, UsageError, type Options } from './args.js'
import { AtUri } from '@atproto/syntax'
import { SOURCE_KINDS, type SourceKind } from '../sync/source.js'
import { LENDER_FLAGS, LENDER_HELP, lenderPolicyFromFlags } from './lender-flags.js'
import { ownerKeyFile, ownerKeys, secretsFromFlags } from './sealing.js'
import { RepoReader } from '../repo/reader.js'
import {
  publishWorkloadWithSecrets,
  sealedLogSource,
  sealWorkloadSecrets,
} from '../sealing/index.js'
import { buildWorkload, updateWorkload } from '../spec/index.js'
import { asUsage, optionsFromFlags, SPEC_FLAGS, SPEC_HELP } from './spec-flags.js'

export const DEFAULT_PLC = 'https://plc.directory'
export const DEFAULT_FIREHOSE = 'wss://bsky.network'
export const DEFAULT_HANDLE_RESOLVER = 'https://public.api.bsky.app'

const HELP = `meshlet — lend spare compute to your commune, coordinated over the AT Protocol

Usage:
  meshlet init   --owner <handle|did> --pds <url> [--handle <h>] [--email <e>]
                 [--invite-code <c>] [--plc <url>] [--data-dir <dir>]
  meshlet link   --did <meshlet> --owner <owner> [network flags]
  meshlet run    [--did <meshlet>] --owner <owner> --cluster-members <owners> [options]
  meshlet submit --owner <owner> --image <ref> [options] [-- command...]
  meshlet update <uri> [submit's options] [-- command...]
  meshlet status <workload at-uri> [network flags]
  meshlet delete <workload at-uri> [network flags]
  meshlet capacity <meshlet> [--owner <owner>] [network flags]
  meshlet ps <meshlet> [--owner <owner>] [network flags]
  meshlet logs <workload-uri> [--follow] [--lines <n>] [--owner <owner>] [network flags]
  meshlet help | --help | <command> --help

DIDs and handles are accepted wherever a DID is asked for.

init    Creates this machine's own account on the PDS you choose (your own, or your
        commune's), keeps its generated password in <data-dir>/secrets.json (readable by
        you only), writes the two linkage records, and prints the machine's DID. Run it
        again on the same data directory and it keeps the same machine. Credentials:
        OWNER_PASSWORD (the owner's app password).
          --owner <handle|did>      whose machine this is
          --pds <url>               where to create the account (https://…)
          --handle <h>              a full handle, a name under the PDS's first domain, or
                                    .domain for a generated name under that domain
                                    (default: <owner>-mesh-<random> under the PDS's domain)
          --email <e>               the account's email, when the PDS asks for one
          --invite-code <c>         when the PDS asks for one
          --data-dir <dir>          where the machine is kept (default ${DEFAULT_MACHINE_DIR})
          --plc <url>               PLC directory (default ${DEFAULT_PLC})
          --handle-resolver <url>   default: the --pds

link    Writes the two linkage records: commune.scheduler.meshlet in the owner's repo
        (credentials: OWNER_PASSWORD) and commune.scheduler.meshletOwner in the meshlet's
        repo (credentials: MESHLET_PASSWORD). Use app passwords.

run     Runs the meshlet daemon: publishes its membership record, forms the cluster, follows
        the firehose, bids on workloads, runs the ones it wins in Docker and reports their
        status. Logs one JSON line per event. Credentials: the account \`meshlet init\`
        kept in --data-dir (then --did may be left out), or MESHLET_PASSWORD with --did.
          --cluster-members <list>  owner DIDs or handles, comma-separated
          --source jetstream|pds|relay
                                    where records are read from (default jetstream; relay
                                    when --firehose is given):
                                      jetstream  Bluesky's Jetstream, filtered on the server
                                                 to your commune's DIDs and records: a few MB
                                                 a day, ~0 CPU; each record is confirmed with
                                                 its author's PDS before it counts
                                      pds        one signed stream per member PDS: cheap when
                                                 members self-host; a big shared PDS sends all
                                                 of its accounts' changes
                                      relay      the whole network (--firehose): tens to
                                                 hundreds of GB a day and a large share of a
                                                 core; for servers and tests
          --jetstream <url>         a Jetstream instance; several, comma-separated, are
                                    tried in turn (default the four public ones,
                                    jetstream1/2.us-east and jetstream1/2.us-west.bsky.network)
          --data-dir <dir>          where the cursors are kept (default ./.meshlet/<did>,
                                    or ${DEFAULT_MACHINE_DIR} without --did)
          --cpu <millicores>        CPU to lend (default 1000)
          --memory <MiB>            memory to lend (default 1024)
          --storage <MiB>           scratch storage to lend (default 1024)
          --allow-egress            let guest workloads that ask for it reach the network
          --min-balance <units>     free-rider floor: make no bid for workloads whose owner's
                                    balance is below this many units (core- or GiB-hours;
                                    e.g. -5 declines owners who used 5 units more than they
                                    lent). The owner sees why. Default: off
${LENDER_HELP}          --no-docker               follow and explain only; never bid or run containers
          --no-drain                on SIGINT/SIGTERM leave guests running for a restart,
                                    which adopts them; by default stopping drains: guests
                                    stop, \`draining\` is published and peers re-place them
          --log-level <level>       debug, info, warn or error (default info)
          --ui-port <port>          serve the dashboard on 127.0.0.1:<port> (0: any free
                                    port) and print its address, token included
          --xrpc-port <port>        serve the meshlet API (farm.meshlet.*, service auth) on
                                    <port> (0: any free port) and print its address.
                                    Without it the API is served anyway, on every
                                    interface at a port the system picks, unless
                                    --no-xrpc or the dashboard's setting turned it off
          --xrpc-host <host>        address to serve it on (default 127.0.0.1; 0.0.0.0 for
                                    the LAN). Off loopback, the meshlet publishes where it
                                    serves in its meshletOwner record, where callers look:
                                    for a wildcard bind its public, VPN or LAN address, or
                                    the port its home router forwards when asked (UPnP,
                                    NAT-PMP)
          --xrpc-url <url>          publish this URL instead (a forwarded port)
          --no-xrpc                 serve no API (kept in the settings): peers then judge
                                    this meshlet by its presence record, rewritten every
                                    20 s, instead of pinging it (docs/write-budget.md)
${POLICY_HELP}        Settings changed in the dashboard are kept in the data directory; flags given
        win over them. With OWNER_PASSWORD set too, the dashboard can submit workloads.

submit  Publishes a workload in the owner's repo and prints its at-uri.
        Credentials: OWNER_PASSWORD. Bad values are refused before anything is written
        (exit code 2).
${SPEC_HELP}          --secret NAME=VALUE       a secret environment variable (repeatable); sealed to
                                    the meshlets that may run the workload, never published
                                    in plain text. Prefer --secret-file: arguments show in ps
          --secret-file NAME=PATH   the same, the value read from a file (at most 4096 bytes)
        With secrets, the owner's sealing key is kept in $MESHLET_CONFIG_DIR (default
        ~/.config/commune-meshlet/owner-keys.json, mode 0600) and its public half published.

update  Publishes a new version of a workload (same at-uri, printed): the flags given
        replace those fields (--env, --arch, --command and --secret replace the whole
        list), the others are kept. The new version opens a new round at once: its
        replicas are placed anew and the old version's stop. Same flags as submit, and
          --no-egress               no network any more
          --max-runtime 0           no limit any more
          --arch any                any architecture again
        Credentials: OWNER_PASSWORD.

status  Shows a workload's round, bids and which won, replica states, why meshlets did
        not bid or why a bid did not count, and the commune's balances (in units, to a
        thousandth below one unit, so a short run shows).

delete  Deletes a workload, which stops its replicas everywhere. Its record stays as a
        tombstone (deletedAt) for a day, so rounds decided before keep their winners and
        its usage keeps counting for half that time; then it goes (each delete, from here or
        the app, removes the owner's expired tombstones). OWNER_PASSWORD.

capacity, ps, logs ask meshlets over their API (farm.meshlet.*), with service-auth tokens
        from the owner's PDS. The owner's session: OWNER_PASSWORD (then kept, sealed to this
        user, in --data-dir, default .meshlet/<owner>), or --owner alone with that saved
        session. --owner defaults to the meshlet's own owner (capacity, ps) or the
        workload's (logs). A meshlet that publishes no endpoint (behind NAT) cannot be
        asked; everything essential also works through records.
capacity  What a meshlet has, lends and uses (cluster members may ask).
ps        The guest replicas a meshlet runs (cluster members may ask).
logs      What a workload's replicas printed, from each host that runs it (its owner only;
          --owner defaults to the workload's). Lines go to stdout; a host that cannot be
          reached is named on stderr.
          --lines <n>               last lines per replica (default 200, at most 1000)
          --follow                  keep printing new lines until interrupted
          A host that cannot be reached: the output tail and exit summary it sealed to the
          owner's key when the replica ended, read from its PDS (the owner's key rests where
          \`submit\` keeps it, below). Anyone but the owner is refused.

Network flags (defaults point at the real network):
  --plc <url>              PLC directory (default ${DEFAULT_PLC})
  --firehose <url>         relay or PDS to follow with --source relay (default ${DEFAULT_FIREHOSE})
  --handle-resolver <url>  service for handles DNS cannot resolve (default ${DEFAULT_HANDLE_RESOLVER})
`

/** The built dashboard, beside the sources (npm run build:renderer). */
export const RENDERER_DIR = fileURLToPath(new URL('../../dist/renderer', import.meta.url))

export const network = {
  plc: { type: 'string' },
  'handle-resolver': { type: 'string' },
} as const

export interface Io {
  out: (line: string) => void
  err: (line: string) => void
  env: NodeJS.ProcessEnv
  /** Resolves when the daemon should stop (SIGINT/SIGTERM in the real command). */
  stopSignal?: Promise<void>
}

const defaultIo: Io = {
  out: (l) => process.stdout.write(l + '\n'),
  err: (l) => process.stderr.write(l + '\n'),
  env: process.env,
}

export async function main(argv: string[], io: Io = defaultIo): Promise<number> {
  const [command, ...rest] = argv
  // `meshlet run --help` and the like: help, not an unknown flag. What follows `--` is the
  // guest's command and is left alone.
  const end = rest.indexOf('--')
  if (command !== undefined && (end === -1 ? rest : rest.slice(0, end)).includes('--help')) {
    io.out(HELP)
    return 0
  }
  try {
    switch (command) {
      case undefined:
      case 'help':
      case '--help':
      case '-h':
        io.out(HELP)
        return command === undefined ? 2 : 0
      case 'init':
        return await init(rest, io, identityFrom)
      case 'link':
        return await link(rest, io)
      case 'run':
        return await run(rest, io)
      case 'submit':
        return await submit(rest, io)
      case 'update':
        return await update(rest, io)
      case 'status':
        return await status(rest, io)
      case 'delete':
        return await remove(rest, io)
      // Loaded when asked for: they keep the owner's session with @atproto/api, which the
      // other commands, and a daemon, need not load.
      case 'capacity':
        return await (await import('./api-commands.js')).capacity(rest, io)
      case 'ps':
        return await (await import('./api-commands.js')).ps(rest, io)
      case 'logs': {
        const { logs } = await import('./api-commands.js')
        // Live from the host first; sealed results when it cannot be reached.
        return await logs(rest, io, ({ reader, owner }) => [
          sealedLogSource({ reader, caller: owner, keys: ownerKeys(io.env, owner) }),
        ])
      }
      default:
        throw new UsageError(`unknown command: ${command}`)
    }
  } catch (err) {
    if (err instanceof UsageError || err instanceof InvalidActorError) {
      io.err(`meshlet: ${err.message}\nRun \`meshlet --help\` for usage.`)
      return 2
    }
    io.err(`meshlet: ${describe(err)}`)
    return 1
  }
}

function describe(err: unknown): string {
  const parts: string[] = []
  for (let e: unknown = err; e instanceof Error; e = e.cause) parts.push(e.message)
  return parts.join(': ') || String(err)
}

export function isLocal(url: string): boolean {
  const host = new URL(url).hostname
  return host === 'localhost' || host.startsWith('127.') || host === '[::1]'
}

export function identityFrom(values: {
  plc?: string
  'handle-resolver'?: string
}): IdentityResolver {
  const plcUrl = values.plc ?? DEFAULT_PLC
  const handleResolverUrl = values['handle-resolver'] ?? DEFAULT_HANDLE_RESOLVER
  for (const u of [plcUrl, handleResolverUrl]) {
    if (!URL.canParse(u)) throw new UsageError(`not a URL: ${u}`)
  }
  // Loopback services are reachable only with the SSRF guard off; allowed just for a local PLC.
  return new IdentityResolver({
    plcUrl,
    handleResolverUrl,
    allowPrivateNetwork: isLocal(plcUrl),
  })
}

async function link(argv: string[], io: Io): Promise<number> {
  const { values } = parse(argv, { did: { type: 'string' }, owner: { type: 'string' }, ...network })
  required(values, 'did', 'owner')
  const ownerPassword = secretFromEnv('OWNER_PASSWORD', io.env)
  const meshletPassword = secretFromEnv('MESHLET_PASSWORD', io.env)
  const identity = identityFrom(values)
  const meshletDid = await identity.resolveActor(values.did!)
  const ownerDid = await identity.resolveActor(values.owner!)
  if (meshletDid === ownerDid) throw new UsageError('a meshlet needs its own DID, not its owner’s')
  const owner = await passwordSession(identity, ownerDid, ownerPassword)
  const meshlet = await passwordSession(identity, meshletDid, meshletPassword)
  const { owner: a, meshlet: b } = await publishLinkage(owner, meshlet)
  io.out(`linked ${meshletDid} and ${ownerDid}\n  ${a.uri}\n  ${b.uri}`)
  return 0
}

async function run(argv: string[], io: Io): Promise<number> {
  const { values } = parse(argv, {
    did: { type: 'string' },
    owner: { type: 'string' },
    'cluster-members': { type: 'string' },
    firehose: { type: 'string' },
    source: { type: 'string' },
    jetstream: { type: 'string' },
    'data-dir': { type: 'string' },
    cpu: { type: 'string' },
    memory: { type: 'string' },
    storage: { type: 'string' },
    'allow-egress': { type: 'boolean' },
    'min-balance': { type: 'string' },
    'no-docker': { type: 'boolean' },
    'no-drain': { type: 'boolean' },
    'log-level': { type: 'string' },
    'ui-port': { type: 'string' },
    'xrpc-port': { type: 'string' },
    'xrpc-host': { type: 'string' },
    'xrpc-url': { type: 'string' },
    'no-xrpc': { type: 'boolean' },
    ...POLICY_FLAGS,
    ...LENDER_FLAGS,
    ...network,
  })
  required(values, 'owner', 'cluster-members')
  const imagePolicy = lenderPolicyFromFlags(values)
  const xrpc = xrpcFlags(values)
  // Before anything reaches the network: a rule that cannot work here is a usage error.
  const policy = await policyFromFlags(values, io.env)
  const level = (values['log-level'] ?? 'info') as Level
  if (!['debug', 'info', 'warn', 'error'].includes(level)) {
    throw new UsageError(`--log-level must be debug, info, warn or error`)
  }
  // Flags given win over what the dashboard saved last time; flags not given leave it be.
  const offer = {
    cpuMillis: intFlag(values, 'cpu', 1000, 1, 1_024_000),
    memoryMiB: intFlag(values, 'memory', 1024, 6, 4_194_304),
    storageMiB: intFlag(values, 'storage', 1024, 0, 67_108_864),
  }
  const minBalance =
    values['min-balance'] === undefined ? undefined : milliUnits(values['min-balance'])
  const uiPort =
    values['ui-port'] === undefined ? undefined : intFlag(values, 'ui-port', 0, 0, 65535)
  const firehose = values.firehose ?? DEFAULT_FIREHOSE
  if (!URL.canParse(firehose)) throw new UsageError(`not a URL: ${firehose}`)
  const source = values.source as SourceKind | undefined
  if (source !== undefined && !SOURCE_KINDS.includes(source)) {
    throw new UsageError(`--source must be one of ${SOURCE_KINDS.join(', ')}`)
  }
  const jetstream = values.jetstream === undefined ? undefined : list(values.jetstream)
  for (const u of jetstream ?? []) {
    if (!/^wss?:\/\//.test(u) || !URL.canParse(u)) throw new UsageError(`not a ws(s) URL: ${u}`)
  }
  const identity = identityFrom(values)
  // Each command loads what it needs when it runs: the daemon's whole graph is not the
  // price of `meshlet submit`, nor the dashboard's server that of a daemon without --ui-port.
  // It loads while the look-ups below wait on the network.
  const appModule = import('../app.js')
  appModule.catch(() => undefined) // awaited below, which reports a failure
  // The sign-ins and look-ups do not depend on each other (but the owner's sign-in on its DID).
  const ownerDid = identity.resolveActor(values.owner!)
  const ownerPassword = io.env.OWNER_PASSWORD
  const [{ did, dataDir, writer: meshletWriter }, owner, members, ownerWriter] = await Promise.all([
    machineForRun(values, identity, io.env),
    ownerDid,
    Promise.all(list(values['cluster-members']).map((m) => identity.resolveActor(m))),
    // With OWNER_PASSWORD the dashboard can also submit and delete the owner's workloads.
    ownerPassword ? ownerDid.then((o) => passwordSession(identity, o, ownerPassword)) : undefined,
  ])
  const log = jsonLogger(io.out, { level, base: { meshlet: did } })
  const { openApp } = await appModule
  const app = await openApp({
    dataDir,
    network: {
      plcUrl: values.plc ?? DEFAULT_PLC,
      handleResolverUrl: values['handle-resolver'] ?? DEFAULT_HANDLE_RESOLVER,
      firehose,
      // Jetstream on the real network; a firehose named on the command line means a relay.
      source: values.firehose !== undefined ? 'relay' : 'jetstream',
      ...(jetstream ? { jetstream } : {}),
      local: isLocal(values.plc ?? DEFAULT_PLC),
    },
    // No keychain here: sessions signed in from the dashboard rest in a file only this user
    // can read.
    secrets: new FileSecretStore(secretsFile(dataDir)),
    docker: !values['no-docker'],
    meshletWriter,
    ...(ownerWriter ? { ownerWriter } : {}),
    // The owner's sealing key where `meshlet submit` keeps it: this daemon shares secrets with
    // meshlets that win the owner's workloads later.
    ownerKeyStore: new FileSecretStore(ownerKeyFile(io.env)),
    ownerDid: owner,
    initial: {
      members,
      ...(source ? { source } : {}),
      offer: {
        ...(values.cpu !== undefined ? { cpuMillis: offer.cpuMillis } : {}),
        ...(values.memory !== undefined ? { memoryMiB: offer.memoryMiB } : {}),
        ...(values.storage !== undefined ? { storageMiB: offer.storageMiB } : {}),
      },
      ...(values['allow-egress'] !== undefined ? { allowEgress: values['allow-egress'] } : {}),
      ...(values['no-xrpc'] ? { serveApi: false } : {}),
      rules: policy.rules,
      ...(policy.pauseOnBattery !== undefined ? { pauseOnBattery: policy.pauseOnBattery } : {}),
      ...(minBalance !== undefined ? { minBalance } : {}),
      ...imagePolicy,
    },
    policy: policy.hooks,
    failFast: true,
    log,
    ...(xrpc ? { xrpc } : {}),
  })
  let ui: UiServer | undefined
  try {
    if (uiPort !== undefined) {
      const { serveUi } = await import('../ui-server.js')
      ui = await serveUi({ host: app, port: uiPort, staticDir: RENDERER_DIR, log })
      // The token is for the person at this terminal: printed here, never logged.
      io.err(`meshlet: dashboard at ${ui.url}`)
    }
    if (app.xrpcUrl) io.err(`meshlet: xrpc at ${app.xrpcUrl}`)
    await (io.stopSignal ?? signalled())
  } finally {
    await ui?.close()
    // Stopping drains like the app's Quit: guests stop and `draining` is published, so peers
    // place them again at once instead of after a timeout. With --no-drain guests keep running
    // for a restart, which adopts them (reconcile).
    await app.close({ drain: !values['no-drain'] })
  }
  return 0
}

/** A balance in units (core- or GiB-hours, decimals allowed) as the ledger's milli-units. */
export function milliUnits(raw: string): number {
  const units = Number(raw)
  if (raw.trim() === '' || !Number.isFinite(units)) {
    throw new UsageError(`--min-balance must be a number of units, e.g. -5 or 0.5: ${raw}`)
  }
  const milli = Math.round(units * 1000)
  if (Math.abs(milli) > 1e12) throw new UsageError('--min-balance must lie within ±10^9 units')
  return milli === 0 ? 0 : milli
}

function xrpcFlags(values: Record<string, unknown>) {
  if (values['no-xrpc'] && values['xrpc-port'] !== undefined) {
    throw new UsageError('--no-xrpc and --xrpc-port cannot go together')
  }
  if (values['xrpc-port'] === undefined) {
    if (values['xrpc-host'] !== undefined || values['xrpc-url'] !== undefined) {
      throw new UsageError('--xrpc-host and --xrpc-url need --xrpc-port')
    }
    return undefined
  }
  const port = intFlag(values, 'xrpc-port', 0, 0, 65535)
  const hostname = (values['xrpc-host'] as string | undefined) ?? '127.0.0.1'
  if (!/^[\w.:-]+$/.test(hostname)) throw new UsageError(`not a host: ${hostname}`)
  const publicUrl = values['xrpc-url'] as string | undefined
  if (
    publicUrl !== undefined &&
    (!URL.canParse(publicUrl) || !/^https?:$/.test(new URL(publicUrl).protocol))
  ) {
    throw new UsageError(`--xrpc-url must be an http(s) URL`)
  }
  return { port, hostname, ...(publicUrl ? { publicUrl } : {}) }
}

export function signalled(): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      process.off('SIGINT', done)
      process.off('SIGTERM', done)
      resolve()
    }
    process.on('SIGINT', done)
    process.on('SIGTERM', done)
  })
}

/** The flags after `--` are the command, not flags. */
function splitCommand(argv: string[]): { flags: string[]; tail: string[] } {
  const dash = argv.indexOf('--')
  return dash >= 0
    ? { flags: argv.slice(0, dash), tail: argv.slice(dash + 1) }
    : { flags: argv, tail: [] }
}

async function submit(argv: string[], io: Io): Promise<number> {
  const { flags, tail } = splitCommand(argv)
  const { values } = parse(flags, {
    owner: { type: 'string' },
    ...SPEC_FLAGS,
    secret: { type: 'string', multiple: true },
    'secret-file': { type: 'string', multiple: true },
    ...network,
  })
  required(values, 'owner', 'image')
  if (values['no-egress']) throw new UsageError('--no-egress is for update; leave out --egress')
  const secrets = await secretsFromFlags(values)
  const options = optionsFromFlags(values, tail)
  // Secret names take part in the check: a name may not also be a plain variable.
  const record = asUsage(() =>
    buildWorkload({ ...options, ...(secrets.size > 0 ? { secrets: [...secrets.keys()] } : {}) }),
  )
  const identity = identityFrom(values)
  const owner = await passwordSession(
    identity,
    values.owner!,
    secretFromEnv('OWNER_PASSWORD', io.env),
  )
  // Dated when written, after signing in: round 0 opens at createdAt, and a record dated before
  // a slow sign-in could arrive after its own bid window had closed.
  const dated = { ...record, createdAt: new Date().toISOString() }
  if (secrets.size === 0) {
    const written = await owner.create(NSID.workload, dated)
    io.out(written.uri)
    return 0
  }
  const sealed = await publishWorkloadWithSecrets(
    { reader: new RepoReader(identity), writer: owner, keys: ownerKeys(io.env, owner.did) },
    dated,
    secrets,
  )
  io.out(sealed.uri)
  reportSealed(io, sealed)
  return 0
}

function reportSealed(io: Io, sealed: { sealedTo: string[]; withoutKey: string[] }): void {
  io.err(
    `meshlet: secrets sealed to ${sealed.sealedTo.length - 1} meshlet(s) and to your key (${ownerKeyFile(io.env)})` +
      (sealed.withoutKey.length > 0
        ? `; ${sealed.withoutKey.length} meshlet(s) have no sealing key yet and wait until your side shares`
        : ''),
  )
}

/** A new version of a workload: the flags given replace their fields, the rest is kept. */
async function update(argv: string[], io: Io): Promise<number> {
  const { flags, tail } = splitCommand(argv)
  const { values, uri } = workloadUri(flags, {
    ...SPEC_FLAGS,
    secret: { type: 'string', multiple: true },
    'secret-file': { type: 'string', multiple: true },
  })
  const secrets = await secretsFromFlags(values)
  const options = optionsFromFlags(values, tail)
  if (secrets.size > 0) options.secrets = [...secrets.keys()].sort()
  if (Object.keys(options).length === 0) {
    throw new UsageError('nothing to change: give the flags whose values the new version has')
  }
  const identity = identityFrom(values)
  const current = await new RepoReader(identity).get(uri.host, NSID.workload, uri.rkey)
  if (current === undefined) throw new UsageError(`no such workload: ${uri.toString()}`)
  const checked = checkRecord(NSID.workload, current.value)
  if (!checked.ok) throw new Error(`the workload record is not valid (${checked.reason})`)
  if (checked.value.deletedAt !== undefined) {
    throw new UsageError(`that workload was deleted at ${checked.value.deletedAt}`)
  }
  const { $type: _, updatedAt: __, ...body } = checked.value
  const record = asUsage(() => updateWorkload(body, options))
  const owner = await passwordSession(identity, uri.host, secretFromEnv('OWNER_PASSWORD', io.env))
  // Dated after signing in, like submit: the new version's round 0 opens at updatedAt.
  const dated = { ...record, $type: NSID.workload, updatedAt: new Date().toISOString() }
  // The replaced version leaves a tombstone, so its usage keeps counting (core/tombstone).
  const { publishVersion } = await import('../tombstone/update.js')
  const published = await publishVersion(
    { reader: new RepoReader(identity), writer: owner },
    uri.toString(),
    { cid: current.cid, value: checked.value },
    dated,
    { now: new Date() },
  )
  if (published.sweepError) io.err(`meshlet: ${published.sweepError.message}`)
  io.out(uri.toString())
  if (secrets.size > 0) {
    const sealed = await sealWorkloadSecrets(
      { reader: new RepoReader(identity), writer: owner, keys: ownerKeys(io.env, owner.did) },
      uri.toString(),
      secrets,
    )
    reportSealed(io, sealed)
  }
  return 0
}

export function workloadUri<O extends Options>(argv: string[], options: O = network as never) {
  const { values, positionals } = parse(argv, { ...network, ...options }, 1)
  const raw = positionals[0]
  if (!raw) throw new UsageError('give the workload at-uri')
  let uri: AtUri
  try {
    uri = new AtUri(raw)
  } catch {
    throw new UsageError(`not an at-uri: ${raw}`)
  }
  if (uri.collection !== NSID.workload || !uri.rkey) {
    throw new UsageError(`not a workload at-uri: ${raw}`)
  }
  return { values, uri }
}

async function status(argv: string[], io: Io): Promise<number> {
  const { values, uri } = workloadUri(argv)
  const { printStatus, workloadStatusReport } = await import('../status.js')
  const report = await workloadStatusReport(identityFrom(values), uri.toString(), Date.now())
  printStatus(report, io.out)
  return report.found ? 0 : 1
}

async function remove(argv: string[], io: Io): Promise<number> {
  const { values, uri } = workloadUri(argv)
  const identity = identityFrom(values)
  const owner = await passwordSession(identity, uri.host, secretFromEnv('OWNER_PASSWORD', io.env))
  const { deleteWorkloadRecord, WorkloadDeleteError } = await import('../tombstone/delete.js')
  let done
  try {
    // A tombstone: replicas stop everywhere, decided rounds keep their winners; the record
    // goes for good after the retention period (this and later deletes sweep it).
    const owned = { reader: new RepoReader(identity), writer: owner }
    done = await deleteWorkloadRecord(owned, uri.toString(), { now: new Date() })
  } catch (err) {
    if (err instanceof WorkloadDeleteError && err.code === 'not-found') {
      throw new UsageError(`no such workload: ${uri.toString()}`)
    }
    throw err
  }
  if (done.sweepError)
    io.err(`warning: expired tombstones stay for now: ${done.sweepError.message}`)
  io.out(`deleted ${uri.toString()}`)
  return 0
}
