// One reader of a replayed stream, in its own process so that its CPU time is its own (the PDS
// and the Jetstream-protocol server run in the benchmark's process). Prints one JSON line:
// { cpuMs, bytes, frames, ours, wallMs }. Started by bench/sources.ts.
//   tsx bench/source-consumer.ts bare-ws <ws url> <frames>
//   tsx bench/source-consumer.ts relay <service> <plc> <last seq>
//   tsx bench/source-consumer.ts jetstream <url> <plc> <handle resolver> <dids,> <ours> <cursor>
//   tsx bench/source-consumer.ts idle-jetstream <url> <plc> <handle resolver> <dids,> <ms>
//   tsx bench/source-consumer.ts commune <url> <plc> <handle resolver> <dids,> plain|lean <window ms>
//     A meshlet's Jetstream source, live, driven over IPC: {wrote: [uri, cid]} tells it of its
//     own writes (lean only), {report: true} answers {cursor, bytes, httpBytes, cpuMs, counts}.
//     plain: every record confirmed, no compression (last wave); lean: this wave's source.
import WebSocket from 'ws'
import { IdentityResolver } from '../core/identity/resolver.js'
import { CursorStore } from '../core/sync/cursor.js'
import { JetstreamSource } from '../core/sync/jetstream.js'
import { RelaySource } from '../core/sync/relay.js'
import type { SourceHooks } from '../core/sync/source.js'

const [mode, ...args] = process.argv.slice(2)

function report(start: NodeJS.CpuUsage, t0: number, fields: Record<string, number>): void {
  const cpu = process.cpuUsage(start)
  process.stdout.write(
    JSON.stringify({
      cpuMs: (cpu.user + cpu.system) / 1000,
      wallMs: performance.now() - t0,
      ...fields,
    }) + '\n',
  )
  process.exit(0)
}

function identityFor(plc: string, handles: string): IdentityResolver {
  return new IdentityResolver({
    plcUrl: plc,
    handleResolverUrl: handles,
    allowPrivateNetwork: true,
  })
}

/** Counts the bytes of every HTTP answer (the confirmations' getRecord proofs). */
function countingFetch(identity: IdentityResolver, add: (n: number) => void): void {
  const inner = identity.fetch
  Object.defineProperty(identity, 'fetch', {
    value: async (input: Parameters<typeof fetch>[0], init?: RequestInit) => {
      const res = await inner(input, init)
      const body = await res.arrayBuffer()
      add(body.byteLength + 200) // + response headers, roughly
      return new Response(body, { status: res.status, headers: res.headers })
    },
  })
}

const hooks = (onOurs: () => void): SourceHooks => ({
  onCommit: onOurs,
  onDropped: (d) => {
    process.stderr.write(`dropped ${d.uri}: ${d.reason}\n`)
    onOurs()
  },
  onOutdated: () => undefined,
  onGap: () => undefined,
  onError: (e) =>
    process.stderr.write(`error ${e.message} ${String((e as { cause?: unknown }).cause)}\n`),
})

async function main(): Promise<void> {
  if (mode === 'bare-ws') {
    const [url, total] = args as [string, string]
    const start = process.cpuUsage()
    const t0 = performance.now()
    let bytes = 0
    let frames = 0
    const ws = new WebSocket(url)
    ws.on('message', (data: Buffer) => {
      bytes += data.byteLength
      if (++frames >= Number(total)) report(start, t0, { bytes, frames, ours: 0 })
    })
    return
  }
  if (mode === 'relay') {
    const [service, plc, last] = args as [string, string, string]
    const identity = identityFor(plc, service)
    const cursors = new CursorStore(undefined, () => undefined)
    cursors.advance(service.replace(/^http/, 'ws'), 0)
    let ours = 0
    const start = process.cpuUsage()
    const t0 = performance.now()
    const relay = new RelaySource({
      service,
      idResolver: identity.idResolver,
      cursors,
      hooks: hooks(() => ours++),
      match: (c) => c.startsWith('commune.scheduler.'),
    })
    await relay.start()
    const timer = setInterval(() => {
      const at = cursors.get(relay.service) ?? 0
      if (at >= Number(last)) {
        clearInterval(timer)
        report(start, t0, { bytes: 0, frames: at, ours })
      }
    }, 5)
    return
  }
  if (mode === 'jetstream' || mode === 'idle-jetstream') {
    const [url, plc, handles, dids, n, cursor] = args as [
      string,
      string,
      string,
      string,
      string,
      string,
    ]
    const identity = identityFor(plc, handles)
    let httpBytes = 0
    countingFetch(identity, (b) => (httpBytes += b))
    const cursors = new CursorStore(undefined, () => undefined)
    if (cursor) cursors.advance('jetstream', Number(cursor))
    let ours = 0
    const want = mode === 'jetstream' ? Number(n) : Infinity
    const start = process.cpuUsage()
    const t0 = performance.now()
    const source = new JetstreamSource({
      urls: [url],
      identity,
      collections: ['commune.scheduler.*'],
      cursors,
      hooks: hooks(() => {
        if (++ours >= want)
          report(start, t0, { bytes: source.bytesRead + httpBytes, frames: ours, ours })
      }),
    })
    await source.setDids(new Set(dids.split(',')))
    await source.start()
    if (mode === 'idle-jetstream') {
      // Measured once connected and settled: what an idle subscription costs, not its start.
      await new Promise((r) => setTimeout(r, 2000))
      const idleStart = process.cpuUsage()
      const idleT0 = performance.now()
      const bytesBefore = source.bytesRead + httpBytes
      setTimeout(
        () =>
          report(idleStart, idleT0, {
            bytes: source.bytesRead + httpBytes - bytesBefore,
            frames: 0,
            ours,
          }),
        Number(n),
      )
    }
    return
  }
  if (mode === 'commune') {
    const [url, plc, handles, dids, variant, windowMs] = args as [
      string,
      string,
      string,
      string,
      string,
      string,
    ]
    const lean = variant === 'lean'
    const identity = identityFor(plc, handles)
    let httpBytes = 0
    countingFetch(identity, (b) => (httpBytes += b))
    const cursors = new CursorStore(undefined, () => undefined)
    const start = process.cpuUsage()
    const source = new JetstreamSource({
      urls: [url],
      identity,
      collections: ['commune.scheduler.*'],
      cursors,
      hooks: hooks(() => undefined),
      compress: lean,
      ...(lean
        ? { presence: { collection: 'commune.scheduler.presence', windowMs: Number(windowMs) } }
        : {}),
    })
    await source.setDids(new Set(dids.split(',')))
    await source.start()
    process.on('message', (msg: { wrote?: [string, string]; report?: boolean; stop?: boolean }) => {
      if (msg.wrote && lean) source.wrote(...msg.wrote)
      if (msg.report) {
        const cpu = process.cpuUsage(start)
        process.send!({
          cursor: cursors.get('jetstream') ?? 0,
          bytes: source.bytesRead,
          httpBytes,
          cpuMs: (cpu.user + cpu.system) / 1000,
          counts: source.counts,
        })
      }
      if (msg.stop) void source.stop().then(() => process.exit(0))
    })
    process.send!({ ready: true })
    return
  }
  throw new Error(`unknown mode ${mode}`)
}

await main()
