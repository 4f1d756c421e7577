// Reading a child that reports as JSON lines, for tests that drive one (the portmap client and
// the API behind a router, run inside a RouterLab's namespaces).
import type { ChildProcess } from 'node:child_process'
import { expect } from 'vitest'

export type Line = Record<string, unknown> & { event?: string }

/** A child process that prints JSON lines (tests/support/portmap-client.ts,
 *  api-behind-router.ts), and what it printed: each line parsed, anything else kept with stderr
 *  for the failure message. */
export class JsonLinesChild {
  readonly lines: Line[] = []
  stderr = ''
  readonly exited: Promise<number | null>
  constructor(readonly child: ChildProcess) {
    let buf = ''
    child.stdout!.on('data', (d: Buffer) => {
      buf += d.toString()
      let i
      while ((i = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, i)
        buf = buf.slice(i + 1)
        try {
          this.lines.push(JSON.parse(line) as Line)
        } catch {
          this.stderr += line + '\n'
        }
      }
    })
    child.stderr!.on('data', (d: Buffer) => (this.stderr += d.toString()))
    this.exited = new Promise((resolve) => child.once('exit', (code) => resolve(code)))
  }

  events(name: string): Line[] {
    return this.lines.filter((l) => l.event === name)
  }

  async next(name: string, after = 0): Promise<Line> {
    await expect
      .poll(() => this.events(name).length, { timeout: 30_000, message: this.stderr })
      .toBeGreaterThan(after)
    return this.events(name)[after]!
  }

  get alive(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null
  }

  send(cmd: string): void {
    this.child.stdin!.write(cmd + '\n')
  }
}
