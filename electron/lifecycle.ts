// The app's life around the core: whether to show the dashboard at launch, the login item, and
// an orderly quit (publish `draining`, stop the guests, then exit) that still exits when the core
// cannot finish. Pure decisions plus one small state machine, tested in Node.
import type { LoginItemSettings, Settings as LoginItemOptions } from 'electron'
import type { DesktopHost, Phase, Settings } from '../core/api.js'
import type { Logger } from '../core/log.js'

/** Passed by the Windows login item, so a launch at login can start hidden in the tray. */
export const HIDDEN_FLAG = '--hidden'

/** Login items exist on macOS and Windows; Linux desktops have no API Electron wraps. */
export function supportsLoginItem(platform: string): boolean {
  return platform === 'darwin' || platform === 'win32'
}

export interface LaunchFacts {
  platform: string
  argv: readonly string[]
  /** app.getLoginItemSettings().wasOpenedAtLogin (macOS). */
  wasOpenedAtLogin: boolean
}

export function openedAtLogin(facts: LaunchFacts): boolean {
  if (facts.platform === 'darwin') return facts.wasOpenedAtLogin
  return facts.argv.includes(HIDDEN_FLAG)
}

/** A launch by the user opens the dashboard; a launch at login stays in the tray unless the app
 *  cannot lend without the user (nobody signed in, or this computer not set up). */
export function showDashboardAtLaunch(atLogin: boolean, phase: Phase): boolean {
  return !atLogin || phase === 'signed-out' || phase === 'needs-meshlet'
}

export function loginItemSettings(platform: string, openAtLogin: boolean): LoginItemOptions {
  return platform === 'win32' ? { openAtLogin, args: [HIDDEN_FLAG] } : { openAtLogin }
}

/**
 * Whether to change the login item: only in a packaged app (registering the development Electron
 * binary would start a bare Electron at every login), only where supported, and only when the
 * wanted value differs from what the OS reports.
 */
export function loginItemChange(opts: {
  platform: string
  packaged: boolean
  wanted: Pick<Settings, 'startAtLogin'>
  current: Pick<LoginItemSettings, 'openAtLogin'>
}): boolean | undefined {
  if (!opts.packaged || !supportsLoginItem(opts.platform)) return undefined
  return opts.wanted.startAtLogin === opts.current.openAtLogin
    ? undefined
    : opts.wanted.startAtLogin
}

export interface QuitOptions {
  host: Pick<DesktopHost, 'setSystemPause' | 'close'>
  log: Logger
  /** Ends the process once the core is closed: app.quit() again, which this then lets through. */
  exit(): void
  /** How long to wait for the core before exiting anyway (guests are stopped with Docker's own
   *  timeout; this only bounds a core that hangs). */
  timeoutMs: number
  /** Injected so tests need no clock. */
  setTimer?: (fn: () => void, ms: number) => unknown
}

/**
 * The before-quit handler. The first quit is held (preventDefault) while the core publishes
 * `draining` and closes; then `exit` quits for real and this lets that one through. A failure of
 * either step is logged and the quit goes on: a user who quits must get a quit.
 */
export function createQuitHandler(opts: QuitOptions): (event: { preventDefault(): void }) => void {
  let state: 'running' | 'closing' | 'closed' = 'running'
  const setTimer = opts.setTimer ?? ((fn, ms) => setTimeout(fn, ms).unref())
  const finish = () => {
    if (state === 'closed') return
    state = 'closed'
    opts.exit()
  }
  return (event) => {
    if (state === 'closed') return
    event.preventDefault()
    if (state === 'closing') return
    state = 'closing'
    setTimer(() => {
      opts.log.log('warn', 'quit.timeout', { timeoutMs: opts.timeoutMs })
      finish()
    }, opts.timeoutMs)
    void (async () => {
      try {
        await opts.host.setSystemPause('quit', true)
      } catch (err) {
        opts.log.log('warn', 'quit.pause-failed', { error: err })
      }
      try {
        await opts.host.close()
      } catch (err) {
        opts.log.log('error', 'quit.close-failed', { error: err })
      }
      finish()
    })()
  }
}
