// The one IPC manager (after electron/fiddle's src/main/ipc.ts): a single handler on a single
// channel, accepting calls only from the dashboard window's own top frame on the app's own
// origin, validating every argument against core/api.ts, and answering with a WireResult; no raw
// error crosses to the renderer. The decisions are pure functions; registerIpc only wires them to
// ipcMain, which it is given, so that none of this imports Electron at run time.
import type { IpcMain, IpcMainInvokeEvent } from 'electron'
import {
  ApiError,
  isMethodName,
  toErrorPayload,
  validateArgs,
  type ApiHost,
  type ApiEvents,
  type EventName,
  type WireResult,
} from '../core/api.js'
import type { Logger } from '../core/log.js'
import { CALL_CHANNEL, EVENT_CHANNELS } from './channels.js'
import { isAppUrl } from './trusted-url.js'

/** What main knows about the sender of a call. */
export interface SenderFacts {
  webContentsId: number
  /** The sending frame's URL; undefined when the frame is gone (navigated away or closed). */
  frameUrl: string | undefined
  isMainFrame: boolean
}

export type SenderRefusal = 'no-window' | 'other-webcontents' | 'frame-gone' | 'subframe' | 'origin'

export type SenderCheck = { ok: true } | { ok: false; reason: SenderRefusal }

/** Accepts a call only from the dashboard window (by webContents id, which is never reused
 *  while the process lives), from its top frame, showing the app's own page. */
export function checkSender(sender: SenderFacts, dashboardId: number | undefined): SenderCheck {
  if (dashboardId === undefined) return { ok: false, reason: 'no-window' }
  if (sender.webContentsId !== dashboardId) return { ok: false, reason: 'other-webcontents' }
  if (sender.frameUrl === undefined) return { ok: false, reason: 'frame-gone' }
  if (!sender.isMainFrame) return { ok: false, reason: 'subframe' }
  if (!isAppUrl(sender.frameUrl)) return { ok: false, reason: 'origin' }
  return { ok: true }
}

export function senderFacts(
  event: Pick<IpcMainInvokeEvent, 'sender' | 'senderFrame'>,
): SenderFacts {
  const webContentsId = event.sender.id
  try {
    const frame = event.senderFrame
    if (!frame) return { webContentsId, frameUrl: undefined, isMainFrame: false }
    return { webContentsId, frameUrl: frame.url, isMainFrame: frame.parent === null }
  } catch {
    // Reading a frame that was disposed mid-call throws; such a sender has nothing to receive.
    return { webContentsId, frameUrl: undefined, isMainFrame: false }
  }
}

/** The answer to a refused sender: says no and nothing about why (the log says why). */
export const REFUSED: WireResult = {
  ok: false,
  error: { code: 'unavailable', message: 'calls are accepted only from the dashboard window' },
}

/** Validates and forwards one call; every outcome, thrown or not, becomes a WireResult. */
export async function handleCall(
  host: ApiHost,
  method: unknown,
  args: unknown,
  log?: Logger,
): Promise<WireResult> {
  try {
    if (!isMethodName(method)) {
      throw new ApiError('unknown-method', `no such method: ${String(method).slice(0, 80)}`)
    }
    const valid = validateArgs(method, args)
    const result = await host.call(method, valid as never)
    return { ok: true, result } as WireResult
  } catch (err) {
    const error = toErrorPayload(err)
    if (error.code === 'internal') {
      log?.log('error', 'ipc.call.failed', { method: String(method).slice(0, 80), error: err })
    }
    return { ok: false, error }
  }
}

export interface IpcOptions {
  ipcMain: Pick<IpcMain, 'handle' | 'removeHandler'>
  host: ApiHost
  /** The dashboard's webContents id, or undefined while no dashboard window is open. */
  dashboardId: () => number | undefined
  log: Logger
}

/** Installs the call handler; returns a function that removes it. */
export function registerIpc(opts: IpcOptions): () => void {
  const { ipcMain, host, log } = opts
  // There can be only one handler per channel; a second registration would throw.
  ipcMain.removeHandler(CALL_CHANNEL)
  ipcMain.handle(CALL_CHANNEL, (event, method: unknown, args: unknown) => {
    const sender = senderFacts(event)
    const verdict = checkSender(sender, opts.dashboardId())
    if (!verdict.ok) {
      log.log('warn', 'ipc.refused', {
        reason: verdict.reason,
        webContentsId: sender.webContentsId,
        frameUrl: sender.frameUrl?.slice(0, 200),
      })
      return REFUSED
    }
    return handleCall(host, method, args, log)
  })
  return () => ipcMain.removeHandler(CALL_CHANNEL)
}

export interface EventTarget {
  isDestroyed(): boolean
  send(channel: string, payload: unknown): void
}

/** Forwards every push event of the host to the dashboard while one is open. Returns a function
 *  that unsubscribes from all of them. */
export function forwardEvents(
  host: ApiHost,
  target: () => EventTarget | undefined,
  events: readonly EventName[],
): () => void {
  const unsubscribers = events.map((event) =>
    host.subscribe(event, (payload: ApiEvents[typeof event]) => {
      const contents = target()
      if (contents && !contents.isDestroyed()) contents.send(EVENT_CHANNELS[event], payload)
    }),
  )
  return () => {
    for (const unsubscribe of unsubscribers) unsubscribe()
  }
}
