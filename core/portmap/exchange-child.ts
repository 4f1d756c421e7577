// The child process of one router exchange (child.ts starts it): the request is the last
// argument, as JSON; one JSON line on stdout is the result; then it exits. SIGTERM (the
// parent's signal aborted) ends the exchange early, which then still answers (`aborted`, or a
// grant the router made meanwhile, so that the parent can remove it).
import { exchange, type ExchangeRequest } from './exchange.js'

const abort = new AbortController()
process.once('SIGTERM', () => abort.abort())
const request = JSON.parse(process.argv.at(-1) ?? '') as ExchangeRequest
const result = await exchange(request, abort.signal)
// An entry, not library code: it ends itself once answered, whatever the library left open.
// eslint-disable-next-line no-restricted-syntax
process.stdout.write(JSON.stringify(result) + '\n', () => process.exit(0))
