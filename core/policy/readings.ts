// Where the policy's readings come from. Each source is read only when a rule needs it (the
// runner asks), never on a timer of its own, and never blocks: commands run with execFile and a
// short timeout.
import { execFile } from 'node:child_process'

/** What the runner asks for; each method optional (a shell that cannot read it leaves it out).
 *  undefined from a method: not readable right now. */
export interface ReadingsSource {
  /** Seconds since the last keyboard or mouse input in the desktop session. */
  idleSeconds?(): Promise<number | undefined> | number | undefined
  battery?(): Promise<BatteryReading | undefined> | BatteryReading | undefined
  /** This machine's own CPU load in percent of all its cores, guests excluded. */
  hostLoadPercent?(): Promise<number | undefined> | number | undefined
}

export interface BatteryReading {
  onBattery: boolean
  percent?: number
}

export class ReadingError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options)
    this.name = 'ReadingError'
  }
}

/** systeminformation, loaded on first use: a daemon whose rules never ask for the battery or the
 *  host's load does not carry all of it (some 15 MB) for its whole life. */
async function systemInformation() {
  return (await import('systeminformation')).default
}

/** The battery by systeminformation (macOS, Windows, Linux's power_supply). A machine without
 *  one is never on battery. */
export async function systemBattery(): Promise<BatteryReading> {
  try {
    const b = await (await systemInformation()).battery()
    if (!b.hasBattery) return { onBattery: false }
    return {
      onBattery: !b.acConnected && !b.isCharging,
      ...(Number.isFinite(b.percent) ? { percent: b.percent } : {}),
    }
  } catch (err) {
    throw new ReadingError('cannot read the battery', { cause: err })
  }
}

export interface HostLoadMeterOptions {
  /** The whole machine's CPU load in percent of all cores, since the previous call. */
  hostLoadPercent?: () => Promise<number>
  /** Cores, for turning guests' millicores into a percent of the machine. */
  cores?: () => Promise<number>
  /** Each running guest's CPU time so far, in ms (Docker stats, through core/runtime). */
  guestCpuMs: () => Promise<Map<string, number>>
  now?: () => number
}

/**
 * The host's own load: the machine's CPU load minus what its guests used over the same time.
 * Guests' CPU time is cumulative, so a rate needs two samples: the first call says nothing.
 */
export class HostLoadMeter {
  private last?: { at: number; guests: Map<string, number> }
  private coreCount?: number

  constructor(private readonly opts: HostLoadMeterOptions) {}

  async read(): Promise<number | undefined> {
    const now = (this.opts.now ?? Date.now)()
    const [host, guests, cores] = await Promise.all([
      this.opts.hostLoadPercent ? this.opts.hostLoadPercent() : currentLoad(),
      this.opts.guestCpuMs(),
      this.cores(),
    ])
    const last = this.last
    this.last = { at: now, guests }
    if (!last || now <= last.at) return undefined
    let guestMs = 0
    for (const [id, ms] of guests) {
      // A guest that started since the last sample counts from zero; a restarted counter not at all.
      const before = last.guests.get(id) ?? 0
      if (ms >= before) guestMs += ms - before
    }
    const guestPercent = (guestMs / (now - last.at) / cores) * 100
    return Math.max(0, Math.min(100, host - guestPercent))
  }

  private async cores(): Promise<number> {
    if (this.coreCount === undefined) {
      this.coreCount = Math.max(
        1,
        this.opts.cores ? await this.opts.cores() : (await (await systemInformation()).cpu()).cores,
      )
    }
    return this.coreCount
  }
}

async function currentLoad(): Promise<number> {
  try {
    return (await (await systemInformation()).currentLoad()).currentLoad
  } catch (err) {
    throw new ReadingError('cannot read the CPU load', { cause: err })
  }
}

// --- idle time of a desktop session, for the headless daemon on Linux ---------------------------

export interface IdleReader {
  /** Which source answered, for the log and --help. */
  name: string
  read(): Promise<number | undefined>
}

export interface IdleProbe {
  name: string
  /** Whether this environment could have it at all (no session bus: no D-Bus probe). */
  possible(env: NodeJS.ProcessEnv): boolean
  command: string
  args: string[]
  /** The command's stdout → seconds idle; undefined when it does not say. */
  parse(stdout: string, now: number): number | undefined
}

