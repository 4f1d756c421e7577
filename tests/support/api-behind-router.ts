// A meshlet's API behind a home router, run inside a RouterLab's client namespace by
// tests/core/xrpc/behind-router.test.ts: the real ApiService serving farm.meshlet.* on every
// interface, off a local network, so it asks the router (the lab's miniupnpd, at the gateway in
// argv[2]) for a forward and publishes it. Prints JSON lines: the log's, `endpoint` each time the
// published endpoint changes (and once when serving starts), `closed`. Commands on stdin, one a
// line: `close` (stop serving: the forward is removed), `exit`.
import { createInterface } from 'node:readline'
import { jsonLogger } from '../../core/log.js'
import { openPortMapping } from '../../core/portmap/index.js'
import { ApiService } from '../../core/xrpc/service.js'

const gateway = process.argv[2]!
const print = (o: Record<string, unknown>) => process.stdout.write(JSON.stringify(o) + '\n')

const api: ApiService = new ApiService({
  host: { self: () => ({ meshlet: 'did:plc:behindrouter', owner: 'did:plc:owner' }) } as never,
  identity: { resolveDid: async () => undefined } as never,
  openPortMapping: (o) => openPortMapping({ ...o, gateway }),
  onEndpointChange: () =>
    print({ event: 'endpoint', endpoint: api.endpoint ?? null, alternates: api.alternates }),
  log: jsonLogger((line) => process.stdout.write(line + '\n'), { level: 'debug' }),
})
await api.apply({ port: 0, hostname: '0.0.0.0' })
print({
  event: 'endpoint',
  endpoint: api.endpoint ?? null,
  alternates: api.alternates,
  bound: api.url,
})

let queue = Promise.resolve()
createInterface({ input: process.stdin }).on('line', (line) => {
  queue = queue.then(async () => {
    if (line === 'close') {
      await api.close()
      print({ event: 'closed' })
    } else if (line === 'exit') {
      process.exit(0)
    }
  })
})
