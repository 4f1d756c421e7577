import { readFile } from 'node:fs/promises'
import { writeFileAtomic } from '../files.js'

/** The cursors of the services a meshlet follows (a relay's or a PDS's last seq, Jetstream's
 *  last time_us), keyed by service, in one small JSON file written atomically and at most once
 *  every flushMs: every frame seen moves a cursor, so writes are throttled, not per frame. */
export class CursorStore {
  private readonly saved = new Map<string, number>()
  private readonly pending = new Map<string, number>()
  private timer: NodeJS.Timeout | undefined
  private writing: Promise<void> = Promise.resolve()

  constructor(
    readonly path: string | undefined,
    private readonly onError: (err: Error) => void,
    private readonly flushMs = 1000,
  ) {}

  async load(): Promise<void> {
    if (!this.path) return
    try {
      const data = JSON.parse(await readFile(this.path, 'utf8')) as {
        cursors?: Record<string, unknown>
        service?: unknown
        seq?: unknown
      }
      for (const [k, v] of Object.entries(data.cursors ?? {})) {
        if (typeof v === 'number' && Number.isSafeInteger(v)) this.saved.set(k, v)
      }
      // The earlier one-service format.
      if (typeof data.service === 'string' && typeof data.seq === 'number') {
        this.saved.set(data.service, data.seq)
      }
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return
      throw err
    }
  }

  get(key: string): number | undefined {
    return this.pending.get(key) ?? this.saved.get(key)
  }

  /** Records progress; written at most every flushMs. Never moves a cursor back. */
  advance(key: string, value: number): void {
    const current = this.get(key)
    if (current !== undefined && value <= current) return
    this.pending.set(key, value)
    if (!this.path) return
    this.timer ??= setTimeout(() => {
      this.timer = undefined
      // A failed write loses nothing but replay work; say so and try again on the next advance.
      void this.flush().catch((err: unknown) => this.onError(err as Error))
    }, this.flushMs)
  }

  /** Forgets a cursor (it is too old to use): the next connection starts live. */
  reset(key: string): void {
    this.pending.delete(key)
    this.saved.delete(key)
  }

  /** Writes the latest positions. Writes run one at a time, so a flush at stop never races the
   *  timer's own write for the same temporary file. */
  flush(): Promise<void> {
    if (this.timer) clearTimeout(this.timer)
    this.timer = undefined
    const next = this.writing.then(() => this.write())
    this.writing = next.catch(() => undefined)
    return next
  }

  private async write(): Promise<void> {
    if (!this.path || this.pending.size === 0) return
    const all = new Map([...this.saved, ...this.pending])
    const written = new Map(this.pending)
    await writeFileAtomic(this.path, JSON.stringify({ cursors: Object.fromEntries(all) }))
    for (const [k, v] of written) {
      this.saved.set(k, v)
      if (this.pending.get(k) === v) this.pending.delete(k)
    }
  }
}
