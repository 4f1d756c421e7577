// A guest's output against the real engine: read back in bounded tails, and kept bounded on the
// lender's disk however much the guest prints.
import { stat } from 'node:fs/promises'
import { describe, expect, it } from 'vitest'
import { MAX_LOG_BYTES } from '../../../core/runtime/index.js'
import { docker, fileRuntime, testSpec, waitFor } from './_util.js'

const { runtime } = fileRuntime()

/** Docker's json-file cap for guests (container-config: 8 MiB × 2 files). */
const DISK_CAP = 2 * 8 * 1024 * 1024

describe('guest logs', () => {
  it('returns the last lines a guest printed, and only after `since`', async () => {
    const replica = await runtime.start(
      testSpec({
        command: ['sh', '-c', 'for i in 1 2 3 4 5; do echo line $i; done; exec sleep 600'],
      }),
    )
    const tail = await waitFor(async () => {
      const t = await runtime.logs(replica.containerId, { lines: 3 })
      return t.lines.at(-1)?.text === 'line 5' ? t : undefined
    }, 'five lines')
    expect(tail.lines.map((l) => l.text)).toEqual(['line 3', 'line 4', 'line 5'])
    expect(tail.truncated).toBe(true)
    const all = await runtime.logs(replica.containerId, { lines: 100 })
    expect(all.lines).toHaveLength(5)
    expect(all.truncated).toBe(false)
    const later = await runtime.logs(replica.containerId, {
      since: Date.parse(all.lines.at(-1)!.at),
    })
    expect(later.lines.map((l) => l.text)).not.toContain('line 1')
    await runtime.stop(replica.containerId)
  })

  it('keeps a guest printing without end within its disk cap, and tails stay small', async () => {
    // ~1 KiB a line, numbered, as fast as the guest's shell can print.
    const pad = 'x'.repeat(1000)
    const replica = await runtime.start(
      testSpec({
        command: ['sh', '-c', `i=0; while :; do echo "$i ${pad}"; i=$((i+1)); done`],
        resources: { cpuMillis: 1000, memoryMiB: 64 },
      }),
    )
    // Until it has printed three times what the disk may hold.
    const enough = Math.ceil((3 * DISK_CAP) / (pad.length + 8))
    const last = await waitFor(
      async () => {
        const t = await runtime.logs(replica.containerId, { lines: 1 })
        const n = Number(t.lines.at(-1)?.text.split(' ')[0])
        return n > enough ? n : undefined
      },
      'the guest to print 48 MiB',
      120_000,
    )
    const info = await docker.getContainer(replica.containerId).inspect()
    let onDisk = 0
    for (const path of [info.LogPath, `${info.LogPath}.1`, `${info.LogPath}.2`]) {
      onDisk += await stat(path).then(
        (s) => s.size,
        () => 0,
      )
    }
    console.log(
      `guest printed > ${((last * (pad.length + 8)) / 2 ** 20).toFixed(0)} MiB; on disk: ${(onDisk / 2 ** 20).toFixed(1)} MiB (cap ${DISK_CAP / 2 ** 20} MiB)`,
    )
    // One more line may land between Docker's size check and its rotation.
    expect(onDisk).toBeLessThanOrEqual(DISK_CAP + 64 * 1024)
    const tail = await runtime.logs(replica.containerId, { lines: 1000 })
    expect(tail.truncated).toBe(true)
    expect(tail.lines.reduce((n, l) => n + Buffer.byteLength(l.text) + 1, 0)).toBeLessThanOrEqual(
      MAX_LOG_BYTES,
    )
    await runtime.stop(replica.containerId)
  }, 180_000)
})
