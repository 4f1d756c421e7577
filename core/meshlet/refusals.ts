// The lender's refusals: workload versions whose guest the lender (or, over XRPC, its owner)
// stopped here. This meshlet never bids on such a version again — peers place it elsewhere — and
// the refusals outlive a restart, kept beside the cursor.
import { readFile } from 'node:fs/promises'
import { writeFileAtomic } from '../files.js'

export class Refusals {
  /** `uri|cid` of each refused version. */
  private readonly keys = new Set<string>()

  constructor(
    private readonly opts: {
      /** Where they rest; absent: memory only (a meshlet without a data directory). */
      file?: string
      /** A file that cannot be read or written: reported, never a reason not to start. */
      onError: (err: Error) => void
    },
  ) {}

  /** Reads the kept refusals; a missing file is none, a damaged one is reported. */
  async load(): Promise<void> {
    const file = this.opts.file
    if (!file) return
    try {
      const list = JSON.parse(await readFile(file, 'utf8')) as unknown
      if (Array.isArray(list)) for (const k of list) if (typeof k === 'string') this.keys.add(k)
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') this.opts.onError(err as Error)
    }
  }

  has(workloadUri: string, cid: string): boolean {
    return this.keys.has(`${workloadUri}|${cid}`)
  }

  /** Refuses a version from now on, and keeps that. */
  async add(workloadUri: string, cid: string): Promise<void> {
    this.keys.add(`${workloadUri}|${cid}`)
    const file = this.opts.file
    if (!file) return
    try {
      await writeFileAtomic(file, JSON.stringify([...this.keys]))
    } catch (err) {
      this.opts.onError(err as Error)
    }
  }
}
