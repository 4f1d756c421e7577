// The Electron main process: lifecycle, tray, the dashboard window, IPC to the core, power
// events and the login item. Thin on purpose (DESIGN §2): every decision it makes is a pure
// function in a sibling module with its own tests; this file only connects those decisions to
// Electron's objects, which cannot be run outside Electron.
import {
  app,
  BrowserWindow,
  dialog,
  ipcMain,
  Menu,
  nativeImage,
  powerMonitor,
  protocol,
  safeStorage,
  session,
  shell,
  Tray,
  type MenuItemConstructorOptions,
  type NativeImage,
  type WebContents,
} from 'electron'
import electronUpdater from 'electron-updater'
import { createWriteStream, mkdirSync, renameSync, statSync } from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { EVENT_NAMES, type DashboardState, type DesktopHost } from '../core/api.js'
import { openApp, type NetworkConfig } from '../core/app.js'
import { jsonLogger, type Logger } from '../core/log.js'
import { BUNDLED_ENTRY, setChildLauncher } from '../core/portmap/child.js'
import { FileSecretStore, MemorySecretStore, type SecretStore } from '../core/secrets.js'
import { APP_INDEX_URL, serveAppRequest } from './app-protocol.js'
import { forwardEvents, registerIpc } from './ipc.js'
import {
  keychainStatus,
  NO_KEYCHAIN_NOTICE,
  safeStorageSealer,
  type KeychainStatus,
} from './keychain.js'
import {
  createQuitHandler,
  HIDDEN_FLAG,
  loginItemChange,
  loginItemSettings,
  openedAtLogin,
  showDashboardAtLaunch,
  supportsLoginItem,
} from './lifecycle.js'
import { networkFromEnv } from './network.js'
import { utilityProcessLauncher } from './portmap-launcher.js'
import { desktopReadings, POWER_EVENTS, PowerController, type PowerEvent } from './power-policy.js'
import { openingSignInPages } from './sign-in.js'
import { TICK_MS, UpdateController, updatesEnabled } from './update-policy.js'
import {
  APP_NAME,
  menuTemplate,
  sameTrayModel,
  trayIconFile,
  trayModel,
  type TrayAction,
  type TrayIcon,
  type TrayModel,
} from './tray-menu.js'
import {
  APP_SCHEME,
  checkExternalUrl,
  isRendererRequestAllowed,
  type ExternalUrlPolicy,
} from './trusted-url.js'

/** Set at build time (vite.config.ts): the released app's hosted OAuth client_id, or ''. */
declare const __MESHLET_OAUTH_CLIENT_ID__: string

// dist/electron/main.js → dist/electron/preload.cjs and dist/renderer/.
const HERE = path.dirname(fileURLToPath(import.meta.url))
const PRELOAD = path.join(HERE, 'preload.cjs')
const RENDERER_ROOT = path.join(HERE, '..', 'renderer')
/** Bounds a core that does not finish closing; guests get Docker's own stop timeout inside it. */
const QUIT_TIMEOUT_MS = 60_000
const LOG_ROTATE_BYTES = 5 * 1024 * 1024

// --- before ready: everything Electron only accepts this early -------------------------------

// A second profile (two meshlets on one machine against a local network) is a second userData
// directory, and the single-instance lock is per userData directory.
if (process.env.MESHLET_USER_DATA) {
  app.setPath('userData', path.resolve(process.env.MESHLET_USER_DATA))
}
protocol.registerSchemesAsPrivileged([
  {
    scheme: APP_SCHEME,
    privileges: { standard: true, secure: true, supportFetchAPI: true, codeCache: true },
  },
])
// Every renderer sandboxed, whatever a window's own options say.
app.enableSandbox()
if (process.platform === 'win32') app.setAppUserModelId('net.commune.meshlet')

if (!app.requestSingleInstanceLock()) {
  // The first instance gets 'second-instance' and shows its dashboard.
  app.quit()
} else {
  start()
}

// --- the app ---------------------------------------------------------------------------------

