// `npm run bench` (issue 9 item 7): do the meshlets agree? A simulated commune of 10, 50, 100 and
// 500 meshlets on an in-memory bus with random delivery delays runs the real scheduling core
// (bench/agreement/sim.ts) in simulated time, and prints, per size and delay: how often views
// disagree at first, how long until they converge, how many replicas ran twice and for how long,
// and how long replicas waited unplaced, beside the floor a zero-delay commune cannot beat
// (window + grace + start). What the numbers mean for the timing defaults: docs/agreement.md.
//
// BENCH_AGREEMENT_SIZES=10,50 and BENCH_AGREEMENT_SEED=7 narrow or vary a run. Owners delete
// workloads as the app does, leaving tombstones; BENCH_AGREEMENT_HARD_DELETE=1 deletes records
// outright instead, as a client that knows no tombstones would.
import { DEFAULT_CONFIG } from '../core/scheduling/index.js'
import { DELAYS, simulate, type SimOptions, type SimResult } from './agreement/sim.js'

const SIZES = (process.env.BENCH_AGREEMENT_SIZES ?? '10,50,100,500').split(',').map(Number)
const SEED = Number(process.env.BENCH_AGREEMENT_SEED ?? 1)
const START_MS = 1500
/** A daemon's plan with Docker's container list takes about this long; records arriving
 *  meanwhile are planned on together. */
const TICK_MS = 100

/**
 * The commune at each size, sized so the whole table takes a minute or so, not hours: every
 * meshlet plans on every record and at every deadline, and a plan judges every bid of every
 * round, so a run costs about meshlets × plans × bids. Every size gets a storm (workloads
 * published within 2 s, as in issue 9) on top of a steady trickle, and one host is killed. From
 * 100 up, only some meshlets lend (a quarter at 100, one in twenty at 500; the others follow
 * every record and decide like everyone, but do not bid): a round with 500 bids, judged by 500
 * meshlets, costs the simulation 500 × what it costs one daemon.
 */
function scenario(meshlets: number): Omit<SimOptions, 'delay' | 'seed'> {
  const base = { meshlets, crashes: 1, startMs: START_MS, tickMs: TICK_MS, durationMs: 2 * 60_000 }
  if (meshlets <= 10) return { ...base, arrivalsPerMinute: 2, burst: { at: 10_000, count: 10 } }
  if (meshlets <= 50) return { ...base, arrivalsPerMinute: 1, burst: { at: 10_000, count: 6 } }
  if (meshlets <= 100) {
    return { ...base, arrivalsPerMinute: 0.5, burst: { at: 10_000, count: 4 }, lending: 0.25 }
  }
  return { ...base, arrivalsPerMinute: 0, burst: { at: 10_000, count: 3 }, lending: 0.05 }
}

function quantile(xs: number[], q: number): number {
  if (xs.length === 0) return Number.NaN
  const s = [...xs].sort((a, b) => a - b)
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil(q * s.length) - 1))]!
}

const sec = (ms: number) =>
  Number.isNaN(ms) ? '–' : ms === Infinity ? 'never' : (ms / 1000).toFixed(1)
const pct = (a: number, b: number) => (b === 0 ? '–' : `${((100 * a) / b).toFixed(1)} %`)

function row(cells: (string | number)[], widths: number[]): string {
  return cells.map((c, i) => String(c).padStart(widths[i]!)).join('  ')
}

