// The committed icons are what build/make-icons.mjs draws, and every file the tray can ask for
// exists at the size its platform expects.
import { execFile } from 'node:child_process'
import { mkdtemp, readFile, readdir, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { promisify } from 'node:util'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { TRAY_ICONS, trayIconFile } from '../../electron/tray-menu.js'

const root = path.resolve(import.meta.dirname, '../..')

/** Width, height, bit depth and colour type from a PNG's IHDR. */
function pngHeader(bytes: Buffer) {
  expect(bytes.subarray(0, 8)).toEqual(
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
  )
  expect(bytes.subarray(12, 16).toString('ascii')).toBe('IHDR')
  return {
    width: bytes.readUInt32BE(16),
    height: bytes.readUInt32BE(20),
    depth: bytes[24],
    colourType: bytes[25],
  }
}

async function size(file: string): Promise<number> {
  const { width, height } = pngHeader(await readFile(path.join(root, file)))
  expect(width).toBe(height)
  return width
}

describe('tray icons', () => {
  it.each(TRAY_ICONS)('%s has every platform file at 1x and 2x', async (icon) => {
    const expected: [string, number][] = [
      [trayIconFile(icon, 'darwin'), 16],
      [trayIconFile(icon, 'win32'), 16],
      [trayIconFile(icon, 'linux'), 32],
    ]
    for (const [file, px] of expected) {
      expect(await size(`resources/tray/${file}`)).toBe(px)
      expect(await size(`resources/tray/${file.replace(/\.png$/, '@2x.png')}`)).toBe(px * 2)
    }
  })

  it('app icons are large enough for every installer', async () => {
    expect(await size('build/icon.png')).toBe(512)
    expect(await size('resources/icon.png')).toBe(256)
  })
})

describe('build/make-icons.mjs', () => {
  let out: string
  beforeAll(async () => {
    out = await mkdtemp(path.join(tmpdir(), 'meshlet-icons-'))
    await promisify(execFile)(process.execPath, [
      path.join(root, 'build/make-icons.mjs'),
      '--out',
      out,
    ])
  })
  afterAll(async () => {
    await rm(out, { recursive: true, force: true })
  })

  it('draws exactly the committed files, byte for byte', async () => {
    const drawn = await readdir(path.join(out, 'resources/tray'))
    const committed = (await readdir(path.join(root, 'resources/tray'))).filter((f) =>
      f.endsWith('.png'),
    )
    expect(drawn.sort()).toEqual(committed.sort())
    for (const file of [
      ...drawn.map((f) => `resources/tray/${f}`),
      'build/icon.png',
      'resources/icon.png',
    ]) {
      const fresh = await readFile(path.join(out, file))
      const kept = await readFile(path.join(root, file))
      expect(
        fresh.equals(kept),
        `${file} differs from the generator's; run node build/make-icons.mjs`,
      ).toBe(true)
    }
  })

  it('makes macOS template images black and alpha only (the menu bar tints them)', async () => {
    const { inflateSync } = await import('node:zlib')
    for (const icon of TRAY_ICONS) {
      const bytes = await readFile(path.join(out, 'resources/tray', `${icon}Template@2x.png`))
      const { width } = pngHeader(bytes)
      // One IDAT chunk, as the generator writes it.
      const idatAt = bytes.indexOf('IDAT', 0, 'ascii')
      const length = bytes.readUInt32BE(idatAt - 4)
      const raw = inflateSync(bytes.subarray(idatAt + 4, idatAt + 4 + length))
      let drawn = 0
      for (let row = 0; row < width; row++) {
        const start = row * (width * 4 + 1) + 1
        for (let x = 0; x < width; x++) {
          const [r, g, b, a] = raw.subarray(start + x * 4, start + x * 4 + 4)
          expect([r, g, b]).toEqual([0, 0, 0])
          if (a! > 0) drawn++
        }
      }
      expect(drawn).toBeGreaterThan(width)
    }
  })
})
