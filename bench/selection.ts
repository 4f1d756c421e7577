// Selection and planning over the daemon's own cluster view, as the number of bids grows
// (issue 8 item 6): a commune of OWNERS members whose meshlets all bid for one workload of
// REPLICAS replicas, judged through the real record store and linkage index. Planning must
// scale as a sort; the baseline, measured in the same process, is sorting the same bids by
// rank alone, which no selection can beat.
import { clusterView } from '../core/identity/cluster.js'
import { NSID } from '../core/lexicon/index.js'
import { RecordStore } from '../core/state.js'
import {
  DEFAULT_CONFIG,
  bidUri,
  compareStrings,
  plan,
  select,
  roundOf,
  type BidView,
  type WorkloadView,
} from '../core/scheduling/index.js'
import { medianMs } from './median.js'

const OWNERS = 10
const REPLICAS = 3
const T0 = Date.parse('2026-01-01T00:00:00.000Z')
const SIZES = (process.env.BENCH_BIDS ?? '1000,10000,30000').split(',').map(Number)
const TARGET_10K_MS = 20

interface World {
  store: RecordStore
  workload: WorkloadView
  self: string
  selfOwner: string
}

export function world(n: number): World {
  const store = new RecordStore()
  const owners = Array.from({ length: OWNERS }, (_, i) => `did:plc:owner${i}`)
  const meshlets = Array.from({ length: n }, (_, i) => `did:plc:m${String(i).padStart(6, '0')}`)
  const at = new Date(T0).toISOString()
  const put = (did: string, collection: string, rkey: string, record: unknown, cid = 'bafy') =>
    store.apply({
      event: 'put',
      did,
      collection,
      rkey,
      uri: `at://${did}/${collection}/${rkey}`,
      cid,
      record,
    } as never)
  meshlets.forEach((m, i) => {
    const owner = owners[i % OWNERS]!
    put(owner, NSID.meshlet, m, { meshlet: m, createdAt: at })
    put(m, NSID.meshletOwner, 'self', { owner, createdAt: at })
    put(m, NSID.membership, 'self', { members: owners, createdAt: at })
  })
  const record = {
    $type: NSID.workload,
    image: 'commune-test/busybox:1',
    resources: { cpuMillis: 100, memoryMiB: 64 },
    replicas: REPLICAS,
    createdAt: at,
  }
  put(owners[0]!, NSID.workload, 'w0', record, 'bafyworkload')
  const workload = store.workloads.get(`at://${owners[0]}/${NSID.workload}/w0`)!
  meshlets.forEach((m, i) => {
    const uri = bidUri(m, workload.uri, 0)
    const rkey = uri.slice(uri.lastIndexOf('/') + 1)
    put(
      m,
      NSID.bid,
      rkey,
      {
        $type: NSID.bid,
        workload: { uri: workload.uri, cid: workload.cid },
        round: 0,
        priority: (i * 7919) % 1000,
        offer: record.resources,
        createdAt: new Date(T0 + 1000).toISOString(),
      },
      `bafybid${i}`,
    )
  })
  return { store, workload, self: meshlets[0]!, selfOwner: owners[0]! }
}

export interface SelectionFigure {
  bids: number
  selectMs: number
  planMs: number
  sortMs: number
}

export function benchSelection(sizes = SIZES): SelectionFigure[] {
  const figures: SelectionFigure[] = []
  for (const n of sizes) {
    const { store, workload, self, selfOwner } = world(n)
    const view = clusterView(store.linkage)
    const bids = store.bidsFor(workload.uri)
    const now = T0 + 60_000
    const runs = Number(process.env.BENCH_RUNS ?? (n >= 30_000 ? 5 : n >= 10_000 ? 9 : 21))
    const selectMs = medianMs(runs, () => {
      const info = roundOf(workload, [], undefined, now)
      select(workload, info, bids, view)
    })
    const planMs = medianMs(runs, () =>
      plan({
        self: {
          meshlet: self,
          owner: selfOwner,
          lending: true,
          paused: false,
          arch: 'amd64',
          offer: { cpuMillis: 4000, memoryMiB: 4096 },
          committed: { cpuMillis: 0, memoryMiB: 0 },
          allowEgress: false,
        },
        workloads: [...store.workloads.values()],
        deleted: [],
        bids: store.allBids(),
        statuses: store.allStatuses(),
        running: [],
        cluster: clusterView(store.linkage),
        now,
        config: DEFAULT_CONFIG,
        priorityOf: () => 1,
      }),
    )
    const sortMs = medianMs(runs, () => {
      ;[...bids].sort(
        (a: BidView, b: BidView) =>
          b.record.priority - a.record.priority || compareStrings(a.meshlet, b.meshlet),
      )
    })
    figures.push({ bids: n, selectMs, planMs, sortMs })
  }
  return figures
}

export function printSelection(figures: SelectionFigure[]): void {
  console.log(
    `\nselection over the cluster view (${OWNERS} owners, one workload, ${REPLICAS} replicas)`,
  )
  console.log('    bids   select ms   plan ms   sort-only ms   plan / sort')
  for (const f of figures) {
    console.log(
      `${String(f.bids).padStart(8)} ${f.selectMs.toFixed(2).padStart(11)} ${f.planMs
        .toFixed(2)
        .padStart(
          9,
        )} ${f.sortMs.toFixed(2).padStart(14)} ${(f.planMs / f.sortMs).toFixed(1).padStart(12)}×`,
    )
  }
  const tenK = figures.find((f) => f.bids === 10_000)
  if (tenK) {
    console.log(
      `10,000 bids planned in ${tenK.planMs.toFixed(1)} ms (target ≤ ${TARGET_10K_MS} ms): ${
        tenK.planMs <= TARGET_10K_MS ? 'met' : 'NOT met'
      }`,
    )
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  printSelection(benchSelection())
}
