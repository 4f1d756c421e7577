// The tray: its icon, tooltip and menu as a pure function of the dashboard state, so every phase
// can be checked in a table test; main.ts only turns the model into an Electron Menu and runs
// the actions it names. The menu is rebuilt only when the model changes (`sameTrayModel`), since
// the core pushes state on every change, most of which the tray does not show.
import type { MenuItemConstructorOptions } from 'electron'
import type { DashboardState, Phase } from '../core/api.js'

export type TrayIcon = 'lending' | 'paused' | 'error' | 'offline'
export const TRAY_ICONS: readonly TrayIcon[] = ['lending', 'paused', 'error', 'offline']

export type TrayAction =
  | { kind: 'set-lending'; lending: boolean }
  | { kind: 'open-dashboard' }
  | { kind: 'open-sign-in'; url: string }
  | { kind: 'install-update' }
  | { kind: 'quit' }

export type TrayItem =
  | { type: 'status'; label: string }
  | { type: 'separator' }
  | { type: 'checkbox'; label: string; checked: boolean; enabled: boolean; action: TrayAction }
  | { type: 'action'; label: string; enabled: boolean; action: TrayAction }

export interface TrayModel {
  icon: TrayIcon
  tooltip: string
  items: TrayItem[]
}

export interface TrayExtras {
  /** Lines the shell itself must show (no keychain: sessions are not kept). */
  notices?: readonly string[]
}

export const APP_NAME = 'Commune meshlet'
/** Menus grow as wide as their longest label; core details can be long sentences. */
export const MAX_LABEL = 64

/** Each phase's icon. Not participating for reasons other than a fault (signed out, still
 *  setting up or starting) shows as offline: the meshlet is not part of the commune yet. */
const PHASE_ICON: Record<Phase, TrayIcon> = {
  'signed-out': 'offline',
  'needs-meshlet': 'offline',
  starting: 'offline',
  lending: 'lending',
  paused: 'paused',
  offline: 'offline',
  error: 'error',
}

const PHASE_TITLE: Record<Phase, string> = {
  'signed-out': 'Not signed in',
  'needs-meshlet': 'Set up this computer to lend',
  starting: 'Starting…',
  lending: 'Lending',
  paused: 'Paused',
  offline: 'Offline, retrying',
  error: 'Needs attention',
}

/** The phases in which the user's lend toggle means something: both accounts are there. */
const CAN_TOGGLE: Record<Phase, boolean> = {
  'signed-out': false,
  'needs-meshlet': false,
  starting: true,
  lending: true,
  paused: true,
  offline: true,
  error: true,
}

export function trayIcon(phase: Phase): TrayIcon {
  return PHASE_ICON[phase]
}

export function truncate(text: string, max = MAX_LABEL): string {
  const oneLine = text.replace(/\s+/g, ' ').trim()
  return oneLine.length <= max ? oneLine : `${oneLine.slice(0, max - 1).trimEnd()}…`
}

/** 500 → "0.5 cores", 1000 → "1 core", 2250 → "2.25 cores". */
export function formatCores(millis: number): string {
  const cores = Math.round(millis / 10) / 100
  return `${cores} ${cores === 1 ? 'core' : 'cores'}`
}

/** 512 → "512 MiB", 4096 → "4 GiB", 1536 → "1.5 GiB". */
export function formatMemory(mib: number): string {
  if (mib < 1024) return `${mib} MiB`
  return `${Math.round((mib / 1024) * 10) / 10} GiB`
}

/** Paused by a lending rule (not by the user, not asleep): the rule's reason, in the words the
 *  activity list uses ("Paused: you are using this computer"). */
function heldBy(state: DashboardState): string | undefined {
  const p = state.policy
  if (state.phase !== 'paused' || !state.settings.lending || p?.action !== 'pause') return undefined
  return p.because
}

