// The machine behind the router, run inside the lab's client namespace by
// tests/core/portmap/*.test.ts: serves HTTP on the internal port, opens the mapping with the
// options given as JSON in argv[2] (and `name`, what its server answers), and prints everything as JSON lines (the library's log lines,
// then `result`, `change`, `closed`). Commands on stdin, one a line: `abort` (the signal passed
// to openPortMapping, at any time), `close`, `exit`.
import { createServer } from 'node:http'
import { createInterface } from 'node:readline'
import { jsonLogger } from '../../core/log.js'
import { openPortMapping, type PortMappingOptions } from '../../core/portmap/index.js'

const { name, ...opts } = JSON.parse(process.argv[2] ?? '{}') as Omit<
  PortMappingOptions,
  'log' | 'onChange'
> & { name?: string }
const print = (o: Record<string, unknown>) => process.stdout.write(JSON.stringify(o) + '\n')

const server = createServer((_req, res) => res.end(`hello from ${name ?? opts.internalPort}`))
await new Promise<void>((resolve) => server.listen(opts.internalPort, '0.0.0.0', resolve))

const abort = new AbortController()
const started = performance.now()
const opened = openPortMapping({
  ...opts,
  signal: abort.signal,
  log: jsonLogger((line) => process.stdout.write(line + '\n'), { level: 'debug' }),
  onChange: (url) => print({ event: 'change', url: url ?? null }),
})
let queue = Promise.resolve()
createInterface({ input: process.stdin }).on('line', (line) => {
  if (line === 'abort') return abort.abort()
  queue = queue.then(async () => {
    if (line === 'close') {
      await (await opened)?.close()
      print({ event: 'closed' })
    } else if (line === 'exit') {
      server.close()
      process.exit(0)
    }
  })
})

const mapping = await opened
print({
  event: 'result',
  url: mapping?.externalUrl ?? null,
  protocol: mapping?.protocol ?? null,
  ms: Math.round(performance.now() - started),
})
