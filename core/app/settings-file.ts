// The app's settings file (settings.json in the data directory): the lender's settings and which
// accounts to restore. Read once at open: a damaged file is set aside for the user to look at and
// the defaults are used; settings saved under older defaults are brought up to date
// (`migrateSettings`), each field is checked (`loadSettings`), and what happened is returned as
// notes for the activity list. Written atomically, in order: two changes in quick succession
// land as made.
import { readFile } from 'node:fs/promises'
import type { Account, Settings } from '../api.js'
import { setAside, writeFileAtomic } from '../files.js'
import {
  defaultSettings,
  loadSettings,
  migrateSettings,
  SETTINGS_VERSION,
  type InitialSettings,
} from './settings.js'

export interface Saved {
  settings: Settings
  /** The defaults' version the settings were saved under (settings.ts `migrateSettings`). */
  settingsVersion?: number
  owner?: { did: string; method: Account['method'] }
  meshlet?: { did: string; method: Account['method'] }
}

export interface SettingsNote {
  level: 'info' | 'warn'
  text: string
  /** What went wrong, for the log (never shown). */
  cause?: unknown
}

export class SettingsFile {
  private saving: Promise<void> = Promise.resolve()

  constructor(readonly path: string) {}

  /** What to start with: the file under the daemon's flags, or the defaults. `rewrite` says the
   *  file should be saved at once (it was migrated: its notes are then told once). */
  async read(
    initial: InitialSettings = {},
  ): Promise<{ saved: Saved; notes: SettingsNote[]; rewrite: boolean }> {
    const notes: SettingsNote[] = []
    const raw = await this.readRaw().catch(async (err: unknown) => {
      // Unreadable settings must not keep the app from starting, nor be overwritten unseen.
      const aside = await setAside(this.path)
      notes.push({
        level: 'warn',
        text: `Your settings could not be read (kept as ${aside}); using defaults`,
        cause: err,
      })
      return undefined
    })
    const migrated = raw?.settings
      ? migrateSettings(raw.settings, raw.settingsVersion)
      : { settings: undefined, notes: [] }
    for (const text of migrated.notes) notes.push({ level: 'info', text })
    const loaded = loadSettings(migrated.settings, initial)
    for (const w of loaded.warnings) {
      notes.push({
        level: 'warn',
        text: w.message,
        ...(w.cause !== undefined ? { cause: w.cause } : {}),
      })
    }
    return {
      saved: { ...raw, settings: loaded.settings, settingsVersion: SETTINGS_VERSION },
      notes,
      rewrite: migrated.notes.length > 0,
    }
  }

  /** Writes `saved` as it is now, after any write still under way. */
  async save(saved: Saved): Promise<void> {
    const json = JSON.stringify(saved, null, 2)
    const next = this.saving.then(() => writeFileAtomic(this.path, json))
    this.saving = next.catch(() => undefined)
    await next
  }

  private async readRaw(): Promise<Partial<Saved> | undefined> {
    try {
      return JSON.parse(await readFile(this.path, 'utf8')) as Partial<Saved>
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined
      throw new Error(`cannot read ${this.path}`, { cause: err })
    }
  }
}

/** The settings of a first start. */
export function freshSaved(): Saved {
  return { settings: defaultSettings(), settingsVersion: SETTINGS_VERSION }
}
