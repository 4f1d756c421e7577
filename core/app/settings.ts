// The lender's settings, apart from the app that shows them: their defaults, what is read back
// from disk — checked field by field, so one damaged entry falls back to its default with a
// warning instead of keeping the app from starting —, the daemon's flags laid over them, and the
// image policy the meshlet and its runtime enforce.
import type { Capacity, Settings } from '../api.js'
import type { ImagePolicy } from '../meshlet.js'
// Pure imports only: core/api.ts (and so the renderer) uses the checks below.
import { checkRules, DEFAULT_RULES, type LendingRules } from '../policy/rules.js'
import { parseRegistryHost } from '../runtime/image-ref.js'

/** The lexicon's bounds on the published policy (commune.scheduler.membership). */
export const MAX_REGISTRIES = 64
export const MAX_IMAGE_MIB = 4_194_304
/** The lexicon's bound on a balance floor, in milli-units. */
const MAX_BALANCE = 1e12

/** A setting that cannot be used: a usage error for flags, `invalid-args` for the API. */
export class SettingsError extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options)
    this.name = 'SettingsError'
  }
}

/** The daemon's flags: given ones win over the saved settings; absent ones leave them be. */
export type InitialSettings = Partial<
  Omit<Settings, 'offer' | 'rules' | 'allowRegistries' | 'maxImageMiB'>
> & {
  offer?: Partial<Capacity>
  rules?: Partial<LendingRules>
  /** The image policy: null turns off what was saved (`meshlet run --allow-registry any`,
   *  `--max-image-size 0`), as the dashboard's settings do. */
  allowRegistries?: string[] | null
  maxImageMiB?: number | null
}

export interface SettingsWarning {
  message: string
  cause?: unknown
}

export function defaultSettings(): Settings {
  return {
    lending: true,
    offer: { cpuMillis: 1000, memoryMiB: 1024, storageMiB: 1024 },
    members: [],
    pauseOnBattery: false,
    startAtLogin: false,
    allowEgress: false,
    serveApi: true,
    rules: { ...DEFAULT_RULES },
  }
}

/** The version of the defaults settings are saved under (`settingsVersion` beside them). */
export const SETTINGS_VERSION = 2

/**
 * Settings saved under older defaults, brought up to date, with a note for the user of each
 * change. Version 1 (no `settingsVersion`) served no API by default, so its `serveApi: false` was
 * a default rather than a choice (the two cannot be told apart): from version 2 the meshlet
 * serves by default, since peers that can ping it spare most of its write budget
 * (docs/write-budget.md). Pure.
 */
export function migrateSettings(
  saved: Partial<Settings>,
  version: number | undefined,
): { settings: Partial<Settings>; notes: string[] } {
  const notes: string[] = []
  const settings = { ...saved }
  if ((version ?? 1) < 2 && settings.serveApi === false) {
    delete settings.serveApi
    notes.push(
      'This meshlet now serves its API, so peers that can reach it check it is up without it ' +
        'writing its presence every 20 s. Turn off "Serve the meshlet API" in Settings to stop.',
    )
  }
  return { settings, notes }
}

/** The registry allow-list, checked and normalized (Hub aliases fold into `docker.io`). */
export function registryList(raw: unknown): string[] {
  if (!Array.isArray(raw)) throw new SettingsError('the registry allow-list must be a list')
  if (raw.length > MAX_REGISTRIES) {
    throw new SettingsError(`the registry allow-list holds at most ${MAX_REGISTRIES} registries`)
  }
  const out = raw.map((r) => {
    const host = typeof r === 'string' ? parseRegistryHost(r) : undefined
    if (host === undefined) {
      throw new SettingsError(
        `not a registry host: ${JSON.stringify(r)} (e.g. docker.io, ghcr.io, 127.0.0.1:5055)`,
      )
    }
    return host
  })
  return [...new Set(out)]
}

/** The largest image download in MiB: a whole number from 1 to the lexicon's bound. */
export function maxImageMiB(raw: unknown): number {
  if (typeof raw !== 'number' || !Number.isSafeInteger(raw) || raw < 1 || raw > MAX_IMAGE_MIB) {
    throw new SettingsError(
      `the maximum image size must be a whole number of MiB from 1 to ${MAX_IMAGE_MIB}; got ${String(raw)}`,
    )
  }
  return raw
}

/**
 * The settings to run with: the defaults, under what was saved (each field checked), under the
 * daemon's flags. Warnings say what was damaged and is off now.
 */
