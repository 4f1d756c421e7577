// A burst of workloads onto a few meshlets, simulated with the real plan(): every meshlet plans
// on the records all have seen, applies its own actions (bids, declines, starts, stops) and
// publishes them at once. Bids overcommit, winners decline the excess, and the declined rounds
// reopen: no meshlet ever runs more than its offer, and every burst that fits settles.
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import {
  NSID,
  type PresenceRecord,
  type WorkloadStatusRecord,
} from '../../../core/lexicon/index.js'
import {
  DEFAULT_CONFIG,
  bidUri,
  plan,
  roundHistory,
  statusUri,
  type BidView,
  type LocalReplica,
  type PresenceView,
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
  iso,
  self,
  workload,
} from './_util.js'

const MESHLETS: [string, string][] = [
  [ALICE_M, ALICE],
  [BOB_M, BOB],
  [CAROL_M, CAROL],
  [DAVE_M, DAVE],
]
const CPU = 250
const STEP = 250
const LIMIT = 120 * SEC

interface Peer {
  meshlet: string
  owner: string
  slots: number
  priority: number
  local: LocalReplica[]
  seq: number
}

const arbStorm = fc.record({
  peers: fc.array(
    fc.record({ slots: fc.integer({ min: 1, max: 5 }), priority: fc.integer({ min: 0, max: 2 }) }),
    { minLength: 2, maxLength: 4 },
  ),
  workloads: fc.array(
    fc.record({ replicas: fc.integer({ min: 1, max: 2 }), at: fc.integer({ min: 0, max: 2000 }) }),
    { minLength: 1, maxLength: 10 },
  ),
})

type Storm = typeof arbStorm extends fc.Arbitrary<infer T> ? T : never

// Spread is a preference, not a rule: a meshlet already running a replica bids again in a round
// that follows a short one or replaces a declined win, ranked after every other bidder. So a burst cannot pack into a dead
// end (the one meshlet with room already runs the workload that still needs a replica): every
// burst whose replicas fit into the offers settles.
function fitsAll(storm: Storm): boolean {
  const slots = storm.peers.map((p) => p.slots)
  const wanted = storm.workloads.reduce((a, w) => a + Math.min(w.replicas, slots.length), 0)
  return slots.reduce((a, b) => a + b, 0) >= wanted
}

function simulate(storm: Storm, tag = 'storm', limit = LIMIT) {
  const peers: Peer[] = storm.peers.map((p, i) => ({
    meshlet: MESHLETS[i]![0],
    owner: MESHLETS[i]![1],
    slots: p.slots,
    priority: p.priority,
    local: [],
    seq: 0,
  }))
  const workloads: WorkloadView[] = storm.workloads.map((w, i) =>
    workload({
      rkey: `3l${tag}${String(i).padStart(6, '0')}`,
      owner: ALICE,
      replicas: Math.min(w.replicas, peers.length),
      createdAt: T0 + w.at,
      resources: { cpuMillis: CPU, memoryMiB: 64 },
    }),
  )
  const bids = new Map<string, BidView>()
  const statuses = new Map<string, StatusView>()
  const presence = new Map<string, PresenceView>()
  let declines = 0
  let maxHeld = 0
  const publish = (
    p: Peer,
    w: { uri: string; cid: string },
    round: number,
    state: string,
    now: number,
  ) => {
    const record = {
      $type: NSID.workloadStatus,
      workload: { uri: w.uri, cid: w.cid },
      round,
      state,
      updatedAt: iso(now),
    } as WorkloadStatusRecord
    const uri = statusUri(p.meshlet, w.uri, round, w.cid)
    statuses.set(uri, {
      uri,
      cid: `bafys-${p.meshlet}-${round}-${now}`,
      meshlet: p.meshlet,
      record,
    })
  }

  const settled = (now: number) =>
    workloads.every((w) => {
      const h = roundHistory(
        w,
        [...statuses.values()],
        { bids: [...bids.values()], cluster: cluster() },
        now,
        DEFAULT_CONFIG,
        presence,
      )
      const alive = h.placements.filter((x) => x.fate.kind === 'alive' && now >= x.decideAt)
      const running = alive.filter((x) =>
        peers.some(
          (p) =>
            p.meshlet === x.meshlet &&
            p.local.some((r) => r.workloadUri === w.uri && r.round === x.round),
        ),
      )
      return running.length === w.record.replicas
    })

  for (let t = 0, tick = 0; t <= limit; t += STEP, tick += 1) {
    const now = T0 + t
    const seen = workloads.filter((w) => Date.parse(w.record.createdAt) <= now)
    // A different planning order every tick: who acts first must not matter.
    const order = peers.map((_, i) => peers[(i + tick) % peers.length]!)
    for (const p of order) {
      const result = plan({
        self: self({
          meshlet: p.meshlet,
          owner: p.owner,
          offer: { cpuMillis: p.slots * CPU, memoryMiB: 65_536, storageMiB: 0 },
          committed: {
            cpuMillis: p.local.length * CPU,
            memoryMiB: p.local.length * 64,
            storageMiB: 0,
          },
        }),
        workloads: seen,
        deleted: [],
        bids: [...bids.values()],
        statuses: [...statuses.values()],
        presence: [...presence.values()],
        running: p.local,
        cluster: cluster(),
        now,
        config: DEFAULT_CONFIG,
        priorityOf: () => p.priority,
      })
      for (const action of result.actions) {
        if (action.type === 'bid') {
          const view = bid(p.meshlet, action.workload, {
            round: action.round,
            priority: action.priority,
            createdAt: now,
            cid: `bafyb-${p.meshlet}-${action.round}-${now}`,
          })
          bids.set(bidUri(p.meshlet, action.workload.uri, action.round, action.workload.cid), view)
        } else if (action.type === 'decline') {
          declines += 1
          publish(p, action.workload, action.round, 'declined', now)
        } else if (action.type === 'start') {
          p.local.push({
            workloadUri: action.workload.uri,
            cid: action.workload.cid,
            round: action.round,
            state: 'running',
          })
          publish(p, action.workload, action.round, 'running', now)
        } else {
          p.local = p.local.filter(
            (r) =>
              !(
                r.workloadUri === action.workloadUri &&
                r.cid === action.cid &&
                r.round === action.round
              ),
          )
          if (action.status)
            publish(
              p,
              { uri: action.workloadUri, cid: action.cid },
              action.round,
              action.status,
              now,
            )
        }
      }
      // Running guests never exceed the offer, at every step of every meshlet.
      expect(p.local.length).toBeLessThanOrEqual(p.slots)
      maxHeld = Math.max(maxHeld, p.local.length - p.slots)
    }
    if (tick % 40 === 0) {
      for (const p of peers) {
        const record = {
          $type: NSID.presence,
          state: 'lending',
          replicas: p.local.map((r) => ({
            workload: { uri: r.workloadUri, cid: r.cid },
            round: r.round,
          })),
          seq: (p.seq += 1),
          updatedAt: iso(now),
        } as PresenceRecord
        const uri = `at://${p.meshlet}/${NSID.presence}/self`
        presence.set(p.meshlet, {
          uri,
          cid: `bafyp-${p.meshlet}-${now}`,
          meshlet: p.meshlet,
          record,
        })
      }
    }
    if (t > 2000 && tick % 4 === 0 && settled(now)) return { settledAt: t, declines, peers }
  }
  return { settledAt: undefined, declines, peers }
}

