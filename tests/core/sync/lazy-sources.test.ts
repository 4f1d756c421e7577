// Each source's module, and the libraries behind it, is loaded only when that source is chosen:
// a Jetstream meshlet never loads @atproto/sync or @atproto/xrpc-server (the signed firehose's
// decoder and its lexicon tables), which only the relay and pds sources use. Checked in a fresh
// Node process per source, since the test runner's own module graph already holds everything.
import { execFile } from 'node:child_process'
import { promisify } from 'node:util'
import { describe, expect, it } from 'vitest'

const ROOT = new URL('../../../', import.meta.url).pathname

// Nothing listens on port 1: every source starts, fails to connect in the background, and is
// stopped; what matters is what starting it loaded.
const SCRIPT = `
import { register } from 'tsx/esm/api'
import { registerHooks } from 'node:module'
register()
// Every module resolved from here on (these libraries are ES modules: not in require.cache).
const urls = []
registerHooks({
  resolve(specifier, context, next) {
    const result = next(specifier, context)
    urls.push(result.url)
    return result
  },
})
const kind = process.argv[1]
const { RecordSync } = await import('./core/sync/index.ts')
const { IdentityResolver } = await import('./core/identity/resolver.ts')
const loaded = () => urls
const libs = (keys) => ['@atproto/sync', '@atproto/xrpc-server'].filter((l) => keys.some((k) => k.includes('/node_modules/' + l + '/')))
const before = libs(loaded())
const errors = []
const sync = new RecordSync({
  identity: new IdentityResolver({ plcUrl: 'http://127.0.0.1:1', allowPrivateNetwork: true }),
  reader: {},
  source:
    kind === 'jetstream'
      ? { kind, urls: ['ws://127.0.0.1:1/subscribe'], backoffMs: 60000 }
      : kind === 'pds' ? { kind } : { kind, url: 'ws://127.0.0.1:1' },
  wants: () => true,
  onEvent: () => {},
  onError: (err) => errors.push(err.message),
})
let early
try { sync.source } catch (err) { early = err.name }
await sync.start()
const started = sync.source.kind
await sync.stop()
console.log(JSON.stringify({ before, after: libs(loaded()), early, started }))
`

async function run(kind: string) {
  const { stdout } = await promisify(execFile)(
    process.execPath,
    ['--input-type=module', '-e', SCRIPT, kind],
    { cwd: ROOT },
  )
  return JSON.parse(stdout.trim().split('\n').pop()!) as {
    before: string[]
    after: string[]
    early: string
    started: string
  }
}

describe('sources are loaded lazily', () => {
  it('loads only the chosen source, and the signed-firehose libraries only for relay and pds', async () => {
    const [jetstream, pds, relay] = await Promise.all([run('jetstream'), run('pds'), run('relay')])
    for (const r of [jetstream, pds, relay]) {
      // Importing the sync layer loads no source yet; the source exists once started.
      expect(r.before).toEqual([])
      expect(r.early).toBe('SyncError')
    }
    expect(jetstream).toMatchObject({ started: 'jetstream', after: [] })
    // The relay and pds sources do load them: the check above could not pass by accident.
    expect(pds).toMatchObject({ started: 'pds', after: ['@atproto/sync', '@atproto/xrpc-server'] })
    expect(relay).toMatchObject({
      started: 'relay',
      after: ['@atproto/sync', '@atproto/xrpc-server'],
    })
  }, 120_000)
})
