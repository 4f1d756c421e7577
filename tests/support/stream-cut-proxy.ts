// A TCP proxy on 127.0.0.1 in front of an event stream (a PDS's firehose, a Jetstream-protocol
// server) that can cut it: it relays bytes both ways, so a WebSocket upgrade and its frames pass
// unchanged, and `cut(ms)` drops every open connection and resets every new one until the time
// is up. Daemons in other processes reach the stream only through it, so a test can take their
// stream away without touching the PDS, whose writes and reads they keep using directly.
import { createServer, connect, type Server, type Socket } from 'node:net'
import type { AddressInfo } from 'node:net'

export class StreamCutProxy {
  private server?: Server
  private readonly open = new Set<Socket>()
  private cutUntil = 0
  /** Connections relayed, and connections reset while cut. */
  accepted = 0
  refused = 0

  constructor(private readonly target: string) {}

  /** Starts listening; returns the proxy's URL with the target's scheme and path. */
  async start(): Promise<string> {
    const target = new URL(this.target)
    const port = Number(target.port || (target.protocol === 'https:' ? 443 : 80))
    this.server = createServer((client) => {
      if (this.isCut) {
        this.refused++
        client.resetAndDestroy()
        return
      }
      this.accepted++
      const upstream = connect(port, target.hostname)
      for (const s of [client, upstream]) {
        this.open.add(s)
        s.once('close', () => this.open.delete(s))
        // A reset on one side ends the other; the error itself is the point of a cut.
        s.on('error', () => undefined)
      }
      client.pipe(upstream).on('close', () => client.destroy())
      upstream.pipe(client).on('close', () => upstream.destroy())
      client.once('close', () => upstream.destroy())
      upstream.once('close', () => client.destroy())
    })
    await new Promise<void>((resolve) => this.server!.listen(0, '127.0.0.1', resolve))
    const url = new URL(this.target)
    url.host = `127.0.0.1:${(this.server.address() as AddressInfo).port}`
    return url.toString().replace(/\/$/, '')
  }

  get isCut(): boolean {
    return Date.now() < this.cutUntil
  }

  /** Drops every connection now and resets new ones for `ms`. */
  cut(ms: number): void {
    this.cutUntil = Date.now() + ms
    for (const s of this.open) s.resetAndDestroy()
  }

  async close(): Promise<void> {
    for (const s of this.open) s.destroy()
    await new Promise((resolve) => (this.server ? this.server.close(resolve) : resolve(undefined)))
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close()
  }
}
