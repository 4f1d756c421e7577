// A Jetstream-protocol server for tests: it is not Bluesky's Jetstream (which cannot be fetched
// here) but speaks its documented `/subscribe` protocol. It follows a real local PDS's
// firehose and re-emits each commit as Jetstream JSON ({ did, time_us, kind: 'commit', commit:
// { rev, operation, collection, rkey, record, cid } }), with the subscriber options
// wantedCollections (exact or `prefix.*`), wantedDids, maxMessageSizeBytes, cursor (time_us,
// replayed from a bounded buffer) and requireHello, and the in-stream `options_update` message.
// Like Jetstream's /subscribe it accepts RFC 7692 permessage-deflate when the client offers it
// (context takeover; messages under 128 bytes go uncompressed, as coder/websocket's default).
// Tests can also inject events (forged ones) and take the server down for a while.
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { lexToJson } from '@atproto/lexicon'
import { Firehose } from '@atproto/sync'
import { IdResolver } from '@atproto/identity'
import { WebSocketServer, type WebSocket } from 'ws'

export interface JetstreamCommitEvent {
  did: string
  time_us: number
  kind: 'commit'
  commit: {
    rev: string
    operation: 'create' | 'update' | 'delete'
    collection: string
    rkey: string
    record?: unknown
    cid?: string
  }
}

interface Options {
  wantedCollections: string[]
  wantedDids: string[]
  maxMessageSizeBytes: number
}

interface Client {
  ws: WebSocket
  opts: Options
  hello: boolean
  /** stall(): connected, but nothing goes either way. */
  muted?: boolean
}

export interface TestJetstream {
  /** ws://127.0.0.1:<port>/subscribe */
  url: string
  /** Connections accepted so far (an options_update must not add one). */
  readonly connections: number
  /** Connection attempts refused while down. */
  readonly refused: number
  /** options_update messages received so far. */
  readonly updates: number
  /** Events emitted so far, after filtering, to any client. */
  readonly sent: number
  /** Bytes sent to clients. */
  readonly bytesSent: number
  /** How many events so far match `pred`, and the time_us of the newest (0 before any). */
  matching(pred: (e: JetstreamCommitEvent) => boolean): { count: number; last: number }
  /** The last options each client asked for. */
  clientOptions(): Options[]
  /** Sends an event of our own making to the clients it matches (a forged one, say). */
  inject(evt: Omit<JetstreamCommitEvent, 'time_us'>): JetstreamCommitEvent
  /** Drops every client and refuses new ones until up() (the firehose keeps being read, so
   *  events published meanwhile are in the buffer for a cursor to replay). */
  down(): void
  up(): void
  /** Every open connection goes silent without closing (a half-open TCP connection: a laptop
   *  that changed networks): no events, and pings go unanswered. New connections are served. */
  stall(): void
  close(): Promise<void>
}

