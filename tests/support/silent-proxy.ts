// A real TCP proxy on 127.0.0.1 in front of a PDS that can stop answering: `silence()` keeps
// accepting connections and reading requests but never replies (a hung PDS, a NAT that drops
// the way back), `down()` refuses connections (the PDS is gone), `restore()` passes everything
// through again. Connections that were silenced are cut at the restore, as a restarted PDS would.
import { createServer, connect, type Server, type Socket } from 'node:net'
import type { AddressInfo } from 'node:net'

type Mode = 'pass' | 'silent' | 'down'

interface Pair {
  client: Socket
  upstream?: Socket
  /** Silenced once: this connection never carries anything again. */
  mute: boolean
}

export class SilentProxy {
  private server?: Server
  private port = 0
  private mode: Mode = 'pass'
  private readonly pairs = new Set<Pair>()
  /** Bytes of requests read and never answered. */
  swallowed = 0
  /** Connections accepted while silent. */
  acceptedSilent = 0

  constructor(private readonly target: string) {}

  async start(): Promise<string> {
    await this.listen()
    return `http://127.0.0.1:${this.port}`
  }

  /** Accepts and reads, never answers, from now until `restore()`. */
  silence(): void {
    this.mode = 'silent'
    for (const pair of this.pairs) {
      pair.mute = true
      pair.upstream?.destroy()
    }
  }

  /** Refuses connections (nothing listens) and cuts those open, until `restore()`. */
  async down(): Promise<void> {
    this.mode = 'down'
    for (const pair of this.pairs) this.drop(pair)
    await new Promise((resolve) => this.server?.close(resolve))
    this.server = undefined
  }

  /** Passes everything through again; silenced connections are cut. */
  async restore(): Promise<void> {
    this.mode = 'pass'
    for (const pair of this.pairs) if (pair.mute) this.drop(pair)
    if (!this.server) await this.listen()
  }

  async close(): Promise<void> {
    for (const pair of this.pairs) this.drop(pair)
    await new Promise((resolve) => (this.server ? this.server.close(resolve) : resolve(undefined)))
  }

  private async listen(): Promise<void> {
    const target = new URL(this.target)
    const server = createServer((client) => {
      const pair: Pair = { client, mute: this.mode !== 'pass' }
      this.pairs.add(pair)
      client.on('close', () => this.drop(pair))
      client.on('error', () => this.drop(pair))
      if (pair.mute) {
        this.acceptedSilent++
        client.on('data', (chunk: Buffer) => (this.swallowed += chunk.length))
        return
      }
      const upstream = connect(Number(target.port), target.hostname)
      pair.upstream = upstream
      upstream.on('data', (chunk: Buffer) => {
        if (!pair.mute) client.write(chunk)
      })
      upstream.on('close', () => {
        if (!pair.mute) client.destroy()
      })
      upstream.on('error', () => {
        if (!pair.mute) client.destroy()
      })
      client.on('data', (chunk: Buffer) => {
        if (pair.mute) this.swallowed += chunk.length
        else upstream.write(chunk)
      })
    })
    await new Promise<void>((resolve) => server.listen(this.port, '127.0.0.1', resolve))
    this.port = (server.address() as AddressInfo).port
    this.server = server
  }

  private drop(pair: Pair): void {
    this.pairs.delete(pair)
    pair.upstream?.destroy()
    pair.client.destroy()
  }
}
