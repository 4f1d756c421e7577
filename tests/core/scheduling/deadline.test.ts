// Max runtime: the plan stops a replica that ran past its workload's limit, as a failure with a
// named reason, and wakes up exactly when the limit is due.
import { describe, expect, it } from 'vitest'
import {
  DEFAULT_CONFIG,
  overrunStatus,
  plan,
  runtimeDeadline,
  type LocalReplica,
  type StatusView,
  type WorkloadView,
} from '../../../core/scheduling/index.js'
import { BOB_M, SEC, T0, bid, cluster, self, status, workload } from './_util.js'

const DECIDE = T0 + 7 * SEC
const STARTED = DECIDE + SEC
const LIMIT = 10 * SEC

function limited(maxRuntimeMs: number | undefined, restart?: string): WorkloadView {
  const w = workload(restart ? { restartPolicy: { mode: restart } } : {})
  return maxRuntimeMs === undefined ? w : { ...w, record: { ...w.record, maxRuntimeMs } }
}

function run(w: WorkloadView, now: number, statuses: StatusView[], running: LocalReplica[]) {
  return plan({
    self: self(),
    workloads: [w],
    deleted: [],
    bids: [bid(BOB_M, w, { priority: 42, createdAt: T0 + SEC })],
    statuses,
    running,
    cluster: cluster(),
    now,
    config: DEFAULT_CONFIG,
    priorityOf: () => 42,
  })
}

const replica = (w: WorkloadView, startedAt?: number): LocalReplica => ({
  workloadUri: w.uri,
  cid: w.cid,
  round: 0,
  state: 'running',
  ...(startedAt !== undefined ? { startedAt } : {}),
})

describe('max runtime', () => {
  it('leaves a replica inside its limit running and wakes when the limit is due', () => {
    const w = limited(LIMIT)
    const beat = status(BOB_M, w, { updatedAt: STARTED })
    const p = run(w, STARTED + LIMIT - 1, [beat], [replica(w, STARTED)])
    expect(p.actions).toEqual([])
    expect(p.nextWakeAt).toBe(STARTED + LIMIT)
  })

  it('stops a replica past its limit and publishes failed', () => {
    const w = limited(LIMIT)
    const beat = status(BOB_M, w, { updatedAt: STARTED })
    const p = run(w, STARTED + LIMIT, [beat], [replica(w, STARTED)])
    expect(p.actions).toEqual([
      {
        type: 'stop',
        workloadUri: w.uri,
        cid: w.cid,
        round: 0,
        reason: 'max-runtime',
        status: 'failed',
      },
    ])
  })

  it('does nothing without a limit or a start time', () => {
    const free = limited(undefined)
    const late = STARTED + 1000 * LIMIT
    const beat = status(BOB_M, free, { updatedAt: late - SEC })
    expect(run(free, late, [beat], [replica(free, STARTED)]).actions).toEqual([])
    const w = limited(LIMIT)
    expect(runtimeDeadline(w, replica(w))).toBeUndefined()
    expect(runtimeDeadline(w, replica(w, STARTED))).toBe(STARTED + LIMIT)
  })

  it('once failed, the replica is done under never and placed elsewhere under on-failure', () => {
    for (const [mode, fate] of [
      ['never', []],
      ['on-failure', [BOB_M]],
    ] as const) {
      const w = limited(LIMIT, mode)
      const failed = status(BOB_M, w, { state: 'failed', updatedAt: STARTED + LIMIT })
      // Just after the default back-off (5 s): the round that replaces it, if any, is open.
      const p = run(w, STARTED + LIMIT + 5 * SEC + 1, [failed], [])
      expect(p.actions.filter((a) => a.type === 'start')).toEqual([])
      expect(p.explain.get(w.uri)?.excluded).toEqual(fate)
    }
  })

  it('names the reason and the limit in the status', () => {
    expect(overrunStatus(limited(LIMIT))).toEqual({
      reason: 'max-runtime-exceeded',
      message: 'stopped: it ran past its maximum runtime of 10 s',
    })
  })
})
