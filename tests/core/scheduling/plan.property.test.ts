import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import {
  DEFAULT_CONFIG,
  plan,
  roundOf,
  type BidView,
  type PlanInput,
  type StatusView,
  type WorkloadView,
} from '../../../core/scheduling/index.js'
import {
  ALICE,
  ALICE_M,
  BOB,
  BOB_M,
  CAROL,
  CAROL_M,
  DAVE,
  DAVE_M,
  SEC,
  T0,
  bid,
  cluster,
  self,
  status,
  workload,
} from './_util.js'

const MESHLETS: [string, string][] = [
  [ALICE_M, ALICE],
  [BOB_M, BOB],
  [CAROL_M, CAROL],
  [DAVE_M, DAVE],
]
const STATES = ['starting', 'running', 'failed', 'exited', 'draining']
const SPAN = 600 * SEC

const arbWorld = fc
  .record({
    replicas: fc.integer({ min: 1, max: 3 }),
    mode: fc.constantFrom('never', 'on-failure', 'always'),
    bids: fc.array(
      fc.record({
        meshlet: fc.integer({ min: 0, max: 3 }),
        round: fc.integer({ min: 0, max: 3 }),
        at: fc.integer({ min: 0, max: SPAN }),
        priority: fc.integer({ min: 0, max: 3 }),
      }),
      { maxLength: 12 },
    ),
    statuses: fc.array(
      fc.record({
        meshlet: fc.integer({ min: 0, max: 3 }),
        round: fc.integer({ min: 0, max: 3 }),
        at: fc.integer({ min: 0, max: SPAN }),
        state: fc.constantFrom(...STATES),
      }),
      { maxLength: 8 },
    ),
    now: fc.integer({ min: 0, max: 2 * SPAN }),
  })
  .map((s) => {
    const w = workload({ replicas: s.replicas, restartPolicy: { mode: s.mode } })
    const meshletOf = (i: number) => MESHLETS[i]?.[0] ?? BOB_M
    const bids: BidView[] = s.bids.map((b, i) =>
      bid(meshletOf(b.meshlet), w, {
        round: b.round,
        priority: b.priority,
        createdAt: b.round === 0 ? T0 + (b.at % (5 * SEC)) : T0 + b.at,
        cid: `bafyb${i}`,
      }),
    )
    const statuses: StatusView[] = s.statuses.map((st, i) =>
      status(meshletOf(st.meshlet), w, {
        round: st.round,
        state: st.state,
        exitCode: 1,
        updatedAt: T0 + st.at,
        cid: `bafys${i}`,
      }),
    )
    return { w, bids, statuses, now: T0 + s.now }
  })

function planFor(
  meshlet: string,
  owner: string,
  world: { w: WorkloadView; bids: BidView[]; statuses: StatusView[]; now: number },
) {
  const input: PlanInput = {
    self: self({ meshlet, owner }),
    workloads: [world.w],
    deleted: [],
    bids: world.bids,
    statuses: world.statuses,
    running: [],
    cluster: cluster(),
    now: world.now,
    config: DEFAULT_CONFIG,
    priorityOf: () => 1,
  }
  return plan(input)
}

describe('plan (properties)', () => {
  it('across all meshlets, never more replicas start than the workload asks for', () => {
    fc.assert(
      fc.property(arbWorld, (world) => {
        const starters = MESHLETS.filter(([m, o]) =>
          planFor(m, o, world).actions.some((a) => a.type === 'start'),
        )
        expect(starters.length).toBeLessThanOrEqual(world.w.record.replicas)
      }),
    )
  })

  it('a meshlet starts each placement once, and bids beside a start only where holders may bid', () => {
    fc.assert(
      fc.property(arbWorld, (world) => {
        const info = roundOf(
          world.w,
          world.statuses,
          { bids: world.bids, cluster: cluster() },
          world.now,
        )
        for (const [m, o] of MESHLETS) {
          const actions = planFor(m, o, world).actions
          const started = actions.flatMap((a) => (a.type === 'start' ? [a.round] : []))
          expect(new Set(started).size).toBe(started.length)
          expect(started.length).toBeLessThanOrEqual(world.w.record.replicas)
          // Spread is a preference: a meshlet already placed bids again only in a round that
          // follows a short one or replaces a declined win.
          if (started.length > 0 && actions.some((a) => a.type === 'bid')) {
            expect(info.holdersMayBid).toBe(true)
          }
        }
      }),
    )
  })

  it('the plan does not depend on the order of the records', () => {
    fc.assert(
      fc.property(arbWorld, (world) => {
        const reversed = { ...world, bids: [...world.bids].reverse() }
        reversed.statuses = [...world.statuses].reverse()
        const a = planFor(BOB_M, BOB, world)
        const b = planFor(BOB_M, BOB, reversed)
        expect(b.actions).toEqual(a.actions)
        expect(b.nextWakeAt).toEqual(a.nextWakeAt)
        expect([...b.explain]).toEqual([...a.explain])
      }),
    )
  })
})
