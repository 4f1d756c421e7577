// The IPC channel names, shared by the main process and the preload. One channel carries every
// call (the method name travels as data and is checked in main); each push event has its own.
import type { EventName } from '../core/api.js'

export const CALL_CHANNEL = 'meshlet:call'

/** One channel per event of ApiEvents: the mapped type makes a missing or extra event a compile
 *  error, so the preload cannot silently drop an event the core adds. */
export const EVENT_CHANNELS: { readonly [E in EventName]: `meshlet:event:${E}` } = {
  state: 'meshlet:event:state',
  signIn: 'meshlet:event:signIn',
}

export function isEventName(name: unknown): name is EventName {
  return typeof name === 'string' && Object.hasOwn(EVENT_CHANNELS, name)
}
