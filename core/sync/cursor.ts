import { readFile } from 'node:fs/promises'
import { writeFileAtomic } from '../files.js'

/** The firehose cursor (last processed seq) of one service, kept in a small JSON file written
 *  atomically so a crash never leaves a torn cursor. */
export class CursorFile {
  private saved: number | undefined
  private pending: number | undefined
  private timer: NodeJS.Timeout | undefined
  private writing: Promise<void> = Promise.resolve()

  constructor(
    readonly path: string,
    readonly service: string,
    private readonly onError: (err: Error) => void,
    private readonly flushMs = 1000,
  ) {}

  async load(): Promise<number | undefined> {
    try {
      const data = JSON.parse(await readFile(this.path, 'utf8')) as {
        service?: unknown
        seq?: unknown
      }
      // A cursor belongs to one service; another relay's sequence numbers mean nothing here.
      if (data.service !== this.service || typeof data.seq !== 'number') return undefined
      this.saved = data.seq
      return data.seq
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined
      throw err
    }
  }

  get current(): number | undefined {
    return this.pending ?? this.saved
  }

  /** Records progress; written at most every flushMs. */
  advance(seq: number): void {
    if (this.current !== undefined && seq <= this.current) return
    this.pending = seq
    this.timer ??= setTimeout(() => {
      this.timer = undefined
      // A failed write loses nothing but replay work; say so and try again on the next advance.
      void this.flush().catch((err: unknown) => this.onError(err as Error))
    }, this.flushMs)
  }

  /** Writes the latest position. Writes run one at a time, so a flush at stop never races the
   *  timer's own write for the same temporary file. */
  flush(): Promise<void> {
    if (this.timer) clearTimeout(this.timer)
    this.timer = undefined
    const next = this.writing.then(() => this.write())
    this.writing = next.catch(() => undefined)
    return next
  }

  private async write(): Promise<void> {
    const seq = this.pending
    if (seq === undefined || seq === this.saved) return
    await writeFileAtomic(this.path, JSON.stringify({ service: this.service, seq }))
    this.saved = seq
    if (this.pending === seq) this.pending = undefined
  }
}
