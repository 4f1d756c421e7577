// The readings' own logic: the host's load without its guests, and finding a desktop session's
// idle time with the commands a Linux machine has (real executables on a PATH made for the test).
import { chmod, mkdtemp, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import {
  findIdleReader,
  HostLoadMeter,
  IDLE_PROBES,
  IdleUnavailableError,
} from '../../../core/policy/readings.js'

describe('HostLoadMeter', () => {
  it('subtracts what the guests used over the same time, after a first sample', async () => {
    let t = 0
    let host = 0
    let guests = new Map<string, number>()
    const meter = new HostLoadMeter({
      hostLoadPercent: async () => host,
      cores: async () => 2,
      guestCpuMs: async () => guests,
      now: () => t,
    })
    host = 80
    guests = new Map([['a', 10_000]])
    expect(await meter.read()).toBeUndefined()
    // 5 s later: guest a used 5 s of CPU (one core of two: 50 %), b started and used 1 s (10 %).
    t = 5000
    guests = new Map([
      ['a', 15_000],
      ['b', 1000],
    ])
    expect(await meter.read()).toBeCloseTo(20)
    // Guests busier than the host's reading (samples a little apart): never below 0.
    t = 6000
    host = 10
    guests = new Map([
      ['a', 17_000],
      ['b', 1000],
    ])
    expect(await meter.read()).toBe(0)
  })
})

async function pathWith(scripts: Record<string, string>): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'meshlet-idle-'))
  for (const [name, body] of Object.entries(scripts)) {
    await writeFile(join(dir, name), `#!/bin/sh\n${body}\n`)
    await chmod(join(dir, name), 0o755)
  }
  return dir
}

describe('findIdleReader', () => {
  it('uses xprintidle when it answers (milliseconds)', async () => {
    const PATH = await pathWith({ xprintidle: 'echo 4200' })
    const reader = await findIdleReader({ PATH, DISPLAY: ':0' })
    expect(reader.name).toBe('xprintidle')
    expect(await reader.read()).toBe(4.2)
  })

  it('falls back to GNOME’s idle monitor over D-Bus when xprintidle fails', async () => {
    const PATH = await pathWith({
      xprintidle: 'echo "couldn’t open display" >&2; exit 1',
      gdbus: 'case "$*" in *Mutter*) echo "(uint64 61000,)";; *) exit 1;; esac',
    })
    const reader = await findIdleReader({ PATH, DISPLAY: ':0', DBUS_SESSION_BUS_ADDRESS: 'x' })
    expect(reader.name).toBe('GNOME Mutter IdleMonitor')
    expect(await reader.read()).toBe(61)
  })

  it('reads logind’s coarse IdleHint last', async () => {
    const since = (Date.now() - 120_000) * 1000
    const PATH = await pathWith({
      loginctl: `printf 'IdleHint=yes\\nIdleSinceHint=${since}\\n'`,
    })
    const reader = await findIdleReader({ PATH, XDG_SESSION_ID: '2' })
    expect(reader.name).toBe('logind IdleHint')
    expect(await reader.read()).toBeGreaterThanOrEqual(119)
  })

  it('says clearly what it tried when nothing answers', async () => {
    const PATH = await pathWith({ xprintidle: 'echo garbage' })
    const err = await findIdleReader({ PATH, DISPLAY: ':0' }).catch((e: unknown) => e)
    expect(err).toBeInstanceOf(IdleUnavailableError)
    expect((err as Error).message).toContain(`tried ${IDLE_PROBES.map((p) => p.name).join(', ')}`)
    expect((err as Error).message).toMatch(/desktop app/)
  })

  it('starts nothing where there is no desktop session', async () => {
    // xprintidle would answer, but without DISPLAY it is not even tried.
    const PATH = await pathWith({ xprintidle: 'echo 1000' })
    await expect(findIdleReader({ PATH })).rejects.toBeInstanceOf(IdleUnavailableError)
  })
})