function statusLines(state: DashboardState): string[] {
  const title = PHASE_TITLE[state.phase]
  const lines: string[] = []
  const held = heldBy(state)
  if (state.phase === 'lending') {
    const { cpuMillis, memoryMiB } = state.settings.offer
    lines.push(`Lending ${formatCores(cpuMillis)}, ${formatMemory(memoryMiB)}`)
  } else if (held) {
    lines.push(`${title}: ${held}`)
  } else {
    lines.push(state.detail ? `${title}: ${state.detail}` : title)
  }
  if (state.phase === 'lending' && state.detail) lines.push(state.detail)
  const guests = state.guests.length
  if (guests > 0) lines.push(`Running ${guests} ${guests === 1 ? 'guest' : 'guests'}`)
  if (state.owner) lines.push(`Signed in as ${state.owner.handle ?? state.owner.did}`)
  return lines.map((line) => truncate(line))
}

export function trayModel(state: DashboardState, extras: TrayExtras = {}): TrayModel {
  const items: TrayItem[] = statusLines(state).map((label) => ({ type: 'status', label }))
  for (const notice of extras.notices ?? []) items.push({ type: 'status', label: truncate(notice) })
  items.push({ type: 'separator' })
  items.push({
    type: 'checkbox',
    label: 'Lend compute',
    checked: state.settings.lending,
    enabled: CAN_TOGGLE[state.phase],
    action: { kind: 'set-lending', lending: !state.settings.lending },
  })
  if (state.pendingSignIn) {
    items.push({
      type: 'action',
      label: 'Continue signing in…',
      enabled: true,
      action: { kind: 'open-sign-in', url: state.pendingSignIn.url },
    })
  }
  items.push({
    type: 'action',
    label: 'Open dashboard',
    enabled: true,
    action: { kind: 'open-dashboard' },
  })
  if (state.update) {
    // Guests drain before the restart; the label says so, since it may take a while.
    items.push({ type: 'separator' })
    items.push({ type: 'status', label: truncate(`Version ${state.update.version} is ready`) })
    items.push({
      type: 'action',
      label: state.guests.length > 0 ? 'Drain guests and restart to update' : 'Restart to update',
      enabled: true,
      action: { kind: 'install-update' },
    })
  }
  items.push({ type: 'separator' })
  items.push({ type: 'action', label: `Quit ${APP_NAME}`, enabled: true, action: { kind: 'quit' } })

  const held = heldBy(state)
  const tooltipDetail =
    state.phase === 'lending' ? '' : held ? `: ${held}` : state.detail ? `: ${state.detail}` : ''
  return {
    icon: trayIcon(state.phase),
    tooltip: truncate(`${APP_NAME}: ${PHASE_TITLE[state.phase]}${tooltipDetail}`, 127),
    items,
  }
}

export function sameTrayModel(a: TrayModel | undefined, b: TrayModel): boolean {
  return a !== undefined && JSON.stringify(a) === JSON.stringify(b)
}

/** Electron's template, with each click dispatching the item's action. A checkbox is not
 *  flipped by Electron's own click handling alone: the core decides, and the next state push
 *  redraws the menu with what it decided. */
export function menuTemplate(
  model: TrayModel,
  dispatch: (action: TrayAction) => void,
): MenuItemConstructorOptions[] {
  return model.items.map((item): MenuItemConstructorOptions => {
    switch (item.type) {
      case 'status':
        return { label: item.label, enabled: false }
      case 'separator':
        return { type: 'separator' }
      case 'checkbox':
        return {
          type: 'checkbox',
          label: item.label,
          checked: item.checked,
          enabled: item.enabled,
          click: () => dispatch(item.action),
        }
      case 'action':
        return { label: item.label, enabled: item.enabled, click: () => dispatch(item.action) }
    }
  })
}

export type Platform = 'darwin' | 'win32' | 'linux' | (string & {})

/**
 * The image file for a tray icon, relative to resources/tray. macOS gets a template image (black
 * and alpha only; the menu bar tints it, so the state shows by shape). Windows' tray is 16 px; on
 * Linux the tray scales what it gets, and a 32 px source scales down cleanly to 22 or 24. Electron
 * picks the @2x file beside each one on high-density screens.
 */
export function trayIconFile(icon: TrayIcon, platform: Platform): string {
  if (platform === 'darwin') return `${icon}Template.png`
  if (platform === 'win32') return `${icon}-16.png`
  return `${icon}-32.png`
}