export async function startTestJetstream(opts: {
  /** The PDS (or relay) to follow. */
  service: string
  plcUrl: string
  /** How many events the buffer keeps for cursor replay. */
  keep?: number
}): Promise<TestJetstream> {
  const keep = opts.keep ?? 10_000
  const buffer: JetstreamCommitEvent[] = []
  /** Every event, for matching(): a test server lives for one test file. */
  const everything: JetstreamCommitEvent[] = []
  const clients = new Set<Client>()
  let lastTime = 0
  let connections = 0
  let updates = 0
  let sent = 0
  let bytesSent = 0
  let isDown = false
  let refused = 0

  const nextTime = () => (lastTime = Math.max(lastTime + 1, Date.now() * 1000))

  const matches = (o: Options, e: JetstreamCommitEvent, size: number) => {
    if (o.wantedDids.length > 0 && !o.wantedDids.includes(e.did)) return false
    if (o.maxMessageSizeBytes > 0 && size > o.maxMessageSizeBytes) return false
    if (o.wantedCollections.length === 0) return true
    return o.wantedCollections.some((c) =>
      c.endsWith('.*') ? e.commit.collection.startsWith(c.slice(0, -1)) : c === e.commit.collection,
    )
  }

  const send = (c: Client, e: JetstreamCommitEvent) => {
    const text = JSON.stringify(e)
    if (c.muted || !c.hello || !matches(c.opts, e, Buffer.byteLength(text))) return
    c.ws.send(text)
    sent++
    bytesSent += Buffer.byteLength(text)
  }

  const emit = (e: JetstreamCommitEvent) => {
    everything.push(e)
    buffer.push(e)
    if (buffer.length > keep) buffer.shift()
    for (const c of clients) send(c, e)
  }

  const firehose = new Firehose({
    service: opts.service.replace(/^http/, 'ws'),
    idResolver: new IdResolver({ plcUrl: opts.plcUrl, fetch: globalThis.fetch }),
    // Like Jetstream, which reads a relay that has checked the signatures already.
    unauthenticatedCommits: true,
    excludeIdentity: true,
    excludeAccount: true,
    excludeSync: true,
    handleEvent: (evt) => {
      if (evt.event !== 'create' && evt.event !== 'update' && evt.event !== 'delete') return
      emit({
        did: evt.did,
        time_us: nextTime(),
        kind: 'commit',
        commit: {
          rev: evt.rev,
          operation: evt.event,
          collection: evt.collection,
          rkey: evt.rkey,
          ...(evt.event !== 'delete'
            ? {
                record: lexToJson(evt.record as Parameters<typeof lexToJson>[0]),
                cid: evt.cid.toString(),
              }
            : {}),
        },
      })
    },
    onError: () => undefined,
  })
  const following = firehose.start()

  const http: Server = createServer((_req, res) => {
    res.writeHead(404).end()
  })
  const wss = new WebSocketServer({ noServer: true, perMessageDeflate: { threshold: 128 } })
  http.on('upgrade', (req, socket, head) => {
    const url = new URL(req.url ?? '/', 'http://localhost')
    if (isDown || url.pathname !== '/subscribe') {
      refused++
      socket.end('HTTP/1.1 503 Service Unavailable\r\n\r\n')
      return
    }
    wss.handleUpgrade(req, socket, head, (ws) => {
      connections++
      const q = url.searchParams
      const c: Client = {
        ws,
        opts: {
          wantedCollections: q.getAll('wantedCollections'),
          wantedDids: q.getAll('wantedDids'),
          maxMessageSizeBytes: Number(q.get('maxMessageSizeBytes') ?? 0),
        },
        hello: q.get('requireHello') !== 'true',
      }
      clients.add(c)
      ws.on('close', () => clients.delete(c))
      ws.on('message', (data) => {
        let msg: { type?: unknown; payload?: Partial<Options> }
        try {
          msg = JSON.parse(String(data)) as typeof msg
        } catch {
          ws.close(1008, 'not JSON')
          return
        }
        if (msg.type !== 'options_update' || typeof msg.payload !== 'object') {
          ws.close(1008, 'unknown message')
          return
        }
        updates++
        c.opts = {
          wantedCollections: msg.payload.wantedCollections ?? [],
          wantedDids: msg.payload.wantedDids ?? [],
          maxMessageSizeBytes: msg.payload.maxMessageSizeBytes ?? 0,
        }
        c.hello = true
      })
      const cursor = Number(q.get('cursor'))
      if (q.has('cursor') && Number.isFinite(cursor)) {
        for (const e of buffer) if (e.time_us >= cursor) send(c, e)
      }
    })
  })
  await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve))
  const port = (http.address() as AddressInfo).port

  return {
    url: `ws://127.0.0.1:${port}/subscribe`,
    get connections() {
      return connections
    },
    get refused() {
      return refused
    },
    get updates() {
      return updates
    },
    get sent() {
      return sent
    },
    get bytesSent() {
      return bytesSent
    },
    matching(pred) {
      let count = 0
      let last = 0
      for (const e of everything) {
        if (!pred(e)) continue
        count++
        last = e.time_us
      }
      return { count, last }
    },
    clientOptions: () => [...clients].map((c) => c.opts),
    inject(evt) {
      const e = { ...evt, time_us: nextTime() }
      emit(e)
      return e
    },
    down() {
      isDown = true
      for (const c of clients) c.ws.terminate()
    },
    up() {
      isDown = false
    },
    stall() {
      for (const c of clients) {
        c.muted = true
        c.ws.pause()
      }
    },
    async close() {
      for (const c of clients) c.ws.terminate()
      wss.close()
      await new Promise<void>((resolve) => http.close(() => resolve()))
      await firehose.destroy()
      await following
    },
  }
}
