// What every chaos scenario stands on: a commune of members whose meshlets run as real `meshlet
// run` processes (default timings) against the shared PDS, their guests in the real Docker
// engine, and what the scenarios measure with: the guests each meshlet runs, read from Docker.
import { readdirSync, readFileSync } from 'node:fs'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { NSID } from '../../core/lexicon/index.js'
import { LABEL_MESHLET, LABEL_WORKLOAD } from '../../core/runtime/index.js'
import { docker, removeContainersOf } from '../e2e/_util.js'
import { TEST_IMAGE } from '../infra.js'
import { Daemon } from '../support/daemon.js'
import { createMember, eventually, link, type Member, type Network } from '../_util.js'

/** A guest container a meshlet holds: anything but exited or dead counts against its offer. */
export interface Guest {
  id: string
  meshlet: string
  workload: string
  state: string
}

const HELD = new Set(['created', 'running', 'restarting', 'paused'])

/** Every guest these meshlets hold now (Docker ANDs label filters, so pick here). */
export async function guestsOf(meshletDids: string[]): Promise<Guest[]> {
  const list = await docker.listContainers({ all: true, filters: { label: [LABEL_MESHLET] } })
  return list
    .filter((c) => meshletDids.includes(c.Labels[LABEL_MESHLET] ?? '') && HELD.has(c.State))
    .map((c) => ({
      id: c.Id,
      meshlet: c.Labels[LABEL_MESHLET]!,
      workload: c.Labels[LABEL_WORKLOAD] ?? '',
      state: c.State,
    }))
}

export const seconds = (fromMs: number, toMs = performance.now()) => (toMs - fromMs) / 1000

/** One line a lead can quote: `chaos <scenario>: <figures>`. */
export function report(scenario: string, figures: string): void {
  console.log(`chaos ${scenario}: ${figures}`)
}

export interface CommuneOptions {
  /** Extra `meshlet run` flags for every daemon (an offer, say), or for daemon i. */
  args?: string[] | ((i: number) => string[])
  /** The event stream the daemons follow (default the PDS's firehose). */
  firehose?: string
}

/** Members whose meshlets are daemons, each a process on a data directory of its own that a
 *  restart reuses. */
export class Commune {
  readonly daemons: Daemon[] = []
  private constructor(
    readonly net: Network,
    readonly members: Member[],
    private readonly dataDirs: string[],
    private readonly opts: CommuneOptions,
  ) {}

  static async create(
    net: Network,
    name: string,
    size: number,
    opts: CommuneOptions = {},
  ): Promise<Commune> {
    const members: Member[] = []
    const dirs: string[] = []
    for (let i = 0; i < size; i++) {
      const m = await createMember(net, `${name}${i}`)
      await link(m)
      members.push(m)
      dirs.push(await mkdtemp(join(tmpdir(), `meshlet-chaos-${name}-`)))
    }
    return new Commune(net, members, dirs, opts)
  }

  get meshlets(): string[] {
    return this.members.map((m) => m.meshlet.did)
  }

  /** Starts (or starts again, on the same data directory) member i's daemon. */
  start(i: number): Daemon {
    const member = this.members[i]!
    const daemon = new Daemon({
      net: this.net,
      member,
      members: this.members.filter((m) => m !== member),
      dataDir: this.dataDirs[i]!,
      ...(this.opts.firehose ? { firehose: this.opts.firehose } : {}),
      args: typeof this.opts.args === 'function' ? this.opts.args(i) : (this.opts.args ?? []),
    })
    this.daemons[i] = daemon
    return daemon
  }

  /** Starts every daemon (or those of the members named); `settled()` waits for them. */
  startAll(only = this.members.map((_, i) => i)): void {
    for (const i of only) this.start(i)
  }

