// Runs the TypeScript sources without a build step, in the process's own thread.
//
// tsx did this before, through Node's off-thread module hooks: a second V8 isolate for the whole
// life of the daemon (some 35 MB of RSS against a 100 MB budget) and a message round trip per
// module for the ~3,000 modules a start loads. Here Node's own synchronous hooks (registerHooks)
// resolve `./x.js` to `./x.ts` for our sources only, and Node's own TypeScript transform
// (module.stripTypeScriptTypes) compiles them, once: the output is cached by content hash in
// node_modules/.cache (owned by whoever owns the checkout, unlike a shared temporary directory), so
// a start with nothing changed loads no compiler at all. Everything in node_modules goes through
// Node's loader untouched.
/* global URL */
import { createHash } from 'node:crypto'
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs'
import { registerHooks, stripTypeScriptTypes } from 'node:module'
import { fileURLToPath } from 'node:url'

const ROOT = new URL('../', import.meta.url).href
const CACHE = fileURLToPath(new URL('../node_modules/.cache/meshlet-ts/', import.meta.url))
// Part of every cache key: a new Node (a new transform) or a new version of this file compiles
// again.
const SALT = `${process.version} 1 ${process.sourceMapsEnabled ? 'maps' : 'no-maps'}`

function ours(url) {
  return url.startsWith(ROOT) && !url.includes('/node_modules/')
}

function compile(url) {
  const source = readFileSync(fileURLToPath(url), 'utf8')
  const key = createHash('sha256').update(SALT).update('\0').update(source).digest('hex')
  const cached = `${CACHE}${key}.js`
  try {
    return readFileSync(cached, 'utf8')
  } catch {
    // Not compiled yet.
  }
  // Source maps only when asked for (node --enable-source-maps): kept in memory for every
  // module, they cost more than the stack traces they improve are worth in a daemon.
  const code = quietly(() =>
    stripTypeScriptTypes(source, {
      mode: 'transform',
      sourceMap: process.sourceMapsEnabled,
      sourceUrl: url,
    }),
  )
  try {
    mkdirSync(CACHE, { recursive: true })
    // Written whole under another name first: a concurrent start never reads half a file.
    const tmp = `${cached}.${process.pid}.tmp`
    writeFileSync(tmp, code)
    renameSync(tmp, cached)
  } catch {
    // A read-only checkout compiles each time; that is slower, not wrong.
  }
  return code
}

// Node calls the transform experimental and says so on stderr, which is the daemon's output
// (and what tests and process managers read): that one warning is left out.
function quietly(fn) {
  const emitWarning = process.emitWarning
  process.emitWarning = (warning, ...rest) => {
    if (String(warning).includes('stripTypeScriptTypes')) return
    emitWarning.call(process, warning, ...rest)
  }
  try {
    return fn()
  } finally {
    process.emitWarning = emitWarning
  }
}

/** Installs the hooks (Node ≥ 22.15: registerHooks; ≥ 22.13: stripTypeScriptTypes). */
export function installTypeScriptLoader() {
  registerHooks({
    resolve(specifier, context, next) {
      const parent = context.parentURL
      if (
        parent !== undefined &&
        parent.endsWith('.ts') &&
        specifier.startsWith('.') &&
        specifier.endsWith('.js') &&
        ours(parent)
      ) {
        // TypeScript's NodeNext style: `./x.js` in a source names `./x.ts`.
        const ts = new URL(`${specifier.slice(0, -3)}.ts`, parent)
        if (existsSync(ts)) return { url: ts.href, format: 'module', shortCircuit: true }
      }
      return next(specifier, context)
    },
    load(url, context, next) {
      if (url.endsWith('.ts') && ours(url)) {
        return { format: 'module', source: compile(url), shortCircuit: true }
      }
      return next(url, context)
    },
  })
}
