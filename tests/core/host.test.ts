// The host monitor on this very machine: totals from the OS, use within them, one read for a
// burst of questions, and a clear error for a path that is not there.
import { statfs } from 'node:fs/promises'
import os from 'node:os'
import { describe, expect, it } from 'vitest'
import { HostMonitor, HostProbeError } from '../../core/host.js'

const MiB = 1_048_576

describe('HostMonitor', () => {
  it('reads the static facts once, from the OS', () => {
    const monitor = new HostMonitor(os.tmpdir())
    expect(monitor.facts.cpus).toBe(os.cpus().length)
    expect(monitor.facts.memoryBytes).toBe(os.totalmem())
    expect(monitor.facts.arch).toBe(os.arch())
    expect(monitor.facts.cpuModel).toBe(os.cpus()[0]!.model.trim())
  })

  it('samples totals and a use within them, storage of the filesystem holding the path', async () => {
    const monitor = new HostMonitor(os.tmpdir(), { maxAgeMs: 0 })
    const disk = await statfs(os.tmpdir())
    const first = await monitor.sample()
    // A second sample measures CPU over the time since the first, not the load average.
    await new Promise((r) => setTimeout(r, 200))
    const { host, used } = await monitor.sample()
    expect(host).toEqual(first.host)
    expect(host.cpuMillis).toBe(os.cpus().length * 1000)
    expect(host.memoryMiB).toBe(Math.floor(os.totalmem() / MiB))
    expect(host.storageMiB).toBe(Math.floor((disk.blocks * disk.bsize) / MiB))
    for (const key of ['cpuMillis', 'memoryMiB', 'storageMiB'] as const) {
      expect(used[key]).toBeGreaterThanOrEqual(0)
      expect(used[key]).toBeLessThanOrEqual(host[key])
    }
    // Some memory is always in use.
    expect(used.memoryMiB).toBeGreaterThan(0)
  })

  it('answers a burst of questions with one read, and reads again once the sample is old', async () => {
    const monitor = new HostMonitor(os.tmpdir(), { maxAgeMs: 60_000 })
    const [a, b] = await Promise.all([monitor.sample(), monitor.sample()])
    expect(b).toBe(a)
    expect(await monitor.sample()).toBe(a)
    const fresh = new HostMonitor(os.tmpdir(), { maxAgeMs: 0 })
    const c = await fresh.sample()
    expect(await fresh.sample()).not.toBe(c)
  })

  it('fails with HostProbeError, its cause attached, when the path does not exist', async () => {
    const monitor = new HostMonitor('/nonexistent/meshlet-host-test')
    const err = await monitor.sample().catch((e: unknown) => e)
    expect(err).toBeInstanceOf(HostProbeError)
    expect((err as HostProbeError).cause).toMatchObject({ code: 'ENOENT' })
  })
})
