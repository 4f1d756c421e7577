// The phase the app shows and the sentence under it, and who holds lending back: the user's
// toggle, the system's pauses and the lending rules, kept apart.
import { describe, expect, it } from 'vitest'
import {
  detailOf,
  LendingHolds,
  phaseOf,
  type DetailInput,
  type PhaseInput,
} from '../../../core/app/phase.js'

const lendingNow: PhaseInput = {
  restoring: false,
  problem: undefined,
  owner: true,
  machine: true,
  ownerKnown: true,
  linked: true,
  starting: false,
  running: true,
  selfUnlinked: false,
  lending: true,
}
const offline = { phase: 'offline', detail: 'cannot reach the PDS' } as const

describe('phaseOf', () => {
  it.each<[string, Partial<PhaseInput>, string]>([
    ['lending', {}, 'lending'],
    ['paused by anyone', { lending: false }, 'paused'],
    ['nobody signed in', { owner: false, machine: false, ownerKnown: false }, 'signed-out'],
    [
      'a saved session waiting for the network',
      { owner: false, machine: false, restoring: true, problem: offline },
      'offline',
    ],
    ['the owner only', { machine: false }, 'needs-meshlet'],
    [
      'the daemon’s owner, its machine not linked',
      { owner: false, linked: false, running: false },
      'needs-meshlet',
    ],
    ['the machine only', { owner: false, ownerKnown: false }, 'signed-out'],
    ['not linked, no start under way', { linked: false, running: false }, 'needs-meshlet'],
    [
      'not linked, a check under way',
      { linked: false, starting: true, running: false },
      'starting',
    ],
    ['linked, starting', { running: false, starting: true }, 'starting'],
    ['a problem', { problem: { phase: 'error', detail: 'Docker' } }, 'error'],
    ['its own linkage broken', { selfUnlinked: true }, 'error'],
  ])('%s → %s', (_name, change, phase) => {
    expect(phaseOf({ ...lendingNow, ...change })).toBe(phase)
  })
})

describe('detailOf', () => {
  const base: DetailInput = {
    problem: undefined,
    machine: true,
    userLending: true,
    systemPauses: new Set(),
    policy: { action: 'lend', cpuShare: 1 },
  }

  it('says what went wrong, or that the linkage is broken', () => {
    expect(detailOf('offline', { ...base, problem: offline })).toBe('cannot reach the PDS')
    expect(detailOf('error', base)).toBe(
      'This machine’s linkage to your account is broken: link it again.',
    )
  })

  it('says who paused: the user first, then the system, then the rule', () => {
    const rule = { action: 'pause', because: 'you are using this computer', cpuShare: 1 } as const
    expect(detailOf('paused', { ...base, userLending: false, policy: rule })).toBe('Paused by you.')
    expect(detailOf('paused', { ...base, systemPauses: new Set(['battery', 'suspend']) })).toBe(
      'Paused while on battery and asleep.',
    )
    expect(detailOf('paused', { ...base, policy: rule })).toBe('You are using this computer.')
    expect(detailOf('paused', { ...base, systemPauses: new Set(['quit']), policy: rule })).toBe(
      'Paused while quitting.',
    )
  })

  it('says guests are throttled, and nothing while lending plainly', () => {
    const throttle = { action: 'throttle', because: 'the host is busy', cpuShare: 0.25 } as const
    expect(detailOf('lending', { ...base, policy: throttle })).toBe(
      'Guests throttled to 25 % CPU: the host is busy.',
    )
    expect(detailOf('lending', base)).toBeUndefined()
    expect(detailOf('signed-out', base)).toBeUndefined()
  })

  it('asks for the machine’s account, then for the link', () => {
    expect(detailOf('needs-meshlet', { ...base, machine: false })).toBe(
      'Sign in this machine’s own account.',
    )
    expect(detailOf('needs-meshlet', base)).toBe(
      'Link this machine to your account to start lending.',
    )
    expect(detailOf('starting', base)).toBe('Reading the commune’s records…')
  })
})

describe('LendingHolds', () => {
  function holds() {
    const s = { user: true, battery: false, policy: false }
    const h = new LendingHolds({
      userLending: () => s.user,
      pauseOnBattery: () => s.battery,
      policyPaused: () => s.policy,
    })
    return { s, h }
  }

  it('lends only while none of the three holds it back', () => {
    const { s, h } = holds()
    expect(h.lending).toBe(true)
    s.user = false
    expect(h.lending).toBe(false)
    s.user = true
    s.policy = true
    expect(h.lending).toBe(false)
    s.policy = false
    expect(h.setSystemPause('suspend', true)).toBe(true)
    expect(h.lending).toBe(false)
    // The user's toggle does not end the system's pause.
    s.user = true
    expect(h.lending).toBe(false)
    expect(h.setSystemPause('suspend', false)).toBe(true)
    expect(h.lending).toBe(true)
  })

  it('reports only changes', () => {
    const { h } = holds()
    expect(h.setSystemPause('quit', false)).toBe(false)
    expect(h.setSystemPause('quit', true)).toBe(true)
    expect(h.setSystemPause('quit', true)).toBe(false)
  })

  it('pauses on battery only when asked to, and ends that pause when the rule is turned off', () => {
    const { s, h } = holds()
    expect(h.setSystemPause('battery', true)).toBe(false)
    expect(h.lending).toBe(true)
    s.battery = true
    expect(h.setSystemPause('battery', true)).toBe(true)
    expect(h.lending).toBe(false)
    s.battery = false
    h.batteryRuleOff()
    expect(h.lending).toBe(true)
    expect([...h.systemPauses]).toEqual([])
  })
})
