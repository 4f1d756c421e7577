// `npm run bench` (part): write points per day of one meshlet running 1, 10, 20 and 50 replicas,
// against the account's daily budget (bsky.social: 35,000 points). The real presence loop and
// the real budgeted writer run on a clock sped up 1000× (the 20 s interval takes 20 ms) over a
// writer that counts; the baseline, measured the same way in the same process, is the old
// scheme: every running replica rewrote its status every 30 s. A second table sets the reachable
// mode (liveness by challenge, core/liveness: presence every 5 min, peers probe off the repo)
// beside the interval mode, both measured in this run.
import { DEFAULT_CONFIG, type Liveness } from '../core/scheduling/index.js'
import { PresencePublisher, type VouchedReplica } from '../core/presence/index.js'
import { BudgetedWriter, DEFAULT_BUDGET } from '../core/repo/budget.js'
import type { RepoWriter } from '../core/repo/writer.js'

const SPEED = 1000
const RUN_MS = Number(process.env.BENCH_WRITES_MS ?? 3000)
const DAY_MS = 86_400_000
const OLD_HEARTBEAT_MS = 30_000
// Per placement over its life: bid, starting, running, ending (puts), then clean-up deletes the
// bid and the status after the retention period.
const PLACEMENT_POINTS = 4 * DEFAULT_BUDGET.costs.update + 2 * DEFAULT_BUDGET.costs.delete
// On the owner's side, per round that placed someone: one settlement (core/settlement), put once
// and deleted with its workload version. Paid by a meshlet of the workload's owner, not the host.
const SETTLEMENT_POINTS = DEFAULT_BUDGET.costs.update + DEFAULT_BUDGET.costs.delete

// The clock is sped up but the writer's hour and day are real ones: measure demand, unthrottled.
const UNLIMITED = { budget: { hourPoints: 1e12, dayPoints: 1e12 } }

function countingWriter(): RepoWriter & { writes: number } {
  const w = {
    did: 'did:plc:bench',
    writes: 0,
    put: async () => {
      w.writes++
      return { uri: 'at://did:plc:bench/x/y', cid: 'bafy' }
    },
    create: async () => {
      w.writes++
      return { uri: 'at://did:plc:bench/x/y', cid: 'bafy' }
    },
    delete: async () => {
      w.writes++
    },
  }
  return w
}

const replicasOf = (n: number): VouchedReplica[] =>
  Array.from({ length: n }, (_, i) => ({
    workload: { uri: `at://did:plc:owner/commune.scheduler.workload/w${i}`, cid: 'bafy' },
    round: 0,
  }))

async function presenceScheme(n: number, liveness: Liveness = 'interval') {
  const inner = countingWriter()
  const writer = new BudgetedWriter(inner, UNLIMITED)
  const start = Date.now()
  const publisher = new PresencePublisher({
    intervalMs: DEFAULT_CONFIG.heartbeatMs / SPEED,
    challengeIntervalMs: DEFAULT_CONFIG.challengeHeartbeatMs / SPEED,
    replicas: async () => replicasOf(n),
    state: () => 'lending',
    publish: async (r) => void (await writer.put('commune.scheduler.presence', 'self', { ...r })),
    onError: (e) => console.error(e),
  })
  publisher.start()
  await publisher.setLiveness(liveness)
  await new Promise((r) => setTimeout(r, RUN_MS))
  await publisher.stop()
  const simulated = (Date.now() - start) * SPEED
  writer.close()
  return { writes: writer.state.writes.heartbeat, points: writer.state.points.heartbeat, simulated }
}

async function oldScheme(n: number) {
  const inner = countingWriter()
  const writer = new BudgetedWriter(inner, UNLIMITED)
  const start = Date.now()
  const timer = setInterval(() => {
    for (let i = 0; i < n; i++) {
      writer
        .put('commune.scheduler.workloadStatus', `s${i}`, { state: 'running' })
        .catch(() => undefined)
    }
  }, OLD_HEARTBEAT_MS / SPEED)
  await new Promise((r) => setTimeout(r, RUN_MS))
  clearInterval(timer)
  const simulated = (Date.now() - start) * SPEED
  writer.close()
  return { writes: writer.state.writes.control, points: writer.state.points.control, simulated }
}

