// The real `meshlet run` daemon as a child process, for tests that kill, stop and restart it.
import { spawn, type ChildProcess } from 'node:child_process'
import { readFileSync } from 'node:fs'
import type { Member, Network } from '../_util.js'

const BIN = new URL('../../bin/meshlet.js', import.meta.url).pathname

export interface DaemonOptions {
  net: Network
  member: Member
  members: Member[]
  dataDir: string
  /** Where the event stream comes from (default the PDS). */
  firehose?: string
  args?: string[]
}

/** A running daemon: its process and everything it printed, as JSON log lines parsed. */
export class Daemon {
  readonly child: ChildProcess
  output = ''
  readonly exited: Promise<number | null>

  constructor(opts: DaemonOptions) {
    const { net, member } = opts
    this.child = spawn(
      process.execPath,
      [
        BIN,
        'run',
        '--did',
        member.meshlet.did,
        '--owner',
        member.owner.did,
        '--cluster-members',
        opts.members.map((m) => m.owner.did).join(','),
        '--plc',
        net.plc.url,
        '--handle-resolver',
        net.pds.url,
        '--firehose',
        opts.firehose ?? net.pds.url,
        '--data-dir',
        opts.dataDir,
        ...(opts.args ?? []),
      ],
      { env: { ...process.env, MESHLET_PASSWORD: member.meshlet.password } },
    )
    this.child.stdout!.on('data', (d: Buffer) => (this.output += d.toString()))
    this.child.stderr!.on('data', (d: Buffer) => (this.output += d.toString()))
    this.exited = new Promise((resolve) => this.child.once('exit', (code) => resolve(code)))
  }

  /** Log lines with this event name. */
  events(name: string): Record<string, unknown>[] {
    return this.output
      .split('\n')
      .filter((l) => l.includes(`"event":"${name}"`))
      .map((l) => JSON.parse(l) as Record<string, unknown>)
  }

  get started(): boolean {
    return this.output.includes('"event":"started"')
  }

  /** Still running (not exited, not killed). */
  get alive(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null
  }

  /** The owners in its cluster (itself included), as it last logged it. */
  peers(): string[] {
    return (this.events('cluster').at(-1)?.peers as string[] | undefined) ?? []
  }

  /** Its resident memory now, in MiB, from /proc (Linux); undefined once it has exited. The
   *  process is `node bin/meshlet.js` itself (it compiles TypeScript in-process), so this is
   *  all of it. */
  rssMiB(): number | undefined {
    try {
      const status = readFileSync(`/proc/${this.child.pid}/status`, 'utf8')
      const kib = /^VmRSS:\s+(\d+) kB/m.exec(status)?.[1]
      return kib === undefined ? undefined : Number(kib) / 1024
    } catch {
      return undefined
    }
  }

  async kill(signal: NodeJS.Signals): Promise<number | null> {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill(signal)
    return this.exited
  }
}
