import { describe, expect, it } from 'vitest'
import {
  defaultSettings,
  imagePolicyOf,
  loadSettings,
  maxImageMiB,
  migrateSettings,
  patchImagePolicy,
  registryList,
  SettingsError,
  settingChanges,
} from '../../../core/app/settings.js'
import { DEFAULT_RULES } from '../../../core/policy/rules.js'

describe('registryList', () => {
  it('normalizes hosts and folds Docker Hub aliases, without duplicates', () => {
    expect(registryList(['GHCR.io', ' 127.0.0.1:5055 ', 'index.docker.io', 'docker.io'])).toEqual([
      'ghcr.io',
      '127.0.0.1:5055',
      'docker.io',
    ])
    expect(registryList([])).toEqual([])
  })

  it.each([
    ['not a list', 'ghcr.io'],
    ['a URL', ['https://ghcr.io']],
    ['a path', ['ghcr.io/owner']],
    ['a space', ['ghcr io']],
    ['empty', ['']],
    ['a number', [5055]],
    ['a port too long', ['host:123456']],
    ['too many', Array.from({ length: 65 }, (_, i) => `r${i}.example`)],
  ])('refuses %s', (_name, raw) => {
    expect(() => registryList(raw)).toThrow(SettingsError)
  })
})

describe('maxImageMiB', () => {
  it('takes a whole number of MiB within the lexicon’s bounds', () => {
    expect(maxImageMiB(1)).toBe(1)
    expect(maxImageMiB(4_194_304)).toBe(4_194_304)
    for (const bad of [0, -5, 1.5, 4_194_305, Number.NaN, '100', null]) {
      expect(() => maxImageMiB(bad)).toThrow(SettingsError)
    }
  })
})

describe('loadSettings', () => {
  it('uses the defaults when nothing was saved', () => {
    expect(loadSettings(undefined)).toEqual({ settings: defaultSettings(), warnings: [] })
  })

  it('keeps a sound saved policy, and lets the daemon’s flags win field by field', () => {
    const { settings, warnings } = loadSettings(
      {
        allowRegistries: ['ghcr.io'],
        maxImageMiB: 500,
        offer: { cpuMillis: 2000, memoryMiB: 2048, storageMiB: 0 },
      },
      { offer: { cpuMillis: 500 }, maxImageMiB: 100, rules: { idleMinutes: 5 } },
    )
    expect(warnings).toEqual([])
    expect(settings.allowRegistries).toEqual(['ghcr.io'])
    expect(settings.maxImageMiB).toBe(100)
    expect(settings.offer).toEqual({ cpuMillis: 500, memoryMiB: 2048, storageMiB: 0 })
    expect(settings.rules).toEqual({ ...DEFAULT_RULES, idleMinutes: 5 })
  })

  it('turns a saved image policy off when the flags say so (null), as the dashboard can', () => {
    const saved = { allowRegistries: ['ghcr.io'], maxImageMiB: 500 }
    const off = loadSettings(saved, { allowRegistries: null, maxImageMiB: null })
    expect(off.warnings).toEqual([])
    expect(off.settings).not.toHaveProperty('allowRegistries')
    expect(off.settings).not.toHaveProperty('maxImageMiB')
    const one = loadSettings(saved, { maxImageMiB: null })
    expect(one.settings.allowRegistries).toEqual(['ghcr.io'])
    expect(one.settings).not.toHaveProperty('maxImageMiB')
  })

  it('turns each damaged entry off with a warning, and keeps the rest', () => {
    const { settings, warnings } = loadSettings({
      allowEgress: true,
      minBalance: 1.5,
      allowRegistries: ['not a host'],
      maxImageMiB: -3,
      rules: { idleMinutes: 'soon' } as never,
    })
    expect(settings.allowEgress).toBe(true)
    expect(settings.minBalance).toBeUndefined()
    expect(settings.allowRegistries).toBeUndefined()
    expect(settings.maxImageMiB).toBeUndefined()
    expect(settings.rules).toEqual(DEFAULT_RULES)
    expect(warnings.map((w) => w.message)).toEqual([
      'The saved free-rider floor was not a whole number of milli-units; it is off',
      'The saved registry allow-list could not be read; it is off',
      'The saved maximum image size could not be read; it is off',
      'Your lending rules could not be read; using none',
    ])
  })
})

