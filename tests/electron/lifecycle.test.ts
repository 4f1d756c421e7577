import { describe, expect, it } from 'vitest'
import type { Phase, SystemPause } from '../../core/api.js'
import {
  createQuitHandler,
  HIDDEN_FLAG,
  loginItemChange,
  loginItemSettings,
  openedAtLogin,
  showDashboardAtLaunch,
  supportsLoginItem,
} from '../../electron/lifecycle.js'
import { RecordingLogger } from './_host.js'
import { PHASES } from './_state.js'

describe('launch', () => {
  it.each([
    ['darwin', [], true, true],
    ['darwin', [], false, false],
    ['darwin', [HIDDEN_FLAG], false, false],
    ['win32', ['C:\\meshlet.exe', HIDDEN_FLAG], false, true],
    ['win32', ['C:\\meshlet.exe'], false, false],
    ['linux', ['/opt/meshlet', HIDDEN_FLAG], false, true],
  ])(
    '%s argv=%j wasOpenedAtLogin=%s → at login %s',
    (platform, argv, wasOpenedAtLogin, atLogin) => {
      expect(openedAtLogin({ platform, argv, wasOpenedAtLogin })).toBe(atLogin)
    },
  )

  const shownAtLogin: Record<Phase, boolean> = {
    'signed-out': true,
    'needs-meshlet': true,
    starting: false,
    lending: false,
    paused: false,
    offline: false,
    error: false,
  }
  it.each(PHASES)('a launch at login in phase %s shows the dashboard only if needed', (phase) => {
    expect(showDashboardAtLaunch(true, phase)).toBe(shownAtLogin[phase])
    expect(showDashboardAtLaunch(false, phase)).toBe(true)
  })
})

describe('login item', () => {
  it('is supported on macOS and Windows only', () => {
    expect(['darwin', 'win32', 'linux', 'freebsd'].map(supportsLoginItem)).toEqual([
      true,
      true,
      false,
      false,
    ])
  })

  it('starts hidden on Windows through a flag', () => {
    expect(loginItemSettings('win32', true)).toEqual({ openAtLogin: true, args: [HIDDEN_FLAG] })
    expect(loginItemSettings('darwin', false)).toEqual({ openAtLogin: false })
  })

  it.each([
    // platform, packaged, wanted, current → change
    ['darwin', true, true, false, true],
    ['darwin', true, false, true, false],
    ['darwin', true, true, true, undefined],
    ['win32', true, false, false, undefined],
    ['win32', true, true, false, true],
    // A development build would register the bare Electron binary.
    ['darwin', false, true, false, undefined],
    ['linux', true, true, false, undefined],
  ])('%s packaged=%s wanted=%s current=%s → %s', (platform, packaged, want, current, change) => {
    expect(
      loginItemChange({
        platform,
        packaged,
        wanted: { startAtLogin: want },
        current: { openAtLogin: current },
      }),
    ).toBe(change)
  })
})

/** A core whose two closing steps finish when the test says so. */
function closingHost(opts: { pauseFails?: boolean; closeFails?: boolean } = {}) {
  const steps: string[] = []
  const pending: (() => void)[] = []
  const later = (fn: () => void) =>
    new Promise<void>((resolve, reject) => {
      pending.push(() => {
        try {
          fn()
          resolve()
        } catch (err) {
          reject(err)
        }
      })
    })
  return {
    steps,
    /** Lets the oldest pending step finish, then lets its continuations run. */
    async advance() {
      pending.shift()?.()
      for (let i = 0; i < 5; i++) await Promise.resolve()
    },
    host: {
      setSystemPause: (reason: SystemPause, paused: boolean) =>
        later(() => {
          steps.push(`pause:${reason}:${paused}`)
          if (opts.pauseFails) throw new Error('PDS unreachable')
        }),
      close: () =>
        later(() => {
          steps.push('close')
          if (opts.closeFails) throw new Error('docker hung up')
        }),
    },
  }
}

function quitEvent() {
  const event = { prevented: 0, preventDefault: () => void event.prevented++ }
  return event
}

describe('createQuitHandler', () => {
  function setup(opts: Parameters<typeof closingHost>[0] = {}) {
    const core = closingHost(opts)
    const log = new RecordingLogger()
    let exits = 0
    let timer: (() => void) | undefined
    const onBeforeQuit = createQuitHandler({
      host: core.host,
      log,
      exit: () => exits++,
      timeoutMs: 30_000,
      setTimer: (fn) => (timer = fn),
    })
    return { core, log, onBeforeQuit, exits: () => exits, fireTimer: () => timer?.() }
  }

  it('holds the quit while the core drains, then quits for real', async () => {
    const { core, onBeforeQuit, exits } = setup()
    const first = quitEvent()
    onBeforeQuit(first)
    expect(first.prevented).toBe(1)
    expect(exits()).toBe(0)

    await core.advance()
    expect(core.steps).toEqual(['pause:quit:true'])
    expect(exits()).toBe(0)
    await core.advance()
    expect(core.steps).toEqual(['pause:quit:true', 'close'])
    expect(exits()).toBe(1)

    // exit() quits again; this time the quit goes through.
    const second = quitEvent()
    onBeforeQuit(second)
    expect(second.prevented).toBe(0)
  })

  it('starts closing once however many quits arrive meanwhile', async () => {
    const { core, onBeforeQuit, exits } = setup()
    for (let i = 0; i < 3; i++) onBeforeQuit(quitEvent())
    await core.advance()
    await core.advance()
    expect(core.steps).toEqual(['pause:quit:true', 'close'])
    expect(exits()).toBe(1)
  })

  it('closes and quits even when publishing draining fails', async () => {
    const { core, onBeforeQuit, exits, log } = setup({ pauseFails: true })
    onBeforeQuit(quitEvent())
    await core.advance()
    await core.advance()
    expect(core.steps).toEqual(['pause:quit:true', 'close'])
    expect(exits()).toBe(1)
    expect(log.events()).toEqual(['quit.pause-failed'])
  })

  it('quits even when closing fails', async () => {
    const { core, onBeforeQuit, exits, log } = setup({ closeFails: true })
    onBeforeQuit(quitEvent())
    await core.advance()
    await core.advance()
    expect(exits()).toBe(1)
    expect(log.events()).toEqual(['quit.close-failed'])
  })

  it('quits when the core hangs past the timeout, and only once', async () => {
    const { core, onBeforeQuit, exits, fireTimer, log } = setup()
    onBeforeQuit(quitEvent())
    await core.advance()
    fireTimer()
    expect(exits()).toBe(1)
    expect(log.events()).toEqual(['quit.timeout'])
    await core.advance()
    expect(exits()).toBe(1)
  })
})
