// The lending rules as `meshlet run` flags: documented, checked before anything reaches the
// network, and at work in a real daemon on a real PDS.
import { chmod, mkdtemp, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { main, type Io } from '../../../core/cli/main.js'
import { policyFromFlags } from '../../../core/cli/policy-flags.js'
import { formatClock, minuteOfDay } from '../../../core/policy/index.js'
import { createMember, eventually, link, startNetwork, type Network } from '../../_util.js'

function io(env: NodeJS.ProcessEnv = {}, stopSignal?: Promise<void>) {
  const out: string[] = []
  const err: string[] = []
  const value: Io = {
    out: (l) => out.push(l),
    err: (l) => err.push(l),
    env,
    ...(stopSignal ? { stopSignal } : {}),
  }
  return { io: value, out, err }
}

async function fakeXprintidle(ms: number): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'meshlet-path-'))
  await writeFile(join(dir, 'xprintidle'), `#!/bin/sh\necho ${ms}\n`)
  await chmod(join(dir, 'xprintidle'), 0o755)
  return dir
}

const RUN = ['run', '--did', 'did:plc:a', '--owner', 'did:plc:b', '--cluster-members', 'c']

describe('lending rule flags', () => {
  it('are documented in --help', async () => {
    const t = io()
    expect(await main(['--help'], t.io)).toBe(0)
    for (const flag of [
      '--lend-when-idle <minutes>',
      '--when-in-use pause|throttle',
      '--throttle-to',
      '--on-battery pause|lend',
      '--min-battery',
      '--quiet-hours HH:MM-HH:MM',
      '--lend-hours',
      '--max-host-load',
    ]) {
      expect(t.out.join('\n')).toContain(flag)
    }
  })

  it.each([
    [['--when-in-use', 'sometimes'], /--when-in-use must be pause or throttle/],
    [['--throttle-to', '100'], /--throttle-to must be between 5 and 90/],
    [['--on-battery', 'maybe'], /--on-battery must be pause or lend/],
    [['--on-battery', 'lend', '--min-battery', '40'], /does not go with --on-battery lend/],
    [['--min-battery', '140'], /--min-battery must be between 1 and 100/],
    [['--quiet-hours', '9-18'], /--quiet-hours: not a time of day/],
    [['--quiet-hours', '09:00-09:00'], /two different times/],
    [['--quiet-hours', '22:00-07:00', '--lend-hours', '09:00-17:00'], /not both/],
    [['--max-host-load', '0'], /--max-host-load must be between 1 and 100/],
    [['--lend-when-idle', 'ten'], /--lend-when-idle must be a whole number/],
  ])('refuse %j with exit code 2', async (flags, message) => {
    const t = io({ MESHLET_PASSWORD: 'x' })
    expect(await main([...RUN, ...flags], t.io)).toBe(2)
    expect(t.err.join('\n')).toMatch(message)
  })

  it('refuse --lend-when-idle where no desktop session can be read, saying what was tried', async () => {
    const empty = await mkdtemp(join(tmpdir(), 'meshlet-path-'))
    const t = io({ MESHLET_PASSWORD: 'x', PATH: empty })
    expect(await main([...RUN, '--lend-when-idle', '10'], t.io)).toBe(2)
    const err = t.err.join('\n')
    expect(err).toContain('--lend-when-idle: cannot read the desktop session')
    expect(err).toContain('xprintidle')
    expect(err).toContain('logind IdleHint')
  })

  it('give the lender’s example as rules, with the session’s idle time', async () => {
    const PATH = await fakeXprintidle(125_000)
    const flags = await policyFromFlags(
      {
        'lend-when-idle': '10',
        'min-battery': '40',
        'quiet-hours': '09:00-18:00',
      },
      { PATH, DISPLAY: ':0' },
    )
    expect(flags.rules).toEqual({
      idleMinutes: 10,
      minBatteryPercent: 40,
      quietHours: { from: '09:00', to: '18:00', mode: 'quiet' },
    })
    expect(flags.pauseOnBattery).toBe(true)
    expect(await flags.hooks.source?.idleSeconds?.()).toBe(125)
    const only = await policyFromFlags(
      { 'lend-hours': '22:00-07:00', 'on-battery': 'pause', 'when-in-use': 'throttle' },
      {},
    )
    expect(only).toMatchObject({
      rules: {
        quietHours: { from: '22:00', to: '07:00', mode: 'only' },
        minBatteryPercent: 0,
        whenInUse: 'throttle',
      },
      pauseOnBattery: true,
    })
  })
})

describe('a daemon with quiet hours', () => {
  let net: Network

  beforeAll(async () => {
    net = await startNetwork()
  })

  afterAll(async () => {
    await net?.close()
  })

  it('does not lend inside them, says why in its log, and keeps the rule for the dashboard', async () => {
    const alice = await createMember(net, 'alice')
    await link(alice)
    const now = minuteOfDay(Date.now())
    const window = `${formatClock(now - 1)}-${formatClock(now + 3)}`
    let stop!: () => void
    const stopped = new Promise<void>((r) => (stop = r))
    const t = io({ MESHLET_PASSWORD: alice.meshlet.password }, stopped)
    const dataDir = await mkdtemp(join(tmpdir(), 'meshlet-daemon-'))
    const exit = main(
      [
        'run',
        '--did',
        alice.meshlet.did,
        '--owner',
        alice.owner.did,
        '--cluster-members',
        alice.owner.did,
        '--plc',
        net.plc.url,
        '--handle-resolver',
        net.pds.url,
        '--firehose',
        net.pds.url,
        '--data-dir',
        dataDir,
        '--no-docker',
        '--quiet-hours',
        window,
      ],
      t.io,
    )
    const line = await eventually('the policy’s log line', () =>
      t.out.map((l) => JSON.parse(l) as Record<string, unknown>).find((l) => l.event === 'policy'),
    )
    expect(line).toMatchObject({
      action: 'pause',
      reason: 'quiet-hours',
      text: `Paused: quiet hours until ${formatClock(now + 3)}`,
    })
    stop()
    expect(await exit).toBe(0)
  })
})
