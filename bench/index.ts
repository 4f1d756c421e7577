// `npm run bench`: how long from a workload record being published to its containers running,
// on a local network (in-process PLC + PDS, three meshlets, the real Docker engine). By design it
// cannot beat the bid window plus grace: every meshlet waits that long before it acts on a
// selection. The baseline, measured in the same process, is starting the same container
// directly through the runtime, with no scheduling at all.
import Docker from 'dockerode'
import { NSID } from '../core/lexicon/index.js'
import { createLocalAccount, localIdentity, startNetwork } from '../scripts/local-network.js'
import { Meshlet } from '../core/meshlet.js'
import { PasswordSession } from '../core/repo/writer.js'
import { LABEL_MESHLET, LABEL_WORKLOAD, Runtime } from '../core/runtime/index.js'
import { DEFAULT_CONFIG } from '../core/scheduling/index.js'

const WORKLOADS = Number(process.env.BENCH_WORKLOADS ?? 20)
const REPLICAS = 2
const BID_WINDOW_MS = Number(process.env.BENCH_BID_WINDOW_MS ?? 2000)
const GRACE_MS = DEFAULT_CONFIG.graceMs
const IMAGE = process.env.BENCH_IMAGE ?? 'commune-test/busybox:1'

function quantile(sorted: number[], q: number): number {
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))
  return sorted[i]!
}

function summary(xs: number[]) {
  const s = [...xs].sort((a, b) => a - b)
  return { median: quantile(s, 0.5), p95: quantile(s, 0.95), min: s[0]!, max: s[s.length - 1]! }
}

async function main(): Promise<void> {
  const docker = new Docker()
  const dids: string[] = []
  const net = await startNetwork()
  const meshlets: Meshlet[] = []
  try {
    const identity = localIdentity(net)
    const account = async (handle: string) => (await createLocalAccount(net, handle)).session
    const owners: PasswordSession[] = []
    const meshletSessions: PasswordSession[] = []
    for (const name of ['alice', 'bob', 'carol']) {
      owners.push(await account(`${name}.test`))
      meshletSessions.push(await account(`${name}-mesh.test`))
    }
    const createdAt = new Date().toISOString()
    for (let i = 0; i < 3; i++) {
      const [o, m] = [owners[i]!, meshletSessions[i]!]
      dids.push(m.did)
      await o.put(NSID.meshlet, m.did, { meshlet: m.did, createdAt })
      await m.put(NSID.meshletOwner, 'self', { owner: o.did, createdAt })
    }

    // Baseline: the same container started straight through the runtime.
    const direct = new Runtime({ meshletDid: 'did:plc:benchbaseline' })
    dids.push(direct.meshletDid)
    const baseline: number[] = []
    for (let i = 0; i < WORKLOADS; i++) {
      const t0 = performance.now()
      const r = await direct.start({
        workloadUri: `at://did:plc:benchbaseline/${NSID.workload}/b${i}`,
        cid: 'bafybaseline',
        round: 0,
        image: IMAGE,
        command: ['sleep', '600'],
        resources: { cpuMillis: 10, memoryMiB: 8 },
        network: 'none',
      })
      baseline.push(performance.now() - t0)
      await direct.stop(r.containerId, { timeoutSec: 0 })
    }

    const running = new Map<string, number[]>()
    for (let i = 0; i < 3; i++) {
      const meshlet = new Meshlet({
        did: meshletSessions[i]!.did,
        owner: owners[i]!.did,
        members: owners.filter((_, j) => j !== i).map((o) => o.did),
        identity,
        writer: meshletSessions[i]!,
        firehose: net.pds.url,
        offer: { cpuMillis: 2000, memoryMiB: 2048 },
        runtime: new Runtime({ meshletDid: meshletSessions[i]!.did }),
        config: { graceMs: GRACE_MS },
      })
      meshlet.on('replica', (e) => {
        if (e.state !== 'running') return
        const times = running.get(e.workloadUri) ?? []
        times.push(performance.now())
        running.set(e.workloadUri, times)
      })
      meshlets.push(meshlet)
      await meshlet.start()
    }

    // One workload at a time: the latency of placing a workload, not the backlog of a burst
    // (on two cores, a burst of container starts saturates dockerd and measures that instead).
    const latencies: number[] = []
    for (let i = 0; i < WORKLOADS; i++) {
      const owner = owners[i % 3]!
      const t0 = performance.now()
      const { uri } = await owner.create(NSID.workload, {
        image: IMAGE,
        command: ['sleep', '600'],
        resources: { cpuMillis: 10, memoryMiB: 8 },
        replicas: REPLICAS,
        bidWindowMs: BID_WINDOW_MS,
        createdAt: new Date().toISOString(),
      })
      const deadline = t0 + 120_000
      while ((running.get(uri)?.length ?? 0) < REPLICAS && performance.now() < deadline) {
        await new Promise((r) => setTimeout(r, 20))
      }
      const times = running.get(uri) ?? []
      if (times.length >= REPLICAS) latencies.push(Math.max(...times.slice(0, REPLICAS)) - t0)
      // Clear it away before the next one, so each is placed on an idle commune.
      await owner.delete(NSID.workload, uri.split('/').pop()!)
      const gone = performance.now() + 60_000
      while (performance.now() < gone) {
        const left = await docker.listContainers({
          all: true,
          filters: { label: [`${LABEL_WORKLOAD}=${uri}`] },
        })
        if (left.length === 0) break
        await new Promise((r) => setTimeout(r, 100))
      }
    }
    const floor = BID_WINDOW_MS + GRACE_MS
    const p = summary(latencies)
    const b = summary(baseline)
    const fmt = (n: number) => `${Math.round(n)} ms`
    console.log(`placement latency: workload record published -> ${REPLICAS} containers running`)
    console.log(`  workloads placed        ${latencies.length} of ${WORKLOADS}`)
    console.log(`  median                  ${fmt(p.median)}`)
    console.log(`  p95                     ${fmt(p.p95)}`)
    console.log(`  min / max               ${fmt(p.min)} / ${fmt(p.max)}`)
    console.log(`  floor (bid window ${BID_WINDOW_MS} + grace ${GRACE_MS})  ${fmt(floor)}`)
    console.log(`baseline: direct runtime start of the same container (same process)`)
    console.log(`  median / p95            ${fmt(b.median)} / ${fmt(b.p95)}`)
    console.log(`ratios`)
    console.log(`  median / floor                     ${(p.median / floor).toFixed(2)}`)
    console.log(
      `  median / (floor + baseline median) ${(p.median / (floor + b.median)).toFixed(2)}`,
    )
    console.log(`  overhead above floor + baseline    ${fmt(p.median - floor - b.median)} (median)`)
  } finally {
    for (const m of meshlets) await m.stop()
    for (const c of await docker.listContainers({
      all: true,
      filters: { label: [LABEL_MESHLET] },
    })) {
      if (dids.includes(c.Labels[LABEL_MESHLET] ?? ''))
        await docker.getContainer(c.Id).remove({ force: true })
    }
    await net.close()
  }
}

main().catch((err: unknown) => {
  console.error(err)
  process.exitCode = 1
})
