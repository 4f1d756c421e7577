// When the desktop app checks for updates and when it may restart into one: table tests of the
// pure decisions, and the controller over a stand-in updater (the real one needs Electron).
import { describe, expect, it } from 'vitest'
import {
  DAY_MS,
  RETRY_MS,
  restartDecision,
  shouldCheck,
  UpdateController,
  updatesEnabled,
  type RestartInput,
  type Updater,
} from '../../electron/update-policy.js'

const T = 1_800_000_000_000

describe('shouldCheck', () => {
  it.each([
    ['at start', { now: T, inFlight: false }, true],
    ['while a check runs', { now: T, inFlight: true }, false],
    ['an hour after a check', { now: T + RETRY_MS, lastCheckAt: T, inFlight: false }, false],
    ['a day after a check', { now: T + DAY_MS, lastCheckAt: T, inFlight: false }, true],
    ['just under a day', { now: T + DAY_MS - 1, lastCheckAt: T, inFlight: false }, false],
    [
      'an hour after a failed check',
      { now: T + RETRY_MS, lastCheckAt: T, lastCheckFailed: true, inFlight: false },
      true,
    ],
    ['the clock set back', { now: T - 1000, lastCheckAt: T, inFlight: false }, true],
  ])('%s → %s', (_, input, expected) => {
    expect(shouldCheck(input)).toBe(expected)
  })
})

describe('updatesEnabled', () => {
  it.each([
    [{ packaged: false, platform: 'darwin' as const }, false],
    [{ packaged: true, platform: 'darwin' as const }, true],
    [{ packaged: true, platform: 'win32' as const }, true],
    [{ packaged: true, platform: 'linux' as const }, false],
    [{ packaged: true, platform: 'linux' as const, appImage: '/opt/Meshlet.AppImage' }, true],
    [{ packaged: true, platform: 'win32' as const, disabled: '1' }, false],
    [{ packaged: true, platform: 'freebsd' as const }, false],
  ])('%j → %s', (env, ok) => {
    expect(updatesEnabled(env).ok).toBe(ok)
  })
})

describe('restartDecision', () => {
  const base: RestartInput = {
    ready: '1.2.0',
    asked: false,
    guests: 0,
    dashboardOpen: false,
    quitting: false,
  }
  it.each<[string, Partial<RestartInput>, ReturnType<typeof restartDecision>]>([
    [
      'nothing downloaded',
      { ready: undefined, asked: true },
      { kind: 'wait', reason: 'nothing-ready' },
    ],
    ['idle: restarts on its own', {}, { kind: 'install', drainFirst: false }],
    ['guests running: waits', { guests: 2 }, { kind: 'wait', reason: 'guests-running' }],
    ['dashboard open: waits', { dashboardOpen: true }, { kind: 'wait', reason: 'in-use' }],
    [
      'asked, no guests',
      { asked: true, dashboardOpen: true },
      { kind: 'install', drainFirst: false },
    ],
    [
      'asked, guests running: drains first',
      { asked: true, guests: 1 },
      { kind: 'install', drainFirst: true },
    ],
    ['a quit under way', { asked: true, quitting: true }, { kind: 'wait', reason: 'quitting' }],
  ])('%s', (_, patch, expected) => {
    expect(restartDecision({ ...base, ...patch })).toEqual(expected)
  })

  it('never installs without draining while guests run', () => {
    for (const asked of [false, true])
      for (const dashboardOpen of [false, true])
        for (const guests of [1, 5]) {
          const d = restartDecision({ ...base, asked, dashboardOpen, guests })
          expect(d.kind === 'wait' || d.drainFirst).toBe(true)
        }
  })
})

/** Stands in for electron-updater's autoUpdater: records checks, emits events on demand. */
class StandInUpdater implements Updater {
  checks = 0
  fail = false
  private downloaded?: (info: { version: string }) => void
  private errored?: (err: Error) => void
  async checkForUpdates() {
    this.checks++
    if (this.fail) throw new Error('offline')
    return null
  }
  on(event: 'update-downloaded', listener: (info: { version: string }) => void): this
  on(event: 'error', listener: (err: Error) => void): this
  on(event: string, listener: (arg: never) => void): this {
    if (event === 'update-downloaded')
      this.downloaded = listener as (i: { version: string }) => void
    else this.errored = listener as (err: Error) => void
    return this
  }
  download(version: string) {
    this.downloaded?.({ version })
  }
  error(message: string) {
    this.errored?.(new Error(message))
  }
}

function controller(facts = { guests: 0, dashboardOpen: false, quitting: false }) {
  const updater = new StandInUpdater()
  let now = T
  const installs: string[] = []
  const ready: string[] = []
  const errors: unknown[] = []
  const c = new UpdateController({
    updater,
    now: () => now,
    facts: () => facts,
    installOnQuit: (v) => installs.push(v),
    onReady: (v) => ready.push(v),
    onError: (e) => errors.push(e),
  })
  return {
    c,
    updater,
    facts,
    installs,
    ready,
    errors,
    advance: (ms: number) => (now += ms),
  }
}

describe('UpdateController', () => {
  it('checks at start, then once a day, sooner after a failure', async () => {
    const t = controller()
    await t.c.tick()
    expect(t.updater.checks).toBe(1)
    t.advance(RETRY_MS)
    await t.c.tick()
    expect(t.updater.checks).toBe(1)
    t.advance(DAY_MS)
    t.updater.fail = true
    await t.c.tick()
    expect(t.updater.checks).toBe(2)
    expect(t.errors).toHaveLength(1)
    t.updater.fail = false
    t.advance(RETRY_MS)
    await t.c.tick()
    expect(t.updater.checks).toBe(3)
  })

  it('says an update is ready and waits while guests run; the user’s choice drains them', () => {
    const t = controller({ guests: 2, dashboardOpen: false, quitting: false })
    t.updater.download('1.3.0')
    expect(t.ready).toEqual(['1.3.0'])
    expect(t.c.readyVersion).toBe('1.3.0')
    expect(t.installs).toEqual([])
    expect(t.c.restartNow()).toEqual({ kind: 'install', drainFirst: true })
    expect(t.installs).toEqual(['1.3.0'])
    // Asked twice: one install.
    expect(t.c.restartNow()).toEqual({ kind: 'wait', reason: 'quitting' })
    expect(t.installs).toEqual(['1.3.0'])
  })

  it('restarts on its own once nothing would be interrupted', async () => {
    const t = controller({ guests: 1, dashboardOpen: false, quitting: false })
    t.updater.download('1.3.0')
    expect(t.installs).toEqual([])
    t.facts.guests = 0
    await t.c.tick()
    expect(t.installs).toEqual(['1.3.0'])
  })

  it('reports updater errors and keeps going', async () => {
    const t = controller()
    t.updater.error('bad signature')
    expect(t.errors).toHaveLength(1)
    await t.c.tick()
    expect(t.updater.checks).toBe(1)
  })
})