function start(): void {
  const log = openLog()
  let wantDashboard = false
  let running: Shell | undefined
  app.on('second-instance', () => {
    if (running) running.showDashboard()
    else wantDashboard = true
  })
  // A tray app lives on with no window open.
  app.on('window-all-closed', () => undefined)
  process.on('SIGINT', () => app.quit())
  process.on('SIGTERM', () => app.quit())
  process.on('unhandledRejection', (reason) => {
    log.log('error', 'main.unhandled-rejection', { error: reason })
  })

  let network: NetworkConfig
  try {
    network = networkFromEnv(process.env)
  } catch (err) {
    fatal(log, 'Commune meshlet cannot start: the network settings are wrong', err)
    return
  }

  app
    .whenReady()
    .then(async () => {
      const policy: ExternalUrlPolicy = { allowLoopback: network.local === true }
      lockDown(log, policy)
      protocol.handle(APP_SCHEME, (request) => serveAppRequest(request, RENDERER_ROOT))
      setApplicationMenu()
      setChildLauncher(utilityProcessLauncher, new URL(`./${BUNDLED_ENTRY}.js`, import.meta.url))

      const keychain = keychainStatus({
        platform: process.platform,
        encryptionAvailable: safeStorage.isEncryptionAvailable(),
        linuxBackend:
          process.platform === 'linux' ? safeStorage.getSelectedStorageBackend() : undefined,
      })
      let secrets: SecretStore
      if (keychain.ok) {
        const file = path.join(app.getPath('userData'), 'secrets.json')
        secrets = new FileSecretStore(file, safeStorageSealer(safeStorage))
      } else {
        log.log('warn', 'keychain.unavailable', { reason: keychain.reason })
        secrets = new MemorySecretStore()
      }

      // The tray comes first: opening the core can take a while (Docker, the first sessions),
      // and a tray app with no tray looks like one that did not start.
      const tray = new Tray(trayImage('offline'))
      tray.setToolTip(`${APP_NAME}: Starting…`)
      tray.setContextMenu(
        Menu.buildFromTemplate([
          { label: 'Starting…', enabled: false },
          { type: 'separator' },
          { label: `Quit ${APP_NAME}`, click: () => app.quit() },
        ]),
      )

      const core = await openApp({
        dataDir: app.getPath('userData'),
        network,
        secrets,
        canStartAtLogin: supportsLoginItem(process.platform),
        // A local network's PDS cannot fetch the hosted client document: it keeps the loopback
        // client, as development builds do.
        ...(__MESHLET_OAUTH_CLIENT_ID__ && !network.local
          ? { oauthClientId: __MESHLET_OAUTH_CLIENT_ID__ }
          : {}),
        // The lending rules read idle time and battery from powerMonitor (core/policy decides).
        policy: { source: desktopReadings(powerMonitor) },
        log,
      })
      running = new Shell(core, tray, { log, policy, keychain })
      await running.start(wantDashboard)
    })
    .catch((err: unknown) => fatal(log, 'Commune meshlet could not start', err))
}

interface ShellOptions {
  log: Logger
  policy: ExternalUrlPolicy
  keychain: KeychainStatus
}

/** The app's Electron objects around one core: tray, dashboard, IPC, power and login item. */
class Shell {
  private dashboard: BrowserWindow | undefined
  private shownTray: TrayModel | undefined
  private lastState: DashboardState | undefined
  private lastStartAtLogin: boolean | undefined
  private readonly power: PowerController
  private updates: UpdateController | undefined
  /** Set once a quit is under way; with `installUpdate`, the quit ends in the installer. */
  private quitting = false
  private installUpdate = false

  constructor(
    private readonly core: DesktopHost,
    private readonly tray: Tray,
    private readonly opts: ShellOptions,
  ) {
    this.power = new PowerController({
      initial: { onBattery: powerMonitor.isOnBatteryPower(), suspended: false },
      setSystemPause: (reason, paused) => core.setSystemPause(reason, paused),
      onError: (err, change) =>
        opts.log.log('warn', 'power.pause-failed', { ...change, error: err }),
    })
  }

