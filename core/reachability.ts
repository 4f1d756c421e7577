// Whether the event service answers. Asked only after something failed, then again with
// back-off until it answers: a timer that asks every few seconds when all is well costs an idle
// daemon wake-ups and requests for nothing, and the event stream already says when it fails.
// The stream's own reconnects are quiet, so this is what turns "failing" into "offline" with a
// reason, and back.

export type Reachability = { reachable: true } | { reachable: false; detail: string }

export interface ReachabilityOptions {
  /** The event service (ws:, wss:, http: or https:); its /xrpc/_health is asked. */
  url: string
  onChange: (state: Reachability) => void
  /** Delay before the second probe; doubles after each failure (default 2 s). */
  initialMs?: number
  /** Longest delay between probes (default 60 s). */
  maxMs?: number
  /** One probe's time limit (default 3 s). */
  timeoutMs?: number
}

export class ReachabilityProbe {
  private readonly health: URL
  private timer?: NodeJS.Timeout
  private probing = false
  private delay: number
  private closed = false
  private readonly abort = new AbortController()

  constructor(private readonly opts: ReachabilityOptions) {
    const service = new URL(opts.url)
    if (service.protocol === 'ws:') service.protocol = 'http:'
    else if (service.protocol === 'wss:') service.protocol = 'https:'
    this.health = new URL('/xrpc/_health', service)
    this.delay = opts.initialMs ?? 2000
  }

  /** The host probed, for messages. */
  get host(): string {
    return this.health.host
  }

  /** Something failed: probe now (unless a probe is already under way or scheduled), and keep
   *  probing with back-off until the service answers. */
  suspect(): void {
    if (this.closed || this.probing || this.timer) return
    void this.probe()
  }

  close(): void {
    this.closed = true
    clearTimeout(this.timer)
    this.timer = undefined
    this.abort.abort()
  }

  [Symbol.asyncDispose](): Promise<void> {
    this.close()
    return Promise.resolve()
  }

  private async probe(): Promise<void> {
    this.probing = true
    let state: Reachability
    try {
      const res = await fetch(this.health, {
        signal: AbortSignal.any([
          this.abort.signal,
          AbortSignal.timeout(this.opts.timeoutMs ?? 3000),
        ]),
      })
      await res.body?.cancel()
      state = { reachable: true }
    } catch (err) {
      state = { reachable: false, detail: messageOf(err) }
    } finally {
      this.probing = false
    }
    if (this.closed) return
    this.opts.onChange(state)
    if (state.reachable) {
      this.delay = this.opts.initialMs ?? 2000
      return
    }
    this.timer = setTimeout(() => {
      this.timer = undefined
      void this.probe()
    }, this.delay)
    this.delay = Math.min(this.delay * 2, this.opts.maxMs ?? 60_000)
  }
}

// fetch() says only "fetch failed"; the reason (ECONNREFUSED, a timeout) is in its cause.
function messageOf(err: unknown): string {
  const e = err as { message?: string; cause?: { code?: string; message?: string } }
  const cause = e?.cause?.code ?? e?.cause?.message
  const message = e?.message ?? String(err)
  return cause ? `${message} (${cause})` : message
}