const perDay = (x: number, simulated: number) => (x * DAY_MS) / simulated
const pct = (points: number) => `${((100 * points) / DEFAULT_BUDGET.dayPoints).toFixed(1)} %`

async function main(): Promise<void> {
  console.log(
    `\nWrite budget: points per day of one meshlet (budget ${DEFAULT_BUDGET.dayPoints}/day), interval mode (a meshlet that serves no API, or that some peer cannot reach): presence every ${DEFAULT_CONFIG.heartbeatMs / 1000} s, lostAfter ${DEFAULT_CONFIG.lostAfterMs / 1000} s`,
  )
  console.log(
    'replicas | presence writes/day | presence pts/day | + one placement each/day | share of budget | old scheme pts/day (share) | ratio',
  )
  for (const n of [1, 10, 20, 50]) {
    const now = await presenceScheme(n)
    const old = await oldScheme(n)
    const writes = perDay(now.writes, now.simulated)
    const points = perDay(now.points, now.simulated)
    const total = points + n * PLACEMENT_POINTS
    const oldPoints = perDay(old.points, old.simulated)
    console.log(
      `${String(n).padStart(8)} | ${writes.toFixed(0).padStart(19)} | ${points.toFixed(0).padStart(16)} | ${total.toFixed(0).padStart(24)} | ${pct(total).padStart(15)} | ${`${oldPoints.toFixed(0)} (${pct(oldPoints)})`.padStart(26)} | ${(oldPoints / total).toFixed(2)}`,
    )
  }
  console.log(
    `\nSettlements: points per day of an owner's meshlet attesting its workloads' placed rounds (${SETTLEMENT_POINTS} points each: a put, and its deletion with the workload version)`,
  )
  console.log('placed rounds/day | points/day | share of budget')
  for (const n of [10, 100, 1000]) {
    const points = n * SETTLEMENT_POINTS
    console.log(
      `${String(n).padStart(17)} | ${String(points).padStart(10)} | ${pct(points).padStart(15)}`,
    )
  }

  const c = DEFAULT_CONFIG
  // A false alarm: the challenger's put and its later delete, and the host's answer.
  const alarm = DEFAULT_BUDGET.costs.update + DEFAULT_BUDGET.costs.delete
  console.log(
    `\nReachable mode (the default: a meshlet serves its API unless told not to, and its peers can reach it): presence every ${c.challengeHeartbeatMs / 1000} s (stale after ${c.challengeLostAfterMs / 1000} s); ` +
      `peers ping every 2 s (no writes) and challenge after 10 s of silence; lost ${c.challengeAnswerMs / 1000} s after an ` +
      `unanswered challenge. A false alarm costs the challenger ${alarm} points and the host ${DEFAULT_BUDGET.costs.update}; ` +
      `a member can force at most one answer per ${c.heartbeatMs / 1000} s (${((2 * DAY_MS) / c.heartbeatMs).toFixed(0)} points a day, the interval mode's cost).`,
  )
  console.log(
    'replicas | interval mode pts/day incl. placements (share) | reachable mode pts/day incl. placements (share) | interval / reachable',
  )
  for (const n of [1, 10, 20, 50]) {
    const interval = await presenceScheme(n, 'interval')
    const reachable = await presenceScheme(n, 'challenge')
    const a = perDay(interval.points, interval.simulated) + n * PLACEMENT_POINTS
    const b = perDay(reachable.points, reachable.simulated) + n * PLACEMENT_POINTS
    console.log(
      `${String(n).padStart(8)} | ${`${a.toFixed(0)} (${pct(a)})`.padStart(46)} | ${`${b.toFixed(0)} (${pct(b)})`.padStart(47)} | ${(a / b).toFixed(1)}`,
    )
  }
}

await main()