  async start(wantDashboard: boolean): Promise<void> {
    const { core, opts } = this
    const { log } = opts
    app.on('before-quit', () => (this.quitting = true))
    app.on(
      'before-quit',
      createQuitHandler({
        host: core,
        log,
        // Guests have drained by now: a ready update installs and relaunches the app.
        exit: () =>
          this.installUpdate ? electronUpdater.autoUpdater.quitAndInstall(true, true) : app.quit(),
        timeoutMs: QUIT_TIMEOUT_MS,
      }),
    )

    const ui = openingSignInPages(core, {
      policy: opts.policy,
      open: (url) => shell.openExternal(url),
      log,
    })
    registerIpc({ ipcMain, host: ui, dashboardId: () => this.liveDashboard()?.webContents.id, log })
    forwardEvents(core, () => this.liveDashboard()?.webContents, EVENT_NAMES)
    core.subscribe('state', (state) => this.onState(state))
    // The user comes back from the browser: bring the dashboard up to show how it went.
    core.subscribe('signIn', () => this.showDashboard())

    for (const event of POWER_EVENTS) {
      // The typings overload `on` per event name; these four all take a plain listener.
      powerMonitor.on(event as 'suspend', () => this.onPower(event))
    }
    // Log-out and shutdown on Linux and macOS: drain like a quit.
    powerMonitor.on('shutdown', () => app.quit())
    if (process.platform === 'win32') this.tray.on('click', () => this.showDashboard())

    const initial = await core.call('state.get', undefined)
    this.onState(initial)

    const atLogin = openedAtLogin({
      platform: process.platform,
      argv: process.argv,
      wasOpenedAtLogin:
        process.platform === 'darwin' && app.getLoginItemSettings().wasOpenedAtLogin,
    })
    if (wantDashboard || showDashboardAtLaunch(atLogin, initial.phase)) this.showDashboard()
    else app.dock?.hide()
    // Only now: macOS also sends 'activate' for the launch itself, which must not undo a hidden
    // start at login.
    app.on('activate', () => this.showDashboard())

    if (!opts.keychain.ok) {
      void dialog.showMessageBox({
        type: 'warning',
        title: APP_NAME,
        message: 'Your sessions will not be saved',
        detail: opts.keychain.reason,
      })
    }
    log.log('info', 'shell.started', { phase: initial.phase, atLogin })
    this.startUpdates()
  }

  /** electron-updater against the release feed; update-policy.ts decides when. */
  private startUpdates(): void {
    const { log } = this.opts
    const enabled = updatesEnabled({
      packaged: app.isPackaged,
      platform: process.platform,
      appImage: process.env.APPIMAGE,
      disabled: process.env.MESHLET_NO_UPDATES,
    })
    if (!enabled.ok) {
      log.log('info', 'updates.off', { reason: enabled.reason })
      return
    }
    const { autoUpdater } = electronUpdater
    autoUpdater.autoDownload = true
    // A plain quit drains guests first (the quit handler), so installing then is safe too.
    autoUpdater.autoInstallOnAppQuit = true
    autoUpdater.logger = null
    const updates = new UpdateController({
      updater: autoUpdater,
      now: Date.now,
      facts: () => ({
        guests: this.lastState?.guests.length ?? 0,
        dashboardOpen: this.liveDashboard()?.isVisible() ?? false,
        quitting: this.quitting,
      }),
      installOnQuit: (version) => {
        log.log('info', 'updates.install', { version })
        this.installUpdate = true
        app.quit()
      },
      onReady: (version) => {
        log.log('info', 'updates.ready', { version })
        this.core.setUpdateReady(version)
      },
      onError: (err) => log.log('warn', 'updates.failed', { error: err }),
    })
    this.updates = updates
    void updates.tick()
    setInterval(() => void updates.tick(), TICK_MS).unref()
    powerMonitor.on('resume', () => void updates.tick())
  }

  showDashboard(): void {
    const live = this.liveDashboard()
    if (live) {
      if (live.isMinimized()) live.restore()
      live.show()
      live.focus()
      return
    }
    void app.dock?.show()
    this.dashboard = this.createDashboard()
  }

  private liveDashboard(): BrowserWindow | undefined {
    const win = this.dashboard
    return win && !win.isDestroyed() ? win : undefined
  }

