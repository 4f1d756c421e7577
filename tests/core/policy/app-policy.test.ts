// The lending policy in the daemon's app against the real stack: a real PLC and PDS, the real
// Docker engine. Only the readings are injected (the host's load, the idle time, the clock), as
// the desktop shell or the daemon's probes would give them; the drain, the throttle and the
// records they publish are real.
import Docker from 'dockerode'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { validateArgs, ApiError } from '../../../core/api.js'
import type { MeshletApp } from '../../../core/app.js'
import type { Hysteresis } from '../../../core/policy/index.js'
import { TEST_IMAGE } from '../../infra.js'
import {
  createMember,
  eventually,
  link,
  memberApp,
  startNetwork,
  type Member,
  type Network,
} from '../../_util.js'
import { removeContainersOf, statusesOf } from '../../e2e/_util.js'

const docker = new Docker()
/** Short, so the test runs in seconds; the defaults are tested in decide.test.ts. */
const FAST: Partial<Hysteresis> = {
  tripAfterMs: 300,
  releaseAfterMs: 300,
  minHoldMs: 1000,
  inUseAfterMs: 300,
  inUseGapMs: 5000,
}

let net: Network
let alice: Member
let app: MeshletApp
let load = 10
let idle = 3600

beforeAll(async () => {
  net = await startNetwork()
  alice = await createMember(net, 'alice')
  await link(alice)
  app = await memberApp(net, alice, {
    docker: true,
    scheduling: { defaultBidWindowMs: 1500, graceMs: 500 },
    initial: { members: [], rules: { maxHostLoadPercent: 70 } },
    policy: {
      source: { hostLoadPercent: () => load, idleSeconds: () => idle },
      hysteresis: FAST,
      fastMs: 100,
      slowMs: 100,
    },
  })
})

afterAll(async () => {
  await app?.close()
  await removeContainersOf([alice.meshlet.did])
  await net?.close()
})

async function runningGuest(image = TEST_IMAGE): Promise<{ uri: string; containerId: string }> {
  const { uri } = await app.call('workloads.submit', {
    image,
    cpuMillis: 200,
    memoryMiB: 32,
    replicas: 1,
    command: ['sleep', '600'],
  })
  const guest = await eventually(
    'the guest running here',
    () => app.snapshot().guests.find((g) => g.workloadUri === uri && g.state === 'running'),
    40_000,
  )
  return { uri, containerId: guest.containerId }
}

async function nanoCpus(id: string): Promise<number | undefined> {
  return (await docker.getContainer(id).inspect()).HostConfig.NanoCpus
}

const activity = () => app.snapshot().activity.map((a) => a.text)

