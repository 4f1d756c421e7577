#!/usr/bin/env node
// Draws the tray icons and the app icon, and writes them as PNG with nothing but node:zlib, so
// the images are reproducible from this file (tests/electron/icons.test.ts checks that the
// committed ones are what it draws). Shapes are signed distance functions in a unit square,
// sampled 4×4 per pixel, so one drawing serves every size.
//
//   node build/make-icons.mjs [--out <dir>]     (default: the repository root)
//
// Tray: a ring (the app's mark) whose inside tells the state by shape, not only by colour,
// because macOS template images are black and alpha only:
//   lending  ring and a solid centre       paused   ring and two bars
//   error    solid disc with a cut-out "!"  offline  a faint ring alone
import { Buffer } from 'node:buffer'
import { mkdirSync, writeFileSync } from 'node:fs'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { crc32, deflateSync } from 'node:zlib'

// --- PNG ---------------------------------------------------------------------------------------

function chunk(type, data) {
  const head = Buffer.alloc(8)
  head.writeUInt32BE(data.length, 0)
  head.write(type, 4, 'ascii')
  const crc = Buffer.alloc(4)
  crc.writeUInt32BE(crc32(Buffer.concat([head.subarray(4), data])), 0)
  return Buffer.concat([head, data, crc])
}

/** 8-bit RGBA, no interlace, filter 0 on every row: simple and byte-for-byte reproducible. */
export function encodePng(width, height, rgba) {
  const ihdr = Buffer.alloc(13)
  ihdr.writeUInt32BE(width, 0)
  ihdr.writeUInt32BE(height, 4)
  ihdr[8] = 8 // bit depth
  ihdr[9] = 6 // colour type: RGBA
  const raw = Buffer.alloc((width * 4 + 1) * height)
  for (let y = 0; y < height; y++) {
    raw[y * (width * 4 + 1)] = 0
    rgba.copy(raw, y * (width * 4 + 1) + 1, y * width * 4, (y + 1) * width * 4)
  }
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk('IHDR', ihdr),
    chunk('IDAT', deflateSync(raw, { level: 9 })),
    chunk('IEND', Buffer.alloc(0)),
  ])
}

// --- shapes (signed distance: negative inside) -----------------------------------------------

const circle = (cx, cy, r) => (x, y) => Math.hypot(x - cx, y - cy) - r
const ring = (cx, cy, r, width) => (x, y) => Math.abs(Math.hypot(x - cx, y - cy) - r) - width / 2
const box =
  (cx, cy, hw, hh, r = 0) =>
  (x, y) => {
    const qx = Math.abs(x - cx) - hw + r
    const qy = Math.abs(y - cy) - hh + r
    return Math.hypot(Math.max(qx, 0), Math.max(qy, 0)) + Math.min(Math.max(qx, qy), 0) - r
  }
const segment = (ax, ay, bx, by, r) => (x, y) => {
  const px = x - ax
  const py = y - ay
  const dx = bx - ax
  const dy = by - ay
  const h = Math.max(0, Math.min(1, (px * dx + py * dy) / (dx * dx + dy * dy)))
  return Math.hypot(px - dx * h, py - dy * h) - r
}
const union =
  (...shapes) =>
  (x, y) => {
    let d = Infinity
    for (const s of shapes) d = Math.min(d, s(x, y))
    return d
  }
const subtract = (a, b) => (x, y) => Math.max(a(x, y), -b(x, y))

// --- raster ------------------------------------------------------------------------------------

const SAMPLES = 4

/** The colour at one point, premultiplied, with the layers composited "over" in order. */
function paint(layers, x, y, inside) {
  let r = 0
  let g = 0
  let b = 0
  let a = 0
  for (let k = 0; k < layers.length; k++) {
    if (!inside(k, x, y)) continue
    const color = layers[k].color
    const [lr, lg, lb, la] = typeof color === 'function' ? color(x, y) : color
    r = lr * la + r * (1 - la)
    g = lg * la + g * (1 - la)
    b = lb * la + b * (1 - la)
    a = la + a * (1 - la)
  }
  return [r, g, b, a]
}

/** Layers are { shape, color: [r, g, b, a] | (x, y) => [r, g, b, a] }, painted in order. */
export function render(size, layers) {
  const out = Buffer.alloc(size * size * 4)
  // A pixel whose centre is farther than half its diagonal from every edge is wholly inside or
  // outside each shape: one sample gives what sixteen would (the gradient is linear).
  const halfDiagonal = Math.SQRT1_2 / size
  const sampled = (k, x, y) => layers[k].shape(x, y) <= 0
  for (let py = 0; py < size; py++) {
    for (let px = 0; px < size; px++) {
      const cx = (px + 0.5) / size
      const cy = (py + 0.5) / size
      const centre = layers.map((layer) => layer.shape(cx, cy))
      let sum
      if (centre.every((d) => Math.abs(d) > halfDiagonal)) {
        sum = paint(layers, cx, cy, (k) => centre[k] <= 0)
      } else {
        sum = [0, 0, 0, 0]
        for (let sy = 0; sy < SAMPLES; sy++) {
          for (let sx = 0; sx < SAMPLES; sx++) {
            const x = (px + (sx + 0.5) / SAMPLES) / size
            const y = (py + (sy + 0.5) / SAMPLES) / size
            const c = paint(layers, x, y, sampled)
            for (let j = 0; j < 4; j++) sum[j] += c[j] / (SAMPLES * SAMPLES)
          }
        }
      }
      const [r, g, b, alpha] = sum
      const i = (py * size + px) * 4
      out[i + 3] = Math.round(alpha * 255)
      if (alpha > 0) {
        out[i] = Math.round((r / alpha) * 255)
        out[i + 1] = Math.round((g / alpha) * 255)
        out[i + 2] = Math.round((b / alpha) * 255)
      }
    }
  }
  return out
}

