// The settings file on a real disk: first start, a round trip, a damaged file set aside, an
// older version brought up to date once, and writes that land in the order they were made.
import { mkdtemp, readdir, readFile, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { defaultSettings, SETTINGS_VERSION } from '../../../core/app/settings.js'
import { freshSaved, SettingsFile } from '../../../core/app/settings-file.js'

async function fileIn(): Promise<SettingsFile> {
  return new SettingsFile(join(await mkdtemp(join(tmpdir(), 'meshlet-settings-')), 'settings.json'))
}

describe('SettingsFile', () => {
  it('starts from the defaults, under the daemon’s flags, when there is no file', async () => {
    const file = await fileIn()
    const { saved, notes, rewrite } = await file.read({ allowEgress: true })
    expect(saved).toEqual({
      ...freshSaved(),
      settings: { ...defaultSettings(), allowEgress: true },
    })
    expect(notes).toEqual([])
    expect(rewrite).toBe(false)
  })

  it('reads back what it saved, accounts included', async () => {
    const file = await fileIn()
    const saved = {
      ...freshSaved(),
      owner: { did: 'did:plc:owner', method: 'app-password' as const },
    }
    saved.settings.offer.cpuMillis = 1500
    await file.save(saved)
    expect((await file.read()).saved).toEqual(saved)
  })

  it('sets a damaged file aside, says so, and starts from the defaults', async () => {
    const file = await fileIn()
    await writeFile(file.path, '{ not json')
    const { saved, notes } = await file.read()
    expect(saved.settings).toEqual(defaultSettings())
    expect(notes).toEqual([
      expect.objectContaining({ level: 'warn', text: expect.stringMatching(/could not be read/) }),
    ])
    expect(notes[0]!.cause).toBeInstanceOf(Error)
    const left = await readdir(join(file.path, '..'))
    expect(left.some((f) => f.startsWith('settings.json.unreadable-'))).toBe(true)
  })

  it('warns of a damaged field and keeps the rest', async () => {
    const file = await fileIn()
    const settings = { ...defaultSettings(), maxImageMiB: -3, allowEgress: true }
    await writeFile(file.path, JSON.stringify({ settings, settingsVersion: SETTINGS_VERSION }))
    const { saved, notes } = await file.read()
    expect(saved.settings.maxImageMiB).toBeUndefined()
    expect(saved.settings.allowEgress).toBe(true)
    expect(notes.map((n) => n.level)).toEqual(['warn'])
  })

  it('brings an older version up to date and asks for it to be saved at once', async () => {
    const file = await fileIn()
    await writeFile(
      file.path,
      JSON.stringify({ settings: { ...defaultSettings(), serveApi: false } }),
    )
    const { saved, notes, rewrite } = await file.read()
    expect(saved.settingsVersion).toBe(SETTINGS_VERSION)
    expect(saved.settings.serveApi).toBe(true)
    expect(notes.map((n) => n.level)).toEqual(['info'])
    expect(rewrite).toBe(true)
    await file.save(saved)
    expect(await file.read()).toMatchObject({ notes: [], rewrite: false })
  })

  it('lands writes in the order they were made, each as it was when asked', async () => {
    const file = await fileIn()
    const saved = freshSaved()
    const writes = []
    for (let cpu = 100; cpu <= 2000; cpu += 100) {
      saved.settings.offer.cpuMillis = cpu
      writes.push(file.save(saved))
    }
    saved.settings.offer.cpuMillis = 1 // changed after the last save: not written
    await Promise.all(writes)
    const onDisk = JSON.parse(await readFile(file.path, 'utf8'))
    expect(onDisk.settings.offer.cpuMillis).toBe(2000)
  })
})