  private createDashboard(): BrowserWindow {
    const { log } = this.opts
    const win = new BrowserWindow({
      width: 1040,
      height: 760,
      minWidth: 720,
      minHeight: 520,
      show: false,
      title: APP_NAME,
      autoHideMenuBar: true,
      // macOS and Windows take the icon from the bundle; Linux window managers from the window.
      icon: process.platform === 'linux' ? path.join(resourcesDir(), 'icon.png') : undefined,
      webPreferences: {
        preload: PRELOAD,
        contextIsolation: true,
        nodeIntegration: false,
        nodeIntegrationInWorker: false,
        nodeIntegrationInSubFrames: false,
        sandbox: true,
        webSecurity: true,
        allowRunningInsecureContent: false,
        experimentalFeatures: false,
        webviewTag: false,
        navigateOnDragDrop: false,
        safeDialogs: true,
        // Chromium fetches spelling dictionaries from Google; the dashboard has little to spell.
        spellcheck: false,
        devTools: !app.isPackaged,
      },
    })
    win.once('ready-to-show', () => win.show())
    win.on('closed', () => {
      if (this.dashboard === win) this.dashboard = undefined
      // Back to a menu-bar-only app.
      app.dock?.hide()
    })
    win.webContents.on('render-process-gone', (_event, details) => {
      log.log('error', 'dashboard.gone', { reason: details.reason, exitCode: details.exitCode })
    })
    win.loadURL(APP_INDEX_URL).catch((err: unknown) => {
      log.log('error', 'dashboard.load-failed', { error: err })
    })
    return win
  }

  private onState(state: DashboardState): void {
    this.lastState = state
    this.renderTray(state)
    void this.power.retry()
    this.syncLoginItem(state.settings.startAtLogin)
  }

  private onPower(event: PowerEvent): void {
    this.opts.log.log('info', 'power.event', { power: event })
    void this.power.event(event)
  }

  private renderTray(state: DashboardState): void {
    const tray = this.tray
    const extras = this.opts.keychain.ok ? {} : { notices: [NO_KEYCHAIN_NOTICE] }
    const model = trayModel(state, extras)
    if (sameTrayModel(this.shownTray, model)) return
    if (this.shownTray?.icon !== model.icon) tray.setImage(trayImage(model.icon))
    tray.setToolTip(model.tooltip)
    tray.setContextMenu(Menu.buildFromTemplate(menuTemplate(model, (a) => this.dispatch(a))))
    this.shownTray = model
  }

  private dispatch(action: TrayAction): void {
    const { log } = this.opts
    switch (action.kind) {
      case 'set-lending':
        this.core.call('lending.set', { lending: action.lending }).catch((err: unknown) => {
          log.log('warn', 'tray.lending-failed', { error: err })
          // Electron ticked the box on click; draw it again as the core has it.
          this.shownTray = undefined
          if (this.lastState) this.renderTray(this.lastState)
        })
        return
      case 'open-dashboard':
        this.showDashboard()
        return
      case 'open-sign-in':
        openExternal(action.url, 'tray', this.opts.policy, log)
        return
      case 'install-update': {
        const decision = this.updates?.restartNow()
        log.log('info', 'updates.asked', { decision })
        return
      }
      case 'quit':
        app.quit()
        return
    }
  }

  private syncLoginItem(startAtLogin: boolean): void {
    // The OS is asked only when the setting changes, not on every state push.
    if (startAtLogin === this.lastStartAtLogin) return
    this.lastStartAtLogin = startAtLogin
    const query = process.platform === 'win32' ? { args: [HIDDEN_FLAG] } : undefined
    const change = loginItemChange({
      platform: process.platform,
      packaged: app.isPackaged,
      wanted: { startAtLogin },
      current: app.getLoginItemSettings(query),
    })
    if (change === undefined) return
    app.setLoginItemSettings(loginItemSettings(process.platform, change))
    this.opts.log.log('info', 'login-item.set', { openAtLogin: change })
  }
}

// --- security --------------------------------------------------------------------------------

/** Applies to every webContents and the default session, so a window added later is covered
 *  without remembering to. */
