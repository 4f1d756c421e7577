import { describe, expect, it } from 'vitest'
import type { Phase } from '../../core/api.js'
import {
  formatCores,
  formatMemory,
  MAX_LABEL,
  menuTemplate,
  sameTrayModel,
  trayIconFile,
  trayModel,
  truncate,
  type TrayAction,
  type TrayIcon,
  type TrayItem,
} from '../../electron/tray-menu.js'
import { dashboardState, PHASES } from './_state.js'

function labels(items: TrayItem[]): string[] {
  return items.flatMap((item) => (item.type === 'separator' ? [] : [item.label]))
}

function toggle(items: TrayItem[]) {
  const item = items.find((i) => i.type === 'checkbox')
  if (!item || item.type !== 'checkbox') throw new Error('no lend toggle')
  return item
}

describe('trayModel for every phase', () => {
  const expected: Record<Phase, { icon: TrayIcon; status: string; canToggle: boolean }> = {
    'signed-out': { icon: 'offline', status: 'Not signed in', canToggle: false },
    'needs-meshlet': { icon: 'offline', status: 'Set up this computer to lend', canToggle: false },
    starting: { icon: 'offline', status: 'Starting…', canToggle: true },
    lending: { icon: 'lending', status: 'Lending 2 cores, 4 GiB', canToggle: true },
    paused: { icon: 'paused', status: 'Paused', canToggle: true },
    offline: { icon: 'offline', status: 'Offline, retrying', canToggle: true },
    error: { icon: 'error', status: 'Needs attention', canToggle: true },
  }

  it.each(PHASES)('%s', (phase) => {
    const want = expected[phase]
    const model = trayModel(dashboardState({ phase }))
    expect(model.icon).toBe(want.icon)
    expect(model.items[0]).toEqual({ type: 'status', label: want.status })
    expect(toggle(model.items).enabled).toBe(want.canToggle)
    expect(model.tooltip).toMatch(/^Commune meshlet: /)
    // Whatever the phase, the dashboard and quit are reachable, and quit comes last.
    expect(labels(model.items)).toContain('Open dashboard')
    expect(model.items.at(-1)).toEqual({
      type: 'action',
      label: 'Quit Commune meshlet',
      enabled: true,
      action: { kind: 'quit' },
    })
  })

  it('distinguishes the states that need the user from those that do not', () => {
    const icons = new Set(PHASES.map((phase) => trayModel(dashboardState({ phase })).icon))
    expect(icons).toEqual(new Set(['lending', 'paused', 'error', 'offline']))
  })
})

describe('the lend toggle', () => {
  it.each([true, false])('shows lending=%s and asks for the opposite', (lending) => {
    const state = dashboardState()
    const item = toggle(trayModel({ ...state, settings: { ...state.settings, lending } }).items)
    expect(item.checked).toBe(lending)
    expect(item.action).toEqual({ kind: 'set-lending', lending: !lending })
  })

  it("keeps the user's choice while the system pauses (on battery, asleep)", () => {
    const model = trayModel(dashboardState({ phase: 'paused', detail: 'on battery' }))
    expect(toggle(model.items).checked).toBe(true)
    expect(model.items[0]).toEqual({ type: 'status', label: 'Paused: on battery' })
  })
})

describe('the lending rules in the status line', () => {
  const held = {
    action: 'pause' as const,
    reason: 'idle' as const,
    because: 'you are using this computer',
    cpuShare: 1,
    rules: [],
    idleReadable: true,
  }

  it('say which rule holds lending back, as the activity list does', () => {
    const model = trayModel(
      dashboardState({ phase: 'paused', detail: 'You are using this computer.', policy: held }),
    )
    expect(model.items[0]).toEqual({
      type: 'status',
      label: 'Paused: you are using this computer',
    })
    expect(model.tooltip).toBe('Commune meshlet: Paused: you are using this computer')
    expect(toggle(model.items).checked).toBe(true)
  })

  it('say paused by you when the lender switched it off, whatever the rules', () => {
    const state = dashboardState({ phase: 'paused', detail: 'Paused by you.', policy: held })
    const model = trayModel({ ...state, settings: { ...state.settings, lending: false } })
    expect(model.items[0]).toEqual({ type: 'status', label: 'Paused: Paused by you.' })
  })

  it('say guests are throttled while lending', () => {
    const model = trayModel(
      dashboardState({
        phase: 'lending',
        detail: 'Guests throttled to 25 % CPU: you are using this computer.',
        policy: { ...held, action: 'throttle', cpuShare: 0.25 },
      }),
    )
    expect(model.items.slice(0, 2).map((i) => (i.type === 'status' ? i.label : ''))).toEqual([
      'Lending 2 cores, 4 GiB',
      'Guests throttled to 25 % CPU: you are using this computer.',
    ])
  })
})

