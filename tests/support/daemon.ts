// The real `meshlet run` daemon as a child process, for tests that kill, stop and restart it.
import { spawn, type ChildProcess } from 'node:child_process'
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

  async kill(signal: NodeJS.Signals): Promise<number | null> {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill(signal)
    return this.exited
  }
}