export function loadSettings(
  saved: Partial<Settings> | undefined,
  initial: InitialSettings = {},
): { settings: Settings; warnings: SettingsWarning[] } {
  const warnings: SettingsWarning[] = []
  const settings: Settings = { ...defaultSettings(), ...(saved ?? {}) }
  const floor: unknown = settings.minBalance
  if (
    floor !== undefined &&
    !(Number.isSafeInteger(floor) && Math.abs(floor as number) <= MAX_BALANCE)
  ) {
    warnings.push({
      message: 'The saved free-rider floor was not a whole number of milli-units; it is off',
    })
    delete settings.minBalance
  }
  if (settings.allowRegistries !== undefined) {
    try {
      settings.allowRegistries = registryList(settings.allowRegistries)
    } catch (err) {
      warnings.push({
        message: 'The saved registry allow-list could not be read; it is off',
        cause: err,
      })
      delete settings.allowRegistries
    }
  }
  if (settings.maxImageMiB !== undefined) {
    try {
      settings.maxImageMiB = maxImageMiB(settings.maxImageMiB)
    } catch (err) {
      warnings.push({
        message: 'The saved maximum image size could not be read; it is off',
        cause: err,
      })
      delete settings.maxImageMiB
    }
  }
  let rules: LendingRules
  try {
    rules = checkRules(settings.rules ?? {}, DEFAULT_RULES)
  } catch (err) {
    warnings.push({ message: 'Your lending rules could not be read; using none', cause: err })
    rules = { ...DEFAULT_RULES }
  }
  const { offer, rules: flagRules, allowRegistries, maxImageMiB: maxMiB, ...rest } = initial
  const out: Settings = {
    ...settings,
    ...rest,
    // Field by field: `--cpu` alone leaves the saved memory and storage be.
    offer: { ...settings.offer, ...offer },
    rules: { ...rules, ...flagRules },
  }
  patchImagePolicy(out, {
    ...(allowRegistries !== undefined ? { allowRegistries } : {}),
    ...(maxMiB !== undefined ? { maxImageMiB: maxMiB } : {}),
  })
  return { settings: out, warnings }
}

/** What the meshlet and its runtime enforce of the settings' image policy. */
export function imagePolicyOf(
  settings: Pick<Settings, 'allowRegistries' | 'maxImageMiB'>,
): ImagePolicy {
  return {
    ...(settings.allowRegistries !== undefined
      ? { allowRegistries: [...settings.allowRegistries] }
      : {}),
    ...(settings.maxImageMiB !== undefined ? { maxImageMiB: settings.maxImageMiB } : {}),
  }
}

/** Applies a `settings.set` patch's image policy (null: off); true when it changed. */
export function patchImagePolicy(
  settings: Settings,
  patch: { allowRegistries?: string[] | null; maxImageMiB?: number | null },
): boolean {
  const before = JSON.stringify(imagePolicyOf(settings))
  if (patch.allowRegistries === null) delete settings.allowRegistries
  else if (patch.allowRegistries !== undefined)
    settings.allowRegistries = registryList(patch.allowRegistries)
  if (patch.maxImageMiB === null) delete settings.maxImageMiB
  else if (patch.maxImageMiB !== undefined) settings.maxImageMiB = maxImageMiB(patch.maxImageMiB)
  return JSON.stringify(imagePolicyOf(settings)) !== before
}

/** What a running meshlet holds of the settings (`Meshlet.settings`). */
export interface MeshletSettings extends ImagePolicy {
  offer: Omit<Capacity, 'storageMiB'> & { storageMiB?: number }
  members: string[]
  allowEgress: boolean
  minBalance?: number
}

/** One setting a running meshlet must be told of. */
export type SettingChange =
  | { kind: 'offer'; offer: Capacity }
  | { kind: 'members'; members: string[] }
  | { kind: 'allowEgress'; allowEgress: boolean }
  | { kind: 'minBalance'; minBalance: number | undefined }
  | { kind: 'imagePolicy'; policy: ImagePolicy }

/** The settings a meshlet that started with `had` lacks of `now`, in the order they are applied
 *  (the user paused, moved a slider or changed a policy while it started, with no meshlet to
 *  reach). Member order does not matter. */
export function settingChanges(now: Settings, had: MeshletSettings): SettingChange[] {
  const out: SettingChange[] = []
  const same = (a: unknown, b: unknown) => JSON.stringify(a) === JSON.stringify(b)
  if (!same(now.offer, had.offer)) out.push({ kind: 'offer', offer: now.offer })
  if (!same([...now.members].sort(), [...had.members].sort())) {
    out.push({ kind: 'members', members: now.members })
  }
  if (now.allowEgress !== had.allowEgress) {
    out.push({ kind: 'allowEgress', allowEgress: now.allowEgress })
  }
  if (now.minBalance !== had.minBalance) {
    out.push({ kind: 'minBalance', minBalance: now.minBalance })
  }
  const policy = imagePolicyOf(now)
  if (!same(policy, imagePolicyOf(had))) out.push({ kind: 'imagePolicy', policy })
  return out
}

/** What a running meshlet is told settings through (`Meshlet`'s setters). */
export interface SettingsTarget {
  setOffer(offer: Capacity): Promise<void>
  setMembers(members: string[]): Promise<void>
  setAllowEgress(allow: boolean): Promise<void>
  setMinBalance(floor: number | undefined): Promise<void>
  setImagePolicy(policy: ImagePolicy): Promise<void>
}

/** Tells a running meshlet one setting. */
export function applySettingChange(meshlet: SettingsTarget, change: SettingChange): Promise<void> {
  switch (change.kind) {
    case 'offer':
      return meshlet.setOffer(change.offer)
    case 'members':
      return meshlet.setMembers(change.members)
    case 'allowEgress':
      return meshlet.setAllowEgress(change.allowEgress)
    case 'minBalance':
      return meshlet.setMinBalance(change.minBalance)
    case 'imagePolicy':
      return meshlet.setImagePolicy(change.policy)
  }
}