describe('status lines', () => {
  it('say why, and who is signed in', () => {
    const model = trayModel(
      dashboardState({ phase: 'error', detail: 'Docker is not running. Start Docker Desktop.' }),
    )
    expect(labels(model.items).slice(0, 2)).toEqual([
      'Needs attention: Docker is not running. Start Docker Desktop.',
      'Signed in as alice.test',
    ])
    expect(model.tooltip).toBe(
      'Commune meshlet: Needs attention: Docker is not running. Start Docker Desktop.',
    )
  })

  it('fall back to the DID when the owner has no handle', () => {
    const model = trayModel(
      dashboardState({ owner: { did: 'did:plc:alice', method: 'app-password' } }),
    )
    expect(labels(model.items)).toContain('Signed in as did:plc:alice')
  })

  it('count the guests running here', () => {
    const guest = {
      containerId: 'a'.repeat(12),
      workloadUri: 'at://did:plc:bob/commune.scheduler.workload/3k',
      owner: 'did:plc:bob',
      image: 'busybox',
      cpuMillis: 500,
      memoryMiB: 64,
      round: 0,
      state: 'running',
    }
    expect(labels(trayModel(dashboardState({ guests: [guest] })).items)).toContain(
      'Running 1 guest',
    )
    expect(labels(trayModel(dashboardState({ guests: [guest, guest] })).items)).toContain(
      'Running 2 guests',
    )
    expect(labels(trayModel(dashboardState()).items).join()).not.toMatch(/Running/)
  })

  it('keep long details to one short line', () => {
    const detail = `a session expired\nand ${'very '.repeat(40)}long`
    const model = trayModel(dashboardState({ phase: 'error', detail }))
    const first = model.items[0]
    expect(first?.type === 'status' && first.label.length).toBe(MAX_LABEL)
    expect(first?.type === 'status' && first.label).toMatch(
      /^Needs attention: a session expired and/,
    )
    expect(first?.type === 'status' && first.label.endsWith('…')).toBe(true)
    expect(model.tooltip.length).toBeLessThanOrEqual(127)
  })

  it('show notices from the shell', () => {
    const model = trayModel(dashboardState(), { notices: ['Sessions are not saved'] })
    expect(labels(model.items)).toContain('Sessions are not saved')
  })

  it('signed out shows no account line', () => {
    const model = trayModel(
      dashboardState({ phase: 'signed-out', owner: undefined, meshlet: undefined }),
    )
    expect(labels(model.items).join()).not.toMatch(/Signed in/)
  })
})

describe('a sign-in under way', () => {
  it('offers to reopen its page', () => {
    const url = 'https://bsky.social/oauth/authorize?request_uri=x'
    const model = trayModel(
      dashboardState({
        phase: 'signed-out',
        pendingSignIn: { role: 'owner', handle: 'alice', url },
      }),
    )
    expect(model.items).toContainEqual({
      type: 'action',
      label: 'Continue signing in…',
      enabled: true,
      action: { kind: 'open-sign-in', url },
    })
  })

  it('is not offered when none is pending', () => {
    expect(labels(trayModel(dashboardState()).items)).not.toContain('Continue signing in…')
  })
})