const hex = (h, alpha = 1) => [
  parseInt(h.slice(1, 3), 16) / 255,
  parseInt(h.slice(3, 5), 16) / 255,
  parseInt(h.slice(5, 7), 16) / 255,
  alpha,
]

// --- the drawings ------------------------------------------------------------------------------

const MARK = ring(0.5, 0.5, 0.38, 0.12)

/** Each state's shape; the colour is the state's, or black for a macOS template. */
const TRAY = {
  lending: { color: '#2ea043', shape: union(MARK, circle(0.5, 0.5, 0.17)) },
  paused: {
    color: '#d29922',
    // Bars on whole pixels at 16 px (columns 5-7 and 9-11, rows 5-11), so they stay crisp.
    shape: union(
      MARK,
      box(0.375, 0.5, 0.0625, 0.1875, 0.01),
      box(0.625, 0.5, 0.0625, 0.1875, 0.01),
    ),
  },
  error: {
    color: '#da3633',
    shape: subtract(
      circle(0.5, 0.5, 0.45),
      union(box(0.5, 0.4, 0.07, 0.17, 0.05), circle(0.5, 0.73, 0.075)),
    ),
  },
  // Faint: "not part of the commune right now" reads as disabled, on every platform.
  offline: { color: '#8b949e', alpha: 0.75, shape: MARK },
}

export function trayIcon(state, size, template) {
  const { color, shape, alpha = 1 } = TRAY[state]
  return render(size, [{ shape, color: template ? [0, 0, 0, alpha] : hex(color, alpha) }])
}

/** The app icon: three members' machines and the link between them, on a rounded square. */
export function appIcon(size) {
  const top = hex('#13896f')
  const bottom = hex('#0b4a66')
  const gradient = (_x, y) => top.map((c, k) => c + (bottom[k] - c) * y)
  const nodes = [
    [0.5, 0.29],
    [0.29, 0.66],
    [0.71, 0.66],
  ]
  const links = union(
    segment(...nodes[0], ...nodes[1], 0.028),
    segment(...nodes[1], ...nodes[2], 0.028),
    segment(...nodes[2], ...nodes[0], 0.028),
  )
  return render(size, [
    { shape: box(0.5, 0.5, 0.44, 0.44, 0.1), color: gradient },
    { shape: links, color: hex('#ffffff', 0.75) },
    { shape: union(...nodes.map(([x, y]) => circle(x, y, 0.085))), color: hex('#ffffff') },
    { shape: circle(0.5, 0.537, 0.05), color: hex('#ffffff', 0.9) },
  ])
}

// --- files -------------------------------------------------------------------------------------

export const TRAY_STATES = Object.keys(TRAY)

/** Every file this script writes, relative to the output root, with its pixels. */
export function iconFiles() {
  const files = []
  for (const state of TRAY_STATES) {
    for (const [name, size, template] of [
      [`${state}-16.png`, 16, false],
      [`${state}-16@2x.png`, 32, false],
      [`${state}-32.png`, 32, false],
      [`${state}-32@2x.png`, 64, false],
      [`${state}Template.png`, 16, true],
      [`${state}Template@2x.png`, 32, true],
    ]) {
      files.push({
        path: `resources/tray/${name}`,
        size,
        draw: () => trayIcon(state, size, template),
      })
    }
  }
  files.push({ path: 'build/icon.png', size: 512, draw: () => appIcon(512) })
  // The window's icon on Linux (where the window, not the bundle, carries it).
  files.push({ path: 'resources/icon.png', size: 256, draw: () => appIcon(256) })
  return files
}

function main(argv) {
  const at = argv.indexOf('--out')
  const root =
    at >= 0 ? resolve(argv[at + 1] ?? '.') : resolve(dirname(fileURLToPath(import.meta.url)), '..')
  for (const file of iconFiles()) {
    const target = join(root, file.path)
    mkdirSync(dirname(target), { recursive: true })
    writeFileSync(target, encodePng(file.size, file.size, file.draw()))
  }
  process.stdout.write(`wrote ${iconFiles().length} icons under ${root}\n`)
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  main(process.argv.slice(2))
}