describe('the lending policy in the daemon', () => {
  it('drains guests when the host’s own load stays high, and lends again when it calms', async () => {
    const { uri, containerId } = await runningGuest()
    expect(app.snapshot().policy.rules.find((r) => r.rule === 'host-load')).toMatchObject({
      status: 'clear',
    })

    load = 95
    await eventually('paused by the policy', () => app.snapshot().phase === 'paused')
    const s = app.snapshot()
    expect(s.detail).toBe('This computer is busy (CPU 95 %, limit 70 %).')
    expect(s.policy).toMatchObject({ action: 'pause', reason: 'host-load' })
    expect(s.settings.lending).toBe(true)
    expect(activity()).toContain('Paused: this computer is busy (CPU 95 %, limit 70 %)')
    await eventually('the guest drained', async () => {
      const gone = await docker
        .getContainer(containerId)
        .inspect()
        .then(
          () => false,
          () => true,
        )
      return gone
    })
    await eventually('draining published', async () =>
      (await statusesOf(alice, [alice], uri)).some((x) => x.state === 'draining'),
    )

    load = 10
    await eventually('lending again', () => app.snapshot().phase === 'lending')
    expect(activity()).toContain('Lending again: this computer is no longer busy')
    await app.call('workloads.delete', { uri })
  })

  it('throttles guests while the lender uses the machine, and restores them when idle', async () => {
    await app.call(
      'settings.set',
      validateArgs('settings.set', {
        rules: {
          maxHostLoadPercent: 0,
          idleMinutes: 1,
          whenInUse: 'throttle',
          throttlePercent: 25,
        },
      }),
    )
    expect(app.snapshot().settings.rules).toMatchObject({
      idleMinutes: 1,
      whenInUse: 'throttle',
      throttlePercent: 25,
      maxHostLoadPercent: 0,
    })
    const { containerId, uri } = await runningGuest()
    expect(await nanoCpus(containerId)).toBe(200_000_000)

    idle = 0
    await eventually('throttled', async () => (await nanoCpus(containerId)) === 50_000_000)
    const s = app.snapshot()
    expect(s.phase).toBe('lending')
    expect(s.detail).toBe('Guests throttled to 25 % CPU: you are using this computer.')
    expect(activity()).toContain('Throttled guests to 25 % CPU: you are using this computer')
    // Throttled, not drained: the guest keeps running.
    expect((await docker.getContainer(containerId).inspect()).State.Running).toBe(true)

    idle = 61
    await eventually('restored', async () => (await nanoCpus(containerId)) === 200_000_000)
    expect(activity()).toContain('Lending again: idle for 1 minute')
    expect(app.snapshot().detail).toBeUndefined()
    await app.call('workloads.delete', { uri })
  })

  it('refuses rules that make no sense, changing nothing', () => {
    for (const rules of [
      { quietHours: { from: '25:00', to: '18:00', mode: 'quiet' } },
      { quietHours: { from: '09:00', to: '09:00', mode: 'quiet' } },
      { throttlePercent: 0 },
      { idleMinutes: -1 },
      { minBatteryPercent: 101 },
      { bogus: 1 },
    ]) {
      expect(() => validateArgs('settings.set', { rules })).toThrow(ApiError)
    }
  })
})

describe('the lender’s example: idle 10 minutes, never on battery below 40 %, quiet 09:00–18:00', () => {
  it('says which rule holds lending back as the day goes', async () => {
    // The clock runs (the hysteresis needs time to pass); the test moves it to a time of day.
    let clock = Date.UTC(2026, 11, 2, 8, 0)
    const setAt = Date.now()
    let battery = { onBattery: false, percent: 100 }
    const idleSeconds = 900
    const bob = await createMember(net, 'bob')
    await link(bob)
    const desk = await memberApp(net, bob, {
      policy: {
        source: { idleSeconds: () => idleSeconds, battery: () => battery },
        now: () => clock + (Date.now() - setAt),
        timeZone: 'UTC',
        hysteresis: FAST,
        fastMs: 50,
      },
    })
    try {
      await desk.call('settings.set', {
        pauseOnBattery: true,
        rules: {
          idleMinutes: 10,
          minBatteryPercent: 40,
          quietHours: { from: '09:00', to: '18:00', mode: 'quiet' },
        },
      })
      await eventually('lending at 08:00', () => desk.snapshot().phase === 'lending')

      clock = Date.UTC(2026, 11, 2, 9, 0) - (Date.now() - setAt)
      await eventually('quiet at 09:00', () => desk.snapshot().phase === 'paused')
      expect(desk.snapshot().detail).toBe('Quiet hours until 18:00.')

      clock = Date.UTC(2026, 11, 2, 19, 0) - (Date.now() - setAt)
      battery = { onBattery: true, percent: 30 }
      await eventually(
        'battery below 40 % holds it back after quiet hours',
        () => desk.snapshot().policy.reason === 'battery',
      )
      expect(desk.snapshot()).toMatchObject({
        phase: 'paused',
        detail: 'On battery at 30 %, below 40 %.',
      })
      const rules = desk.snapshot().policy.rules
      expect(rules.map((r) => [r.rule, r.status])).toEqual([
        ['idle', 'clear'],
        ['quiet-hours', 'clear'],
        ['battery', 'holding'],
        ['host-load', 'off'],
      ])

      battery = { onBattery: true, percent: 55 }
      await eventually('lending on battery above 40 %', () => desk.snapshot().phase === 'lending')
      expect(desk.snapshot().activity.map((a) => a.text)).toContain(
        'Lending again: battery at 55 %',
      )
    } finally {
      await desk.close()
    }
  })
})