function lockDown(log: Logger, policy: ExternalUrlPolicy): void {
  app.on('web-contents-created', (_event, contents: WebContents) => {
    // No page-initiated navigation at all: the dashboard is one page. A link to the web opens in
    // the browser instead, if it passes the URL check.
    contents.on('will-frame-navigate', (event) => {
      event.preventDefault()
      if (event.isMainFrame) openExternal(event.url, 'navigation', policy, log)
    })
    contents.on('will-redirect', (event) => event.preventDefault())
    contents.on('will-attach-webview', (event) => event.preventDefault())
    contents.setWindowOpenHandler(({ url }) => {
      openExternal(url, 'window-open', policy, log)
      return { action: 'deny' }
    })
  })

  const ses = session.defaultSession
  ses.setPermissionRequestHandler((_contents, permission, callback) => {
    log.log('info', 'permission.denied', { permission })
    callback(false)
  })
  ses.setPermissionCheckHandler(() => false)
  ses.setDevicePermissionHandler(() => false)
  ses.webRequest.onBeforeRequest((details, callback) => {
    const allowed = isRendererRequestAllowed(details.url)
    if (!allowed) log.log('warn', 'request.blocked', { url: details.url.slice(0, 200) })
    callback({ cancel: !allowed })
  })
}

function openExternal(url: string, via: string, policy: ExternalUrlPolicy, log: Logger): void {
  const check = checkExternalUrl(url, policy)
  if (!check.ok) {
    log.log('warn', 'external.refused', { via, reason: check.reason })
    return
  }
  shell.openExternal(check.url).catch((err: unknown) => {
    log.log('warn', 'external.open-failed', { via, error: err })
  })
}

function setApplicationMenu(): void {
  // macOS needs an Edit menu for copy and paste shortcuts to work in the window. Elsewhere the
  // default menu would only offer reload and DevTools, which only development builds keep.
  const template: MenuItemConstructorOptions[] =
    process.platform === 'darwin'
      ? [{ role: 'appMenu' }, { role: 'editMenu' }, { role: 'windowMenu' }]
      : []
  if (!app.isPackaged) template.push({ role: 'viewMenu' })
  Menu.setApplicationMenu(template.length > 0 ? Menu.buildFromTemplate(template) : null)
}

// --- small things ----------------------------------------------------------------------------

const trayImages = new Map<TrayIcon, NativeImage>()

function trayImage(icon: TrayIcon): NativeImage {
  let image = trayImages.get(icon)
  if (!image) {
    // Electron loads the @2x file beside it on high-density screens.
    image = nativeImage.createFromPath(
      path.join(resourcesDir(), 'tray', trayIconFile(icon, process.platform)),
    )
    if (process.platform === 'darwin') image.setTemplateImage(true)
    trayImages.set(icon, image)
  }
  return image
}

/** resources/ ships outside the asar (extraResources), where nativeImage reads it directly. */
function resourcesDir(): string {
  return app.isPackaged
    ? path.join(process.resourcesPath, 'resources')
    : path.join(app.getAppPath(), 'resources')
}

/** One JSON line per event in <logs>/main.log (and stdout in development); the previous file
 *  is kept as main.log.1 once it passes 5 MiB. */
function openLog(): Logger {
  const dir = app.getPath('logs')
  mkdirSync(dir, { recursive: true })
  const file = path.join(dir, 'main.log')
  try {
    if (statSync(file).size > LOG_ROTATE_BYTES) renameSync(file, `${file}.1`)
  } catch (err) {
    // No log yet is the normal first run; anything else will show when the stream opens.
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') process.stderr.write(`log: ${err}\n`)
  }
  const stream = createWriteStream(file, { flags: 'a', mode: 0o600 })
  stream.on('error', (err) => process.stderr.write(`log: ${err.message}\n`))
  const toStdout = !app.isPackaged
  return jsonLogger((line) => {
    stream.write(`${line}\n`)
    if (toStdout) process.stdout.write(`${line}\n`)
  })
}

function describe(err: unknown): string {
  const parts: string[] = []
  for (let e: unknown = err; e instanceof Error; e = e.cause) parts.push(e.message)
  return parts.join(': ') || String(err)
}

function fatal(log: Logger, title: string, err: unknown): void {
  log.log('error', 'startup.failed', { error: err })
  dialog.showErrorBox(title, describe(err))
  app.quit()
}
