// The app behind the UI: sessions, settings, the meshlet, the host's capacity and the activity
// list, serving the contract in api.ts. The Electron main process and the daemon's browser
// bridge both host one of these. (Being written: the options below are the interface.)
import type { DesktopHost, Settings } from './api.js'
import type { Logger } from './log.js'
import type { RepoWriter } from './repo/writer.js'
import type { SchedulingConfig } from './scheduling/index.js'
import type { SecretStore } from './secrets.js'

export interface NetworkConfig {
  plcUrl: string
  handleResolverUrl: string
  /** Relay or PDS whose firehose to follow. */
  firehose: string
  /** A local network (demo, tests): identity and OAuth may reach loopback services over http. */
  local?: boolean
}

export interface AppOptions {
  /** Settings, cursor and activity live here. */
  dataDir: string
  network: NetworkConfig
  /** Sessions rest here (sealed with safeStorage in Electron). */
  secrets: SecretStore
  /** Run containers with the local Docker engine (default true). */
  docker?: boolean
  /** The shell can register the app to start at login (Electron). */
  canStartAtLogin?: boolean
  /** Sessions made up front (the daemon's app passwords), instead of signing in from the UI. */
  meshletWriter?: RepoWriter
  ownerWriter?: RepoWriter
  /** Settings to use over the saved ones (the daemon's flags). */
  initial?: Partial<Settings>
  scheduling?: Partial<SchedulingConfig>
  log?: Logger
}

export async function openApp(_opts: AppOptions): Promise<DesktopHost> {
  throw new Error('openApp: not yet written')
}
