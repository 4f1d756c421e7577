// The lender's settings while the meshlet runs: defaults, what the owner reads back (a copy), the
// members as the meshlet recognises them, and the runtime told at once what it enforces. The
// runtime here only records what it was told (the real one enforcing it: tests/e2e/
// lender-policy.test.ts).
import { describe, expect, it } from 'vitest'
import { LenderSettings, type LenderSettingsOptions } from '../../../core/meshlet/settings.js'

const offer = { cpuMillis: 2000, memoryMiB: 2048, storageMiB: 1024 }
const OWNER = 'did:plc:alice'

function setUp(over: Partial<LenderSettingsOptions> = {}, withRuntime = true) {
  const told: [string, unknown][] = []
  const runtime = {
    setAllowEgress: (allow: boolean) => void told.push(['egress', allow]),
    setRegistryAllowList: (list?: string[]) => void told.push(['registries', list]),
    setMaxImageMiB: (max?: number) => void told.push(['maxImageMiB', max]),
  }
  const settings = new LenderSettings({
    owner: OWNER,
    members: ['did:plc:bob'],
    offer,
    ...(withRuntime ? { runtime } : {}),
    ...over,
  })
  return { settings, told }
}

const state = {
  meshlet: 'did:plc:alicem',
  owner: OWNER,
  dockerAvailable: true,
  hasRuntime: true,
  arch: 'amd64',
}

describe('LenderSettings', () => {
  it('lends, unpaused, without egress, floor or image policy by default', () => {
    const { settings } = setUp()
    expect(settings.lending).toBe(true)
    expect(settings.paused).toBe(false)
    expect(settings.view()).toEqual({ offer, members: ['did:plc:bob'], allowEgress: false })
    expect(settings.minBalance).toBeUndefined()
    expect(settings.imagePolicy).toEqual({})
  })

  it('tells the runtime its egress and image policy when made', () => {
    const { told } = setUp({ allowEgress: true, allowRegistries: ['ghcr.io'], maxImageMiB: 500 })
    expect(told).toEqual([
      ['egress', true],
      ['registries', ['ghcr.io']],
      ['maxImageMiB', 500],
    ])
  })

  it('tells the runtime when egress or the image policy changes, and nothing else', () => {
    const { settings, told } = setUp()
    told.length = 0
    settings.setOffer({ ...offer, cpuMillis: 1000 })
    settings.setMinBalance(-500)
    settings.setPaused(true)
    settings.setMembers(['did:plc:carol'])
    expect(told).toEqual([])
    settings.setAllowEgress(true)
    settings.setImagePolicy({ allowRegistries: ['docker.io'] })
    expect(told).toEqual([
      ['egress', true],
      ['registries', ['docker.io']],
      ['maxImageMiB', undefined],
    ])
  })

  it('needs no runtime (a meshlet without Docker)', () => {
    const { settings } = setUp({ allowEgress: true }, false)
    settings.setAllowEgress(false)
    settings.setImagePolicy({ maxImageMiB: 10 })
    expect(settings.view()).toMatchObject({ allowEgress: false, maxImageMiB: 10 })
  })

  it('lists each member once and never our own owner', () => {
    const { settings } = setUp()
    settings.setMembers(['did:plc:bob', OWNER, 'did:plc:carol', 'did:plc:bob'])
    expect(settings.members).toEqual(['did:plc:bob', 'did:plc:carol'])
  })

  it('keeps copies: changing what was given or read back changes no setting', () => {
    const given = { ...offer }
    const registries = ['ghcr.io']
    const { settings } = setUp({ offer: given, allowRegistries: registries })
    given.cpuMillis = 1
    registries.push('evil.example')
    const view = settings.view()
    view.offer.cpuMillis = 2
    view.members.push('did:plc:mallory')
    view.allowRegistries!.push('evil.example')
    expect(settings.view()).toEqual({
      offer,
      members: ['did:plc:bob'],
      allowEgress: false,
      allowRegistries: ['ghcr.io'],
    })
  })

  it('reads back a floor once set, and not once turned off', () => {
    const { settings } = setUp({ minBalance: -1000 })
    expect(settings.view().minBalance).toBe(-1000)
    settings.setMinBalance(undefined)
    expect('minBalance' in settings.view()).toBe(false)
  })

  it("makes the lender's description from the settings and the meshlet's state", () => {
    const { settings } = setUp({ lending: false, minBalance: 0, maxImageMiB: 64 })
    settings.setPaused(true)
    expect(settings.lender(state)).toEqual({
      ...state,
      members: ['did:plc:bob'],
      lending: false,
      paused: true,
      offer,
      allowEgress: false,
      minBalance: 0,
      imagePolicy: { maxImageMiB: 64 },
    })
    expect('minBalance' in setUp().settings.lender(state)).toBe(false)
  })
})
