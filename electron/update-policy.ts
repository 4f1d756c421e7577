// Updates from the release feed (electron-updater, GitHub provider): when to check, and whether
// the app may restart into a downloaded update now. Pure functions and a small controller over an
// injected updater, so every case is a table test in Node; main.ts passes electron-updater's
// `autoUpdater` and the quit path. Guests are never cut off: installing always goes through the
// app's quit, whose handler drains them first (lifecycle.ts), and the app restarts on its own only
// while no guest runs and nobody is looking at the dashboard.

export const DAY_MS = 24 * 60 * 60 * 1000
/** After a failed check (offline, GitHub away), try again sooner than a day. */
export const RETRY_MS = 60 * 60 * 1000
/** How often the controller asks `shouldCheck`: a laptop asleep through a whole day checks
 *  within this long of waking. */
export const TICK_MS = 10 * 60 * 1000

export interface CheckInput {
  now: number
  /** When the last check started; absent before the first one (at start: check at once). */
  lastCheckAt?: number
  lastCheckFailed?: boolean
  inFlight: boolean
}

export function shouldCheck(s: CheckInput): boolean {
  if (s.inFlight) return false
  if (s.lastCheckAt === undefined) return true
  const wait = s.lastCheckFailed ? RETRY_MS : DAY_MS
  // A clock set back must not postpone checks for as long as it was set back.
  return s.now - s.lastCheckAt >= wait || s.now < s.lastCheckAt
}

/** Whether this build can update itself at all. */
export function updatesEnabled(env: {
  packaged: boolean
  platform: NodeJS.Platform
  /** Set by the AppImage runtime; other Linux packages update through their package manager. */
  appImage?: string | undefined
  /** MESHLET_NO_UPDATES=1 turns updates off (managed machines, tests). */
  disabled?: string | undefined
}): { ok: true } | { ok: false; reason: string } {
  if (!env.packaged) return { ok: false, reason: 'not a packaged build' }
  if (env.disabled === '1') return { ok: false, reason: 'MESHLET_NO_UPDATES=1' }
  if (env.platform === 'linux' && !env.appImage) {
    return { ok: false, reason: 'only the AppImage updates itself on Linux' }
  }
  if (!['darwin', 'win32', 'linux'].includes(env.platform)) {
    return { ok: false, reason: `no updates for ${env.platform}` }
  }
  return { ok: true }
}

export interface RestartInput {
  /** The version downloaded and ready to install, if any. */
  ready?: string | undefined
  /** The user chose "Restart to update". */
  asked: boolean
  /** Guests running here now. */
  guests: number
  /** The dashboard window is open (someone may be in the middle of something). */
  dashboardOpen: boolean
  /** A quit is already under way (it drains, then installs on its own). */
  quitting: boolean
}

export type RestartDecision =
  | { kind: 'wait'; reason: 'nothing-ready' | 'guests-running' | 'in-use' | 'quitting' }
  /** Quit through the draining quit handler, then install and relaunch. */
  | { kind: 'install'; drainFirst: boolean }

/**
 * Asked: install now, draining the guests first if any run. Not asked: only when nothing would be
 * interrupted (no guests, no dashboard open); otherwise the update waits for the user's choice or
 * for the next quit, and the tray and the dashboard say it is ready.
 */
export function restartDecision(s: RestartInput): RestartDecision {
  if (!s.ready) return { kind: 'wait', reason: 'nothing-ready' }
  if (s.quitting) return { kind: 'wait', reason: 'quitting' }
  if (s.asked) return { kind: 'install', drainFirst: s.guests > 0 }
  if (s.guests > 0) return { kind: 'wait', reason: 'guests-running' }
  if (s.dashboardOpen) return { kind: 'wait', reason: 'in-use' }
  return { kind: 'install', drainFirst: false }
}

/** What the controller needs of electron-updater's `autoUpdater`. */
export interface Updater {
  checkForUpdates(): Promise<unknown>
  on(event: 'update-downloaded', listener: (info: { version: string }) => void): unknown
  on(event: 'error', listener: (err: Error) => void): unknown
}

export interface UpdateControllerOptions {
  updater: Updater
  now: () => number
  /** The facts restartDecision needs that the shell knows. */
  facts: () => { guests: number; dashboardOpen: boolean; quitting: boolean }
  /** Quits through the draining quit handler and installs the update at its end. */
  installOnQuit: (version: string) => void
  /** The ready version changed: tray item and the dashboard's line. */
  onReady: (version: string) => void
  onError: (err: unknown) => void
}

/** Checks at start and daily, and restarts into a ready update only when restartDecision says. */
export class UpdateController {
  private lastCheckAt?: number
  private lastCheckFailed = false
  private inFlight = false
  private ready?: string
  private installing = false

  constructor(private readonly opts: UpdateControllerOptions) {
    opts.updater.on('update-downloaded', (info) => {
      this.ready = info.version
      opts.onReady(info.version)
      this.consider(false)
    })
    opts.updater.on('error', (err) => opts.onError(err))
  }

  get readyVersion(): string | undefined {
    return this.ready
  }

  /** Called at start and every TICK_MS (and on resume from sleep). */
  async tick(): Promise<void> {
    this.consider(false)
    const now = this.opts.now()
    const input: CheckInput = {
      now,
      inFlight: this.inFlight,
      lastCheckFailed: this.lastCheckFailed,
      ...(this.lastCheckAt !== undefined ? { lastCheckAt: this.lastCheckAt } : {}),
    }
    if (!shouldCheck(input)) return
    this.inFlight = true
    this.lastCheckAt = now
    try {
      await this.opts.updater.checkForUpdates()
      this.lastCheckFailed = false
    } catch (err) {
      this.lastCheckFailed = true
      this.opts.onError(err)
    } finally {
      this.inFlight = false
    }
  }

  /** The user chose "Restart to update" (tray). */
  restartNow(): RestartDecision {
    return this.consider(true)
  }

  private consider(asked: boolean): RestartDecision {
    const facts = this.opts.facts()
    const decision = restartDecision({
      ready: this.ready,
      asked,
      guests: facts.guests,
      dashboardOpen: facts.dashboardOpen,
      quitting: facts.quitting || this.installing,
    })
    if (decision.kind === 'install' && this.ready) {
      this.installing = true
      this.opts.installOnQuit(this.ready)
    }
    return decision
  }
}
