// Runs one router exchange (exchange.ts) in a short-lived child process, so that this process
// never imports @achingbrain/nat-port-mapper (some 12 MiB of RSS for its whole life, to be used
// a few seconds an hour). The child is bounded: killed past its time, its output capped, and
// whatever it does wrong (no start, a crash, a hang, garbage) is a failure value, never an
// exception.
import { spawn } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import type { Logger } from '../log.js'
import type { ExchangeRequest } from './exchange.js'

/** A started child, as much of it as we use (a Node ChildProcess or Electron's UtilityProcess). */
export interface ChildHandle {
  readonly stdout: NodeJS.ReadableStream | null
  readonly stderr: NodeJS.ReadableStream | null
  kill(signal?: 'SIGTERM' | 'SIGKILL'): void
  /** Once, when it has exited (or could not start: then with the error). */
  onExit(listener: (err?: Error) => void): void
}

/** Starts `entry` (a module file URL) with `args` in a fresh Node process. */
export type ChildLauncher = (entry: URL, args: string[]) => ChildHandle

/** The child's output we read at most; a result is a few hundred bytes. */
const MAX_STDOUT = 16 * 1024
/** What of its stderr reaches our debug log. */
const MAX_STDERR_LOGGED = 1_000

/** The name of the child's entry in the Electron bundle, beside main.js
 *  (electron/vite.config.ts builds it, electron/main.ts names it in setChildLauncher). */
export const BUNDLED_ENTRY = 'portmap-exchange'

/** `process.execPath` as Node: what the daemon (bin/meshlet.js) and tests run in. A .ts entry
 *  gets the same loader the CLI installs. */
export const nodeLauncher: ChildLauncher = (entry, args) => {
  if (process.versions.electron !== undefined) {
    // Without ELECTRON_RUN_AS_NODE (which the app's fuses forbid) this would start the app.
    throw new Error('in Electron, children start through setChildLauncher')
  }
  const loader = '../../bin/ts-loader.js'
  const argv = entry.pathname.endsWith('.ts')
    ? [
        '--input-type=module',
        '-e',
        `const { installTypeScriptLoader } = await import(${JSON.stringify(
          new URL(loader, import.meta.url).href,
        )}); installTypeScriptLoader(); await import(${JSON.stringify(entry.href)})`,
      ]
    : [fileURLToPath(entry)]
  const child = spawn(process.execPath, [...argv, ...args], {
    // Not the parent's flags (an inspector port, a loader): spawn passes none. The daemon's
    // small-heap flags do not matter for a process that lives a second or two.
    stdio: ['ignore', 'pipe', 'pipe'],
    windowsHide: true,
  })
  let done = false
  const exited = (err?: Error) => {
    if (done) return
    done = true
    listeners.forEach((l) => l(err))
  }
  const listeners: ((err?: Error) => void)[] = []
  child.once('error', (err) => exited(err))
  child.once('close', () => exited())
  return {
    stdout: child.stdout,
    stderr: child.stderr,
    kill: (signal) => void child.kill(signal),
    onExit: (l) => void listeners.push(l),
  }
}

let launcher: ChildLauncher = nodeLauncher
let entry: URL | undefined

/** How children start in this process, and the module they run: the Electron app forks a
 *  utility process (its fuses forbid running its binary as Node) on its bundled entry. */
export function setChildLauncher(l: ChildLauncher, bundledEntry: URL): void {
  launcher = l
  entry = bundledEntry
}

/** The module the child runs: the TypeScript source, under the dev loader (bin/ts-loader.js)
 *  unless the Electron app named its bundled entry. */
function defaultEntry(): URL {
  // Named through a variable: a bundler leaves `new URL(name, import.meta.url)` alone then.
  const source = './exchange-child.ts'
  return entry ?? new URL(source, import.meta.url)
}

export type ChildOutcome =
  | { ok: true; value: unknown }
  | { ok: false; failure: 'timeout' | 'aborted' | 'failed'; detail: string }

export interface RunOptions {
  /** Killed (SIGKILL) past this. */
  killAfterMs: number
  log: Logger
  /** Asks the child to stop (SIGTERM): it still answers, or is killed `graceMs` later. */
  signal?: AbortSignal
  graceMs: number
  entry?: URL
}

/**
 * Runs one exchange: resolves the JSON value of the child's one line of output, or why not.
 * Never rejects.
 */
export function runExchange(request: ExchangeRequest, o: RunOptions): Promise<ChildOutcome> {
  return new Promise((resolve) => {
    let child: ChildHandle
    try {
      child = launcher(o.entry ?? defaultEntry(), [JSON.stringify(request)])
    } catch (err) {
      resolve({ ok: false, failure: 'failed', detail: `could not start: ${message(err)}` })
      return
    }
    let stdout = ''
    let stderr = ''
    let killedFor: 'timeout' | 'output' | undefined
    const kill = (why: 'timeout' | 'output') => {
      killedFor ??= why
      child.kill('SIGKILL')
    }
    const deadline = setTimeout(() => kill('timeout'), o.killAfterMs)
    let grace: NodeJS.Timeout | undefined
    const onAbort = () => {
      child.kill('SIGTERM')
      grace = setTimeout(() => kill('timeout'), o.graceMs)
    }
    if (o.signal?.aborted) onAbort()
    else o.signal?.addEventListener('abort', onAbort, { once: true })

    child.stdout?.setEncoding('utf8')
    child.stdout?.on('data', (d: string) => {
      if (killedFor) return
      stdout += d
      if (stdout.length > MAX_STDOUT) kill('output')
    })
    child.stderr?.setEncoding('utf8')
    child.stderr?.on('data', (d: string) => {
      // Only the end is kept: that is where a crash says why.
      stderr = (stderr + d).slice(-MAX_STDERR_LOGGED)
    })
    child.onExit((err) => {
      clearTimeout(deadline)
      clearTimeout(grace)
      o.signal?.removeEventListener('abort', onAbort)
      const trimmed = stderr.trim()
      if (trimmed) o.log.log('debug', 'portmap.child-stderr', { op: request.op, stderr: trimmed })
      const aborted = o.signal?.aborted === true
      if (err) {
        resolve({ ok: false, failure: 'failed', detail: `could not start: ${err.message}` })
      } else if (killedFor === 'output') {
        resolve({ ok: false, failure: 'failed', detail: `more than ${MAX_STDOUT} bytes of output` })
      } else {
        const value = parseLine(stdout)
        if (value !== undefined) resolve({ ok: true, value })
        else if (killedFor === 'timeout' || aborted) {
          resolve({
            ok: false,
            failure: aborted ? 'aborted' : 'timeout',
            detail: `no answer within ${aborted ? o.graceMs : o.killAfterMs} ms`,
          })
        } else {
          const what = stdout.trim() ? `no result in its output` : 'no output'
          resolve({ ok: false, failure: 'failed', detail: `exited with ${what}` })
        }
      }
    })
  })
}

function parseLine(stdout: string): unknown {
  const line = stdout.trim()
  if (!line || line.includes('\n')) return undefined
  try {
    return JSON.parse(line) as unknown
  } catch {
    return undefined
  }
}

function message(err: unknown): string {
  return err instanceof Error ? err.message : String(err)
}