describe('menuTemplate', () => {
  it('maps items to Electron items whose clicks dispatch their actions', () => {
    const model = trayModel(dashboardState())
    const dispatched: TrayAction[] = []
    const template = menuTemplate(model, (a) => dispatched.push(a))
    expect(template).toHaveLength(model.items.length)

    expect(template[0]).toEqual({ label: 'Lending 2 cores, 4 GiB', enabled: false })
    const checkbox = template.find((t) => t.type === 'checkbox')
    expect(checkbox).toMatchObject({ label: 'Lend compute', checked: true, enabled: true })
    expect(template.filter((t) => t.type === 'separator')).toHaveLength(2)

    for (const item of template) item.click?.(undefined as never, undefined, undefined as never)
    expect(dispatched).toEqual([
      { kind: 'set-lending', lending: false },
      { kind: 'open-dashboard' },
      { kind: 'quit' },
    ])
  })

  it('status lines cannot be clicked', () => {
    const template = menuTemplate(trayModel(dashboardState()), () => {
      throw new Error('a status line dispatched')
    })
    const statusLines = template.filter((t) => t.enabled === false && t.type === undefined)
    expect(statusLines.length).toBeGreaterThan(1)
    for (const item of statusLines) expect(item.click).toBeUndefined()
  })
})

describe('sameTrayModel', () => {
  it('ignores state the tray does not show, and notices what it does', () => {
    const a = trayModel(dashboardState())
    const b = trayModel(
      dashboardState({
        activity: [{ id: 1, at: '2025-01-01T00:00:00Z', level: 'info', text: 'x' }],
      }),
    )
    expect(sameTrayModel(a, b)).toBe(true)
    expect(sameTrayModel(undefined, b)).toBe(false)
    expect(sameTrayModel(a, trayModel(dashboardState({ phase: 'paused' })))).toBe(false)
  })
})

describe('formatting', () => {
  it.each([
    [0, '0 cores'],
    [250, '0.25 cores'],
    [500, '0.5 cores'],
    [1000, '1 core'],
    [1500, '1.5 cores'],
    [2000, '2 cores'],
    [3333, '3.33 cores'],
  ])('formatCores(%i) = %s', (millis, text) => {
    expect(formatCores(millis)).toBe(text)
  })

  it.each([
    [64, '64 MiB'],
    [1023, '1023 MiB'],
    [1024, '1 GiB'],
    [1536, '1.5 GiB'],
    [4096, '4 GiB'],
    [10_000, '9.8 GiB'],
  ])('formatMemory(%i) = %s', (mib, text) => {
    expect(formatMemory(mib)).toBe(text)
  })

  it('truncate keeps short text and cuts long text with an ellipsis', () => {
    expect(truncate('  short\ntext ')).toBe('short text')
    expect(truncate('abcdefghij', 5)).toBe('abcd…')
    expect(truncate('abcde', 5)).toBe('abcde')
  })
})

describe('trayIconFile', () => {
  it.each([
    ['lending', 'darwin', 'lendingTemplate.png'],
    ['error', 'darwin', 'errorTemplate.png'],
    ['paused', 'win32', 'paused-16.png'],
    ['offline', 'linux', 'offline-32.png'],
    ['lending', 'freebsd', 'lending-32.png'],
  ] as const)('%s on %s → %s', (icon, platform, file) => {
    expect(trayIconFile(icon, platform)).toBe(file)
  })
})

describe('an update ready', () => {
  const guest = {
    containerId: 'b'.repeat(12),
    workloadUri: 'at://did:plc:bob/commune.scheduler.workload/3k',
    owner: 'did:plc:bob',
    image: 'busybox',
    cpuMillis: 500,
    memoryMiB: 64,
    round: 0,
    state: 'running',
  }
  it('says so and offers the restart, naming the drain when guests run', () => {
    const idle = trayModel(dashboardState({ update: { version: '1.4.0' } }))
    expect(labels(idle.items)).toEqual(
      expect.arrayContaining(['Version 1.4.0 is ready', 'Restart to update']),
    )
    const item = idle.items.find((i) => i.type === 'action' && i.label === 'Restart to update')
    expect(item).toMatchObject({ enabled: true, action: { kind: 'install-update' } })
    const busy = trayModel(dashboardState({ update: { version: '1.4.0' }, guests: [guest] }))
    expect(labels(busy.items)).toContain('Drain guests and restart to update')
  })

  it('offers nothing without one', () => {
    expect(labels(trayModel(dashboardState()).items).join('|')).not.toMatch(/update/i)
  })
})