  /** Waits until each running daemon has started and counts every member in its cluster; says
   *  what each one lacks when it does not happen. */
  async settled(ms = 240_000): Promise<void> {
    const owners = this.members.map((m) => m.owner.did)
    const ready = (d: Daemon) => d.started && owners.every((o) => d.peers().includes(o))
    try {
      await eventually(
        'every daemon started with the whole commune as its cluster',
        () =>
          this.daemons.every((d) => {
            if (!d.alive) throw new Error(`a daemon exited:\n${d.output.slice(-4000)}`)
            return ready(d)
          }),
        ms,
      )
    } catch (err) {
      const state = this.daemons
        .map(
          (d, i) =>
            `daemon ${i}: started ${d.started}, peers ${d.peers().length}/${owners.length}\n` +
            d.output.split('\n').slice(-15).join('\n'),
        )
        .join('\n')
      throw new Error(`${(err as Error).message}\n${state}`, { cause: err })
    }
  }

  /** Whether member i's daemon has saved a stream cursor (it has read a frame of the stream,
   *  so a reconnection resumes where it was). */
  hasCursor(i: number): boolean {
    const dir = this.dataDirs[i]!
    return readdirSync(dir, { recursive: true, encoding: 'utf8' })
      .filter((f) => f.endsWith('cursor.json'))
      .some((f) => Object.keys(JSON.parse(readFileSync(join(dir, f), 'utf8')) as object).length > 0)
  }

  /** The last lines each daemon printed, for a failing scenario's report. */
  tails(lines = 40): string {
    return this.daemons
      .map(
        (d, i) =>
          `--- daemon ${i} (${this.members[i]!.name}):\n${d.output.split('\n').slice(-lines).join('\n')}`,
      )
      .join('\n')
  }

  /** The member whose meshlet has this DID, and its index. */
  indexOf(meshletDid: string): number {
    return this.members.findIndex((m) => m.meshlet.did === meshletDid)
  }

  /** Publishes a workload at the protocol's default timings (no bid window of its own). */
  async publish(by: number, spec: { replicas: number; cpuMillis: number; memoryMiB?: number }) {
    const { uri } = await this.members[by]!.owner.session.create(NSID.workload, {
      image: TEST_IMAGE,
      command: ['sleep', '600'],
      resources: { cpuMillis: spec.cpuMillis, memoryMiB: spec.memoryMiB ?? 32 },
      replicas: spec.replicas,
      createdAt: new Date().toISOString(),
    })
    return uri
  }

  /** The guests of this commune's meshlets now. */
  guests(): Promise<Guest[]> {
    return guestsOf(this.meshlets)
  }

  /** Running guests of one workload. */
  async running(workload: string): Promise<Guest[]> {
    return (await this.guests()).filter((g) => g.workload === workload && g.state === 'running')
  }

  /** Waits until exactly one replica of a workload runs, and returns it. */
  placedOnce(workload: string, ms = 60_000): Promise<Guest> {
    return eventually(
      'the replica running',
      async () => {
        const running = await this.running(workload)
        return running.length === 1 && running[0]
      },
      ms,
    )
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await Promise.all(this.daemons.map((d) => d.kill('SIGKILL')))
    await removeContainersOf(this.meshlets)
    await Promise.all(this.dataDirs.map((d) => rm(d, { recursive: true, force: true })))
  }
}

/** Samples `probe` every `everyMs` until stopped: a background watch over a scenario. */
export class Sampler<T> {
  readonly samples: T[] = []
  private timer?: NodeJS.Timeout
  private busy = false
  errors: unknown[] = []

  constructor(probe: () => T | Promise<T>, everyMs: number) {
    this.timer = setInterval(() => {
      if (this.busy) return
      this.busy = true
      void Promise.resolve()
        .then(probe)
        .then((v) => this.samples.push(v))
        .catch((err: unknown) => this.errors.push(err))
        .finally(() => (this.busy = false))
    }, everyMs)
  }

  stop(): T[] {
    clearInterval(this.timer)
    return this.samples
  }
}
