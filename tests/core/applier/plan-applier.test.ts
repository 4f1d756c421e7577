// The plan applier decides which actions of a plan run and how; the effects are hooks, recorded
// here in memory (the real ones, Docker and the repo, are exercised by the e2e suites).
import { describe, expect, it } from 'vitest'
import {
  PlanApplier,
  replicaKey,
  StartCancelledError,
  type ReplicaId,
} from '../../../core/applier/index.js'
import { bidRkey, type Action, type WorkloadView } from '../../../core/scheduling/index.js'
import { workload } from '../scheduling/_util.js'

const w: WorkloadView = workload()
const other: WorkloadView = workload({ rkey: '3lworkother00' })
const bid: Action = {
  type: 'bid',
  workload: w,
  round: 0,
  priority: 1,
  offer: w.record.resources,
  rkey: bidRkey(w.uri, 0, w.cid),
}
const start: Action = { type: 'start', workload: w, round: 0, rkey: bidRkey(w.uri, 0, w.cid) }
const decline: Action = {
  type: 'decline',
  workload: other,
  round: 2,
  rkey: bidRkey(other.uri, 2, other.cid),
}
const stop: Action = {
  type: 'stop',
  workloadUri: w.uri,
  cid: w.cid,
  round: 1,
  reason: 'yielded',
  status: 'yielded',
}
const container = (round: number): ReplicaId & { id: string } => ({
  workloadUri: w.uri,
  cid: w.cid,
  round,
  id: `c${round}`,
})

function applier(opts: { refused?: boolean; ended?: boolean } = {}) {
  const calls: string[] = []
  const errors: string[] = []
  let settled = 0
  let running = true
  const gates: (() => void)[] = []
  const signals = new Map<number, AbortSignal>()
  const held = () =>
    new Promise<void>((resolve) => {
      gates.push(resolve)
    })
  const a = new PlanApplier<ReplicaId & { id: string }>({
    bid: async (x) => void calls.push(`bid ${x.round}`),
    decline: async (x) => void calls.push(`decline ${x.round}`),
    start: async (x, signal) => {
      calls.push(`start ${x.round}`)
      signals.set(x.round, signal)
      await held()
      if (x.round === 9) throw new Error('no such image')
    },
    stop: async (r, action) => {
      calls.push(`stop ${r.id} ${action.status ?? '-'}`)
      await held()
    },
    ended: () => opts.ended === true,
    refused: () => opts.refused === true,
    running: () => running,
    onSettled: () => void (settled += 1),
    onError: (stage, err) => void errors.push(`${stage}: ${err.message}`),
  })
  const release = () => {
    for (const g of gates.splice(0)) g()
  }
  return {
    a,
    calls,
    errors,
    release,
    signals,
    settled: () => settled,
    halt: () => (running = false),
  }
}

describe('PlanApplier', () => {
  it('runs every action of a plan in order; starts and stops run beside it', async () => {
    const t = applier()
    await t.a.apply([stop, decline, start, bid], [container(0), container(1)])
    // The stop targets only the container of its round; bid and decline were awaited, while
    // start and stop are still under way.
    expect(t.calls).toEqual(['stop c1 yielded', 'decline 2', 'start 0', 'bid 0'])
    expect(t.a.busy(container(0))).toBe('start')
    expect(t.a.busy(container(1))).toBe('stop')
    expect(t.a.starting()).toEqual([{ workloadUri: w.uri, cid: w.cid, round: 0 }])
    expect(t.a.busyWith(w.uri)).toBe(true)
    t.release()
    await t.a.settled()
    expect(t.a.busyWith(w.uri)).toBe(false)
    expect(t.settled()).toBe(2)
  })

  it('never asks twice for a replica under way', async () => {
    const t = applier()
    await t.a.apply([start], [])
    await t.a.apply([start, stop], [container(1)])
    expect(t.calls).toEqual(['start 0', 'stop c1 yielded'])
    expect(t.signals.get(0)?.aborted).toBe(false)
    t.release()
    await t.a.settled()
  })

  it('calls a start off when a plan stops its replica meanwhile (a better bid came late)', async () => {
    const t = applier()
    await t.a.apply([start], [])
    const overtaken: Action = { ...stop, round: 0 }
    // Whether or not the container is listed yet, the stop goes to the start under way, whose
    // hook then publishes the stop's status instead of running the replica.
    await t.a.apply([overtaken], [])
    await t.a.apply([overtaken], [container(0)])
    expect(t.calls).toEqual(['start 0'])
    const signal = t.signals.get(0)!
    expect(signal.aborted).toBe(true)
    expect(signal.reason).toBeInstanceOf(StartCancelledError)
    expect((signal.reason as StartCancelledError).stop).toEqual(overtaken)
    // The container it may have made is on its way out: its death is the stop's, not an ending.
    expect(t.a.busy(container(0))).toBe('stop')
    t.release()
    await t.a.settled()
    expect(t.a.busy(container(0))).toBeUndefined()
  })

  it('with bidsOnly, runs the bids and leaves the rest for the next plan', async () => {
    const t = applier()
    await t.a.apply([stop, decline, start, bid], [container(1)], { bidsOnly: true })
    expect(t.calls).toEqual(['bid 0'])
  })

  it('does not start again what failed to start, waits for secrets, or ran to its end', async () => {
    const t = applier()
    const failing: Action = { ...start, round: 9 }
    await t.a.apply([failing], [])
    t.release()
    await t.a.settled()
    expect(t.errors).toEqual(['start: no such image'])
    t.a.startFailed({ workloadUri: w.uri, cid: w.cid, round: 9 })
    t.a.waitForSecrets({ workloadUri: w.uri, cid: w.cid, round: 0 })
    await t.a.apply([failing, start], [])
    expect(t.calls).toEqual(['start 9'])
    // The owner shares secrets: the replica may start.
    t.a.releaseWaiting(w.uri)
    await t.a.apply([start], [])
    expect(t.calls).toEqual(['start 9', 'start 0'])
    t.release()
    await t.a.settled()

    const ended = applier({ ended: true })
    await ended.a.apply([start, bid], [])
    expect(ended.calls).toEqual(['bid 0'])
  })

  it('skips bids and starts of a version the lender refused, but stops go on', async () => {
    const t = applier({ refused: true })
    await t.a.apply([stop, decline, start, bid], [container(1)])
    expect(t.calls).toEqual(['stop c1 yielded'])
    t.release()
    await t.a.settled()
  })

  it('stops applying as soon as the meshlet stops', async () => {
    const t = applier()
    t.halt()
    await t.a.apply([bid, start], [])
    expect(t.calls).toEqual([])
  })

  it('track resolves when the job is done, also when it fails', async () => {
    const t = applier()
    const done = t.a.track(container(3), 'stop', async () => {
      throw new Error('gone')
    })
    await done
    expect(t.errors).toEqual(['stop: gone'])
    expect(t.a.busy(container(3))).toBeUndefined()
    expect(replicaKey(container(3))).toBe(`${w.uri}|${w.cid}|3`)
  })
})
