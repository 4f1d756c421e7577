// The probe loop: asks each target's farm.meshlet.ping every `everyMs` and remembers when each
// last answered as itself. Costs no write. Errors are silence, never thrown; stop() ends it.
import { clampDelay } from '../clock/index.js'
import { farm } from '../lexicon/index.js'
import { httpFetch } from '../net/fetch.js'

/** Asks `endpoint` who answers there; resolves to its DID, or undefined for anything else. */
export type Ping = (endpoint: string, signal: AbortSignal) => Promise<string | undefined>

/** An answer is `{"meshlet":"did:…"}`: anything longer is not a meshlet's, and is not read. */
const MAX_ANSWER_BYTES = 1024

// Over node:http, like the daemon's other requests (core/net): a meshlet that pings peers every
// 2 s should not load a second HTTP stack for it. Endpoints are members' own machines on a LAN,
// a VPN or a forwarded port, so no address policy applies; a redirect is not followed.
const send = httpFetch({ maxRedirects: 0 })

export const ping: Ping = async (endpoint, signal) => {
  const res = await send(new URL(`/xrpc/${farm.meshlet.ping.$lxm}`, endpoint), {
    signal,
    redirect: 'manual',
  })
  const body = res.ok ? await readUpTo(res, MAX_ANSWER_BYTES) : undefined
  if (body === undefined) {
    if (!res.bodyUsed) await res.body?.cancel().catch(() => undefined)
    return undefined
  }
  try {
    const answer = JSON.parse(body) as { meshlet?: unknown }
    return typeof answer?.meshlet === 'string' ? answer.meshlet : undefined
  } catch {
    return undefined
  }
}

/** The body as text, or undefined once it passes `max` bytes. */
async function readUpTo(res: Response, max: number): Promise<string | undefined> {
  if (!res.body) return ''
  const reader = res.body.getReader()
  const chunks: Uint8Array[] = []
  let size = 0
  for (let part = await reader.read(); !part.done; part = await reader.read()) {
    size += part.value.byteLength
    if (size > max) {
      await reader.cancel().catch(() => undefined)
      return undefined
    }
    chunks.push(part.value)
  }
  return Buffer.concat(chunks).toString('utf8')
}

export interface ProberOptions {
  /** Host DID → its origins (endpoint first, then alternates), read before each round. */
  targets: () => ReadonlyMap<string, readonly string[]>
  /** After each round of probes (the watch decides on challenges then). */
  onRound: () => void
  everyMs: number
  timeoutMs: number
  ping?: Ping
  now?: () => number
}

export class Prober {
  /** Host → when it last answered as itself (first seen counts as an answer). */
  private readonly lastOk = new Map<string, number>()
  /** Host → the origin that answered last: asked alone while it keeps answering. */
  private readonly via = new Map<string, string>()
  private readonly inFlight = new Set<string>()
  private timer?: NodeJS.Timeout
  private running = false
  /** No target: no timer either (idle is idle) until `wake()`. */
  private idle = false
  private round?: Promise<void>
  private readonly abort = new AbortController()
  private readonly now: () => number
  /** Probes sent, for the tests and the bench. */
  probes = 0

  constructor(private readonly opts: ProberOptions) {
    this.now = opts.now ?? Date.now
  }

  start(): void {
    if (this.running) return
    this.running = true
    this.schedule()
  }

  /** Targets may have appeared: probe again if the loop went idle. */
  wake(): void {
    if (!this.running || !this.idle) return
    this.idle = false
    this.schedule()
  }

  async stop(): Promise<void> {
    this.running = false
    clearTimeout(this.timer)
    this.abort.abort()
    await this.round
  }

  /** Since when `host` has not answered (its last answer, or when it became a target);
   *  undefined when it is not probed. */
  silentSince(host: string): number | undefined {
    return this.lastOk.get(host)
  }

  private schedule(): void {
    if (!this.running) return
    if (this.opts.targets().size === 0) {
      this.lastOk.clear()
      this.idle = true
      return
    }
    this.timer = setTimeout(() => {
      this.round = this.probeAll().finally(() => {
        this.round = undefined
        this.schedule()
      })
    }, clampDelay(this.opts.everyMs))
  }

  private async probeAll(): Promise<void> {
    const targets = this.opts.targets()
    for (const host of this.lastOk.keys()) if (!targets.has(host)) this.lastOk.delete(host)
    for (const host of this.via.keys()) if (!targets.has(host)) this.via.delete(host)
    const now = this.now()
    await Promise.all(
      [...targets].map(async ([host, origins]) => {
        if (!this.lastOk.has(host)) this.lastOk.set(host, now)
        // A probe still waiting counts as silence; a second one would only pile up.
        if (this.inFlight.has(host)) return
        this.inFlight.add(host)
        this.probes++
        try {
          const signal = AbortSignal.any([
            this.abort.signal,
            AbortSignal.timeout(this.opts.timeoutMs),
          ])
          // The origin that answered last, alone; after a miss (or at first) all of them at once,
          // within the same deadline: a peer in the host's home may reach only its LAN address.
          const last = this.via.get(host)
          const asked = last !== undefined && origins.includes(last) ? [last] : origins
          const send = this.opts.ping ?? ping
          const answered = await Promise.all(
            asked.map((o) =>
              send(o, signal).then(
                (who) => (who === host ? o : undefined),
                () => undefined,
              ),
            ),
          )
          const origin = answered.find((o) => o !== undefined)
          if (origin === undefined) this.via.delete(host)
          else {
            this.via.set(host, origin)
            if (this.lastOk.has(host)) this.lastOk.set(host, this.now())
          }
        } finally {
          this.inFlight.delete(host)
        }
      }),
    )
    if (this.running) this.opts.onRound()
  }
}