describe('patchImagePolicy', () => {
  it('sets, keeps and clears the policy, and says when it changed', () => {
    const s = defaultSettings()
    expect(imagePolicyOf(s)).toEqual({})
    expect(patchImagePolicy(s, { allowRegistries: ['Docker.io'], maxImageMiB: 50 })).toBe(true)
    expect(imagePolicyOf(s)).toEqual({ allowRegistries: ['docker.io'], maxImageMiB: 50 })
    expect(patchImagePolicy(s, {})).toBe(false)
    expect(patchImagePolicy(s, { maxImageMiB: 50 })).toBe(false)
    expect(patchImagePolicy(s, { allowRegistries: null })).toBe(true)
    expect(imagePolicyOf(s)).toEqual({ maxImageMiB: 50 })
    expect(patchImagePolicy(s, { maxImageMiB: null })).toBe(true)
    expect(imagePolicyOf(s)).toEqual({})
  })

  it('changes nothing when a value is refused', () => {
    const s = defaultSettings()
    expect(() => patchImagePolicy(s, { allowRegistries: ['a b'] })).toThrow(SettingsError)
    expect(imagePolicyOf(s)).toEqual({})
  })
})

describe('settingChanges', () => {
  const had = {
    offer: { cpuMillis: 1000, memoryMiB: 512, storageMiB: 0 },
    members: ['did:plc:a', 'did:plc:b'],
    allowEgress: false,
  }
  const base = () => ({ ...defaultSettings(), ...had, offer: { ...had.offer } })

  it('tells a meshlet that started with the same settings nothing; member order does not matter', () => {
    expect(settingChanges(base(), had)).toEqual([])
    expect(settingChanges({ ...base(), members: ['did:plc:b', 'did:plc:a'] }, had)).toEqual([])
  })

  it('names each setting that moved while it started, in the order they are applied', () => {
    const now = {
      ...base(),
      offer: { cpuMillis: 500, memoryMiB: 512, storageMiB: 0 },
      members: ['did:plc:a'],
      allowEgress: true,
      minBalance: -5000,
      maxImageMiB: 100,
    }
    expect(settingChanges(now, had)).toEqual([
      { kind: 'offer', offer: now.offer },
      { kind: 'members', members: ['did:plc:a'] },
      { kind: 'allowEgress', allowEgress: true },
      { kind: 'minBalance', minBalance: -5000 },
      { kind: 'imagePolicy', policy: { maxImageMiB: 100 } },
    ])
    // A floor or a policy turned off is a change too.
    expect(
      settingChanges(base(), { ...had, minBalance: -1, allowRegistries: ['ghcr.io'] }),
    ).toEqual([
      { kind: 'minBalance', minBalance: undefined },
      { kind: 'imagePolicy', policy: {} },
    ])
  })
})

describe('migrateSettings', () => {
  it('serves the API by default', () => {
    expect(defaultSettings().serveApi).toBe(true)
  })
  it('turns on the API where an older version saved its default off, and says so', () => {
    const old = { ...defaultSettings(), serveApi: false }
    const { settings, notes } = migrateSettings(old, undefined)
    expect(settings.serveApi).toBeUndefined()
    expect(loadSettings(settings).settings.serveApi).toBe(true)
    expect(notes).toEqual([expect.stringContaining('Serve the meshlet API')])
    // The rest is kept, and the input is not changed.
    expect({ ...settings, serveApi: false }).toEqual(old)
    expect(old.serveApi).toBe(false)
  })
  it('keeps a choice made under the current version, and changes nothing already on', () => {
    const off = { ...defaultSettings(), serveApi: false }
    expect(migrateSettings(off, 2)).toEqual({ settings: off, notes: [] })
    const on = defaultSettings()
    expect(migrateSettings(on, undefined)).toEqual({ settings: on, notes: [] })
  })
})