function report(results: SimResult[]): void {
  const floor = DEFAULT_CONFIG.defaultBidWindowMs + DEFAULT_CONFIG.graceMs + START_MS
  console.log('\nagreement: simulated meshlets running the real scheduling core (simulated time)')
  console.log(
    `defaults: bid window ${sec(DEFAULT_CONFIG.defaultBidWindowMs)} s, grace ${sec(DEFAULT_CONFIG.graceMs)} s, ` +
      `retry ${sec(DEFAULT_CONFIG.retryMs)} s, presence every ${sec(DEFAULT_CONFIG.heartbeatMs)} s, ` +
      `lost after ${sec(DEFAULT_CONFIG.lostAfterMs)} s; container start ${sec(START_MS)} s; seed ${SEED}`,
  )
  const w1 = [5, 12, 9, 7, 10, 10, 9, 9, 9, 7]
  console.log('\nviews: a round "differs" when some meshlet\'s first decided selection (winners or')
  console.log('window) is not what a view holding every record at once decided; converged = until')
  console.log(
    "every live meshlet held the winners' bids and stopped changing its mind, after decideAt",
  )
  console.log(
    row(
      [
        'mesh',
        'delay',
        'work/reps',
        'rounds',
        'differ',
        'decisions',
        'conv p50',
        'conv p99',
        'conv max',
        'phantom',
      ],
      w1,
    ),
  )
  for (const r of results) {
    const real = r.rounds.filter((x) => !x.phantom)
    const differ = real.filter((x) => x.disagreeing > 0)
    const conv = differ.map((x) => x.convergedAfterMs)
    const decisions = real.reduce((a, x) => a + x.deciders, 0)
    const wrong = real.reduce((a, x) => a + x.disagreeing, 0)
    console.log(
      row(
        [
          r.options.meshlets,
          r.options.delay.name,
          `${r.workloads}/${r.replicas}`,
          real.length,
          pct(differ.length, real.length),
          pct(wrong, decisions),
          sec(quantile(conv, 0.5)),
          sec(quantile(conv, 0.99)),
          sec(quantile(conv, 1)),
          r.rounds.length - real.length,
        ],
        w1,
      ),
    )
  }
  const w2 = [5, 12, 7, 7, 8, 11, 10, 10, 9, 9, 9, 10, 7, 9]
  console.log('\ncost: ran twice = episodes with more replicas of a workload running than it asks')
  console.log(
    'for (longest, and replica-seconds in excess); unplaced = mean seconds a wanted replica',
  )
  console.log(`was not running (floor at zero delay: window + grace + start = ${sec(floor)} s)`)
  console.log(
    row(
      [
        'mesh',
        'delay',
        'starts',
        'yielded',
        'not-sel',
        'ran twice',
        'longest',
        'excess s',
        'unplaced',
        '/ floor',
        'placed p95',
        'replaced',
        'plans',
        'sim CPU s',
      ],
      w2,
    ),
  )
  for (const r of results) {
    const unplaced = r.unplacedMs / r.replicas
    console.log(
      row(
        [
          r.options.meshlets,
          r.options.delay.name,
          r.starts,
          r.yielded,
          r.notSelected,
          r.doubled.length,
          sec(quantile(r.doubled, 1)),
          (r.excessMs / 1000).toFixed(0),
          sec(unplaced),
          (unplaced / floor).toFixed(2),
          sec(quantile(r.placedAfterMs, 0.95)),
          r.replacedAfterMs.length > 0 ? r.replacedAfterMs.map(sec).join(',') : '–',
          r.plans,
          sec(r.cpuMs),
        ],
        w2,
      ),
    )
  }
  const over = results.filter((r) => r.maxOfferUse > 1)
  console.log(
    `\noffer never exceeded by running guests: ${over.length === 0 ? 'yes' : `NO (${over.map((r) => `${r.options.meshlets}/${r.options.delay.name}: ${r.maxOfferUse.toFixed(2)}`).join('; ')})`}`,
  )
  const rewritten = results.flatMap((r) =>
    r.rewritten.map((x) => `${r.options.meshlets}/${r.options.delay.name}: ${x}`),
  )
  console.log(
    `decided rounds rewritten later even in the all-records view: ${rewritten.length}` +
      (rewritten.length > 0 ? ` (first: ${rewritten[0]})` : ''),
  )
}

const results: SimResult[] = []
const t0 = performance.now()
for (const meshlets of SIZES) {
  for (const delay of DELAYS) {
    const r = simulate({ ...scenario(meshlets), delay, seed: SEED })
    process.stderr.write(
      `  ${meshlets} meshlets, ${delay.name}: ${sec(r.wallMs)} s wall, ${sec(r.cpuMs)} s CPU, ${r.plans} plans\n`,
    )
    results.push(r)
  }
}
report(results)
const cpu = results.reduce((a, r) => a + r.cpuMs, 0)
console.log(`\ntotal ${sec(performance.now() - t0)} s of wall time, ${sec(cpu)} s of CPU`)
