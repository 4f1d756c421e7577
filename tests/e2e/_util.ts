// What the end-to-end tests look at: the containers of a workload in the real Docker engine,
// and the status records meshlets published for it.
import Docker from 'dockerode'
import { NSID } from '../../core/lexicon/index.js'
import { bidRkey } from '../../core/scheduling/index.js'
import { LABEL_MESHLET, LABEL_WORKLOAD, Runtime } from '../../core/runtime/index.js'
import { jsonLogger } from '../../core/log.js'
import { Meshlet, type MeshletOptions } from '../../core/meshlet.js'
import type { SourceConfig, SourceKind } from '../../core/sync/index.js'
import { startTestJetstream, type TestJetstream } from '../support/jetstream-server.js'
import { localIdentity, type Member, type Network } from '../_util.js'

export const docker = new Docker()

/** The containers of a workload: running ones, or with `all` also stopped ones. */
export function containersOf(workloadUri: string, all = false) {
  return docker.listContainers({ all, filters: { label: [`${LABEL_WORKLOAD}=${workloadUri}`] } })
}

/** Removes every container of these meshlets (Docker ANDs label filters, so pick here). */
export async function removeContainersOf(meshletDids: string[]): Promise<void> {
  const list = await docker.listContainers({ all: true, filters: { label: [LABEL_MESHLET] } })
  for (const c of list) {
    if (meshletDids.includes(c.Labels[LABEL_MESHLET] ?? '')) {
      await docker.getContainer(c.Id).remove({ force: true })
    }
  }
}

export interface PublishedStatus {
  meshlet: string
  state: string
  exitCode?: number
  message?: string
}

/** The status records the members' meshlets published for a workload, read from the PDS. */
export async function statusesOf(
  reader: Member,
  members: Member[],
  workloadUri: string,
): Promise<PublishedStatus[]> {
  const out: PublishedStatus[] = []
  for (const m of members) {
    const res = await reader.owner.session.agent.com.atproto.repo.listRecords({
      repo: m.meshlet.did,
      collection: NSID.workloadStatus,
    })
    for (const r of res.data.records) {
      const v = r.value as { workload: { uri: string } } & Omit<PublishedStatus, 'meshlet'>
      if (v.workload.uri !== workloadUri) continue
      out.push({
        meshlet: m.meshlet.did,
        state: v.state,
        ...(v.exitCode !== undefined ? { exitCode: v.exitCode } : {}),
        ...(v.message !== undefined ? { message: v.message } : {}),
      })
    }
  }
  return out
}

let source: SourceKind = 'relay'
const jetstreams = new WeakMap<Network, TestJetstream>()

/** The event source the meshlets of this test file read from (a sibling file runs the same
 *  suite on another source). */
export function useSource(kind: SourceKind): void {
  source = kind
}

/** Starts what the chosen source needs beside the network: for `jetstream`, a
 *  Jetstream-protocol server over the network's PDS, closed with the network. */
export async function prepareSource(net: Network): Promise<void> {
  if (source !== 'jetstream' || jetstreams.has(net)) return
  const js = await startTestJetstream({ service: net.pds.url, plcUrl: net.plc.url })
  jetstreams.set(net, js)
  const close = net.close.bind(net)
  net.close = async () => {
    await js.close()
    await close()
  }
}

/** The chosen source, for a meshlet this test builds itself. */
export function sourceConfig(net: Network): SourceConfig {
  if (source === 'pds') return { kind: 'pds' }
  if (source === 'jetstream') {
    const js = jetstreams.get(net)
    if (!js) throw new Error('prepareSource(net) first: the jetstream source needs its server')
    return { kind: 'jetstream', urls: [js.url], backoffMs: 100 }
  }
  return { kind: 'relay', url: net.pds.url }
}

/** The chosen source as `meshlet run` flags, for a daemon run as a process (tests/support/
 *  daemon.ts names the PDS as its --firehose, which means the relay when nothing else is said). */
export function sourceArgs(net: Network): string[] {
  const config = sourceConfig(net)
  if (config.kind === 'jetstream')
    return ['--source', 'jetstream', '--jetstream', config.urls.join(',')]
  return ['--source', config.kind]
}

/** A member's meshlet in this process on the local network, running guests in the real Docker
 *  engine, with a short grace. MESHLET_TEST_LOG=1 prints its decisions, for debugging. */
export function dockerMeshlet(
  net: Network,
  m: Member,
  members: Member[],
  extra: Partial<MeshletOptions> = {},
): Meshlet {
  return new Meshlet({
    did: m.meshlet.did,
    owner: m.owner.did,
    members: members.map((o) => o.owner.did),
    identity: localIdentity(net),
    writer: m.meshlet.session,
    firehose: net.pds.url,
    source: sourceConfig(net),
    offer: { cpuMillis: 1000, memoryMiB: 256 },
    runtime: new Runtime({ meshletDid: m.meshlet.did }),
    ...(process.env.MESHLET_TEST_LOG
      ? { log: jsonLogger((l) => process.stderr.write(l + '\n'), { base: { name: m.name } }) }
      : {}),
    ...extra,
    config: { graceMs: 500, ...extra.config },
  })
}

/**
 * A finished job in the past, as records: `owner` published it (1 core, 1 GiB, one replica)
 * `ago` ms before now, and `host`'s meshlet bid in its round 0 and ran it to the end for
 * `minutes`. The owner owes the commune that much; returns the job's record and its version.
 */
export async function pastRun(
  owner: Member,
  host: Member,
  opts: { ago: number; minutes: number; image: string; extra?: Record<string, unknown> },
): Promise<{ uri: string; cid: string; record: Record<string, unknown> }> {
  const created = Date.now() - opts.ago
  const iso = (t: number) => new Date(t).toISOString()
  const big = { cpuMillis: 1000, memoryMiB: 1024 }
  const record = {
    $type: NSID.workload,
    image: opts.image,
    command: ['true'],
    resources: big,
    replicas: 1,
    createdAt: iso(created),
    ...opts.extra,
  }
  const job = await owner.owner.session.create(NSID.workload, record)
  const ref = { uri: job.uri, cid: job.cid }
  const rkey = bidRkey(job.uri, 0, job.cid)
  await host.meshlet.session.put(NSID.bid, rkey, {
    workload: ref,
    round: 0,
    priority: 0,
    offer: big,
    createdAt: iso(created + 1000),
  })
  await host.meshlet.session.put(NSID.workloadStatus, rkey, {
    workload: ref,
    round: 0,
    state: 'exited',
    exitCode: 0,
    resources: big,
    usage: { wallMs: opts.minutes * 60_000 },
    startedAt: iso(created + 10_000),
    updatedAt: iso(created + opts.minutes * 60_000),
  })
  return { uri: job.uri, cid: job.cid, record }
}