/** Tried in this order; the first that answers is used. */
export const IDLE_PROBES: readonly IdleProbe[] = [
  {
    // X11: milliseconds since the last input.
    name: 'xprintidle',
    possible: (env) => Boolean(env.DISPLAY),
    command: 'xprintidle',
    args: [],
    parse: (out) => msToSeconds(/^\s*(\d+)\s*$/.exec(out)?.[1]),
  },
  {
    // GNOME (X11 and Wayland): "(uint64 12345,)" in milliseconds.
    name: 'GNOME Mutter IdleMonitor',
    possible: sessionBus,
    command: 'gdbus',
    args: [
      'call',
      '--session',
      '--dest',
      'org.gnome.Mutter.IdleMonitor',
      '--object-path',
      '/org/gnome/Mutter/IdleMonitor/Core',
      '--method',
      'org.gnome.Mutter.IdleMonitor.GetIdletime',
    ],
    parse: (out) => msToSeconds(/\(uint64 (\d+),\)/.exec(out)?.[1]),
  },
  {
    // The freedesktop screensaver interface (KDE and others): seconds, by the specification.
    name: 'org.freedesktop.ScreenSaver',
    possible: sessionBus,
    command: 'gdbus',
    args: [
      'call',
      '--session',
      '--dest',
      'org.freedesktop.ScreenSaver',
      '--object-path',
      '/org/freedesktop/ScreenSaver',
      '--method',
      'org.freedesktop.ScreenSaver.GetSessionIdleTime',
    ],
    parse: (out) => {
      const s = /\(uint32 (\d+),\)/.exec(out)?.[1]
      return s === undefined ? undefined : Number(s)
    },
  },
  {
    // logind: coarse (the desktop sets IdleHint after its own idle delay), but everywhere.
    name: 'logind IdleHint',
    possible: (env) => Boolean(env.XDG_SESSION_ID),
    command: 'loginctl',
    args: ['show-session', 'auto', '-p', 'IdleHint', '-p', 'IdleSinceHint'],
    parse: (out, now) => {
      const hint = /IdleHint=(yes|no)/.exec(out)?.[1]
      if (hint === undefined) return undefined
      if (hint === 'no') return 0
      const sinceUs = Number(/IdleSinceHint=(\d+)/.exec(out)?.[1])
      if (!Number.isFinite(sinceUs) || sinceUs <= 0) return undefined
      return Math.max(0, (now - sinceUs / 1000) / 1000)
    },
  },
]

function sessionBus(env: NodeJS.ProcessEnv): boolean {
  return Boolean(env.DBUS_SESSION_BUS_ADDRESS)
}

function msToSeconds(ms: string | undefined): number | undefined {
  return ms === undefined ? undefined : Number(ms) / 1000
}

function run(command: string, args: string[], env: NodeJS.ProcessEnv): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(command, args, { env, timeout: 1500, maxBuffer: 4096 }, (err, stdout) => {
      if (err) reject(err)
      else resolve(stdout)
    })
  })
}

function readerOf(probe: IdleProbe, env: NodeJS.ProcessEnv): IdleReader {
  return {
    name: probe.name,
    read: async () => {
      try {
        return probe.parse(await run(probe.command, probe.args, env), Date.now())
      } catch {
        // Gone for now (the session locked, the bus restarted): the rule keeps its state.
        return undefined
      }
    },
  }
}

export class IdleUnavailableError extends Error {
  constructor(readonly tried: string[]) {
    super(
      `cannot read the desktop session's idle time here (tried ${tried.join(', ')}); ` +
        'run the daemon inside the desktop session (DISPLAY, DBUS_SESSION_BUS_ADDRESS or ' +
        'XDG_SESSION_ID set), ' +
        'install xprintidle, or use the desktop app',
    )
    this.name = 'IdleUnavailableError'
  }
}

/** The first source of the desktop session's idle time that answers here. */
export async function findIdleReader(
  env: NodeJS.ProcessEnv = process.env,
  probes: readonly IdleProbe[] = IDLE_PROBES,
): Promise<IdleReader> {
  for (const probe of probes) {
    // Nothing is started where it cannot answer: a server without a session spawns nothing.
    if (!probe.possible(env)) continue
    const reader = readerOf(probe, env)
    if ((await reader.read()) !== undefined) return reader
  }
  throw new IdleUnavailableError(probes.map((p) => p.name))
}