const RUNS = Number(process.env.STORM_RUNS ?? 0)

describe('a storm of workloads (properties)', () => {
  it('no meshlet ever runs more than its offer, and every burst that fits settles', () => {
    fc.assert(
      fc.property(arbStorm, (storm) => {
        const { settledAt } = simulate(storm, 'storm', fitsAll(storm) ? LIMIT : 30 * SEC)
        if (fitsAll(storm)) expect(settledAt).toBeDefined()
      }),
      { numRuns: RUNS || 20 },
    )
  })

  it('ten workloads of 2 replicas on three meshlets of 8 slots all settle within 30 s and spread', () => {
    // The storm: 20 replicas into 24 slots within 2 s, for many sets of workload names
    // (the spread key, and so who wins what, depends on them). A fixed seed: the same storms
    // every run (STORM_RUNS=n runs more). Seed 9 used to hold one that packed into a dead end:
    // two meshlets full with the same eight workloads, the two others short of a replica, and
    // the third meshlet, with room, already running them.
    let runs = 0
    let stacked = 0
    const settleTimes: number[] = []
    fc.assert(
      fc.property(
        fc.stringMatching(/^[a-z2-7]{4}$/),
        fc.array(fc.integer({ min: 0, max: 2000 }), { minLength: 10, maxLength: 10 }),
        (tag, times) => {
          runs += 1
          const storm: Storm = {
            peers: [0, 1, 2].map(() => ({ slots: 8, priority: 0 })),
            workloads: times.map((at) => ({ replicas: 2, at })),
          }
          const { settledAt, peers } = simulate(storm, tag, 40 * SEC)
          expect(settledAt).toBeDefined()
          settleTimes.push(settledAt!)
          expect(settledAt).toBeLessThanOrEqual(30 * SEC)
          // Spread: every meshlet hosts some of the burst, and both replicas of a workload share
          // a meshlet only where the others had no room left.
          for (const p of peers) expect(p.local.length).toBeGreaterThan(0)
          expect(peers.reduce((n, p) => n + p.local.length, 0)).toBe(20)
          for (const p of peers) {
            const uris = p.local.map((r) => r.workloadUri)
            const doubled = uris.filter((u, i) => uris.indexOf(u) !== i)
            if (doubled.length === 0) continue
            stacked += 1
            for (const uri of doubled) {
              for (const q of peers) {
                if (q === p || q.local.some((r) => r.workloadUri === uri)) continue
                expect(q.local.length).toBe(q.slots)
              }
            }
          }
        },
      ),
      { numRuns: RUNS || 60, seed: 9 },
    )
    settleTimes.sort((a, b) => a - b)
    console.log(
      `simulated storm: ${settleTimes.length}/${runs} settled, median ${settleTimes[settleTimes.length >> 1]! / SEC} s, ` +
        `max ${settleTimes[settleTimes.length - 1]! / SEC} s; ${stacked} with two replicas of a workload on one meshlet`,
    )
  })

  it("a burst larger than one meshlet's wins is settled through declines", () => {
    // Two meshlets of 3 slots, six single-replica workloads at once: each bids on 6 slots' worth,
    // the higher priority wins all it bids on and must decline the excess.
    const storm: Storm = {
      peers: [
        { slots: 3, priority: 2 },
        { slots: 3, priority: 0 },
      ],
      workloads: Array.from({ length: 6 }, () => ({ replicas: 1, at: 0 })),
    }
    const { settledAt, declines, peers } = simulate(storm)
    expect(declines).toBeGreaterThan(0)
    expect(settledAt).toBeDefined()
    expect(peers.map((p) => p.local.length)).toEqual([3, 3])
  })
})
