// The lender's refusals on disk: kept across a restart, one version at a time, and a damaged or
// unwritable file reported without keeping the meshlet from refusing.
import { mkdtemp, readFile, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { beforeEach, describe, expect, it } from 'vitest'
import { Refusals } from '../../../core/meshlet/refusals.js'

const uri = 'at://did:plc:bob/commune.scheduler.workload/3kabc'
let dir: string
let errors: Error[]

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'meshlet-refusals-'))
  errors = []
})

const refusals = (file?: string) =>
  new Refusals({ ...(file ? { file } : {}), onError: (e) => errors.push(e) })

describe('Refusals', () => {
  it('refuses one version, and still refuses it after a restart', async () => {
    const file = join(dir, 'declined.json')
    const r = refusals(file)
    await r.load()
    expect(r.has(uri, 'v1')).toBe(false)
    await r.add(uri, 'v1')
    expect(r.has(uri, 'v1')).toBe(true)
    // Another version of the same workload is another decision.
    expect(r.has(uri, 'v2')).toBe(false)
    const again = refusals(file)
    await again.load()
    expect(again.has(uri, 'v1')).toBe(true)
    expect(JSON.parse(await readFile(file, 'utf8'))).toEqual([`${uri}|v1`])
    expect(errors).toEqual([])
  })

  it('starts with none when nothing was kept, or without a data directory', async () => {
    const r = refusals(join(dir, 'none.json'))
    await r.load()
    const memory = refusals()
    await memory.load()
    await memory.add(uri, 'v1')
    expect(memory.has(uri, 'v1')).toBe(true)
    expect(errors).toEqual([])
  })

  it('reports a damaged file and keeps only its well-formed entries', async () => {
    const damaged = join(dir, 'damaged.json')
    await writeFile(damaged, '["at://x|v1", ')
    const r = refusals(damaged)
    await r.load()
    expect(errors).toHaveLength(1)
    const mixed = join(dir, 'mixed.json')
    await writeFile(mixed, JSON.stringify([`${uri}|v1`, 42, null]))
    const m = refusals(mixed)
    await m.load()
    expect(m.has(uri, 'v1')).toBe(true)
    expect(errors).toHaveLength(1)
  })

  it('still refuses when the file cannot be written, and says so', async () => {
    await writeFile(join(dir, 'a-file'), '')
    const r = refusals(join(dir, 'a-file', 'declined.json'))
    await r.add(uri, 'v1')
    expect(r.has(uri, 'v1')).toBe(true)
    expect(errors).toHaveLength(1)
  })
})
