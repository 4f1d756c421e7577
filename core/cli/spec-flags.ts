// The workload flags `meshlet submit` and `meshlet update` share: strings from the command line
// into core/spec's options, and core/spec's SpecError into a usage error that names the flag.
import {
  parseEnvVar,
  RESTART_MODES,
  SpecError,
  type RestartMode,
  type SpecField,
  type WorkloadOptions,
} from '../spec/index.js'
import { UsageError } from './args.js'

export const SPEC_FLAGS = {
  image: { type: 'string' },
  cpu: { type: 'string' },
  memory: { type: 'string' },
  storage: { type: 'string' },
  replicas: { type: 'string' },
  command: { type: 'string', multiple: true },
  env: { type: 'string', multiple: true },
  arch: { type: 'string', multiple: true },
  egress: { type: 'boolean' },
  'no-egress': { type: 'boolean' },
  restart: { type: 'string' },
  'restart-attempts': { type: 'string' },
  'restart-delay': { type: 'string' },
  'max-runtime': { type: 'string' },
  'bid-window': { type: 'string' },
} as const

/** The flag that sets each option, for messages. */
export const FLAG_OF: Record<SpecField, string> = {
  name: '--name',
  image: '--image',
  command: '--command',
  cpuMillis: '--cpu',
  memoryMiB: '--memory',
  storageMiB: '--storage',
  replicas: '--replicas',
  env: '--env',
  arch: '--arch',
  egress: '--egress',
  restart: '--restart',
  restartAttempts: '--restart-attempts',
  restartDelayMs: '--restart-delay',
  maxRuntimeMs: '--max-runtime',
  bidWindowMs: '--bid-window',
  secrets: '--secret',
}

export const SPEC_HELP = `          --image <ref>             container image (may be pinned by @sha256 digest)
          --cpu <millicores>        per replica (default 100, at least 10)
          --memory <MiB>            per replica (default 64, at least 6)
          --storage <MiB>           scratch space per replica: the size of the writable
                                    tmpfs at /tmp (and /dev/shm); default the runtime's 64
          --replicas <n>            default 1, at most 64
          --command <arg>           repeat for each argument, or put the command after --;
                                    absent: the image's own default command
          --env NAME=VALUE          a plain environment variable (repeatable). Public, in
                                    the workload record: use --secret for private values;
                                    a name may not be both
          --arch <arch>             CPU architectures the image runs on, repeatable or
                                    comma-separated (amd64, arm64, arm, 386, ppc64le, s390x,
                                    riscv64; x86_64 and aarch64 are taken too). Meshlets of
                                    another architecture do not bid (arch-mismatch).
                                    Default: any
          --egress                  ask for outbound network: only meshlets whose lender
                                    allows egress bid (egress-not-allowed), and the replica
                                    runs on a bridge network there; default: no network
          --restart never|on-failure|always
                                    when a replica ends: never (default) leaves it ended;
                                    on-failure places it again when it fails (nonzero
                                    exit, killed, ran past --max-runtime), elsewhere when
                                    another meshlet bids; always also when it exits 0
          --restart-attempts <n>    new placements after failures before giving up (0-100,
                                    default 3); then its status stays failed
          --restart-delay <seconds> back-off before the first new placement, doubling on
                                    each further failure up to 5 min (default 5)
          --max-runtime <seconds>   stop a replica that runs longer (1 s to 30 days); its
                                    status says failed, reason max-runtime-exceeded.
                                    Default: no limit
          --bid-window <ms>         how long bids are taken when a round opens (default 5000)
`

/** A whole number from a flag, or undefined when the flag is absent; bounds are core/spec's. */
function whole(values: Record<string, unknown>, name: string, scale = 1): number | undefined {
  const raw = values[name]
  if (raw === undefined) return undefined
  if (typeof raw !== 'string' || !/^\d+$/.test(raw) || !Number.isSafeInteger(Number(raw) * scale)) {
    throw new UsageError(`--${name} must be a whole number, got ${String(raw).slice(0, 40)}`)
  }
  return Number(raw) * scale
}

/**
 * The options the flags give, and only those (an update keeps the rest). `tail` is the command
 * after `--`. `--max-runtime 0` and `--arch any` mean no limit, so an update can lift them.
 */
export function optionsFromFlags(values: Record<string, unknown>, tail: string[]): WorkloadOptions {
  return asUsage(() => {
    const o: WorkloadOptions = {}
    if (values.image !== undefined) o.image = values.image as string
    const command = [...((values.command as string[] | undefined) ?? []), ...tail]
    if (command.length > 0) o.command = command
    const set = <K extends keyof WorkloadOptions>(key: K, v: WorkloadOptions[K] | undefined) => {
      if (v !== undefined) o[key] = v
    }
    set('cpuMillis', whole(values, 'cpu'))
    set('memoryMiB', whole(values, 'memory'))
    set('storageMiB', whole(values, 'storage'))
    set('replicas', whole(values, 'replicas'))
    set('bidWindowMs', whole(values, 'bid-window'))
    const env = values.env as string[] | undefined
    if (env !== undefined) o.env = env.map(parseEnvVar)
    const arch = values.arch as string[] | undefined
    if (arch !== undefined) {
      o.arch = arch.length === 1 && arch[0]!.trim().toLowerCase() === 'any' ? null : arch
    }
    if (values.egress === true && values['no-egress'] === true) {
      throw new UsageError('give --egress or --no-egress, not both')
    }
    if (values.egress === true) o.egress = true
    if (values['no-egress'] === true) o.egress = false
    if (values.restart !== undefined) {
      const mode = values.restart as RestartMode
      // Checked here too, so `update` refuses it before reading anything from the network.
      if (!RESTART_MODES.includes(mode)) {
        throw new UsageError(
          `--restart must be one of ${RESTART_MODES.join(', ')}, got ${JSON.stringify(String(mode).slice(0, 40))}`,
        )
      }
      o.restart = mode
    }
    set('restartAttempts', whole(values, 'restart-attempts'))
    set('restartDelayMs', whole(values, 'restart-delay', 1000))
    const maxRuntime = whole(values, 'max-runtime', 1000)
    if (maxRuntime !== undefined) o.maxRuntimeMs = maxRuntime === 0 ? null : maxRuntime
    return o
  })
}

/** Runs core/spec code, turning its SpecError into a usage error that names the flag. */
export function asUsage<T>(f: () => T): T {
  try {
    return f()
  } catch (err) {
    if (err instanceof SpecError) {
      const flag = FLAG_OF[err.field]
      throw new UsageError(err.detail ? `${flag} ${err.detail}` : `${flag}: ${err.message}`)
    }
    throw err
  }
}
