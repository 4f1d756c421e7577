#!/usr/bin/env node
// The `meshlet` command. Sources are TypeScript, compiled on load (and cached) by ts-loader.js so
// a fresh clone runs without a build step.
import { installTypeScriptLoader } from './ts-loader.js'

// `meshlet run` is a daemon that idles for days: its young generation is capped at 2 MB semi-spaces
// (V8's default grows to 16 MB while start-up loads its modules, and keeps them: some 25 MB of RSS
// for an idle process, measured by bench/idle.ts). Idle, the daemon allocates little, so the
// smaller nursery costs no measurable CPU. It also runs V8's background work (GC) on one thread
// instead of four, and caps glibc's malloc at two arenas: each thread that allocates otherwise
// gets an arena of its own, whose freed memory stays with it (together some 5 MB of an idle
// daemon's RSS). WebAssembly is compiled by the baseline compiler only (`--liftoff-only`): the
// one module a daemon may compile is the HTTP parser of Node's built-in fetch (for an image's
// manifest), and V8's optimising tier for it kept some 13 MiB of an otherwise idle process, to
// parse a few responses a minute (docs/footprint.md). Flags V8 and glibc read only at start,
// hence the process image is replaced (same PID, same stdio) with one that has them, where Node
// can (POSIX). What the user set is kept.
const SEMI_SPACE = '--max-semi-space-size='
const POOL_SIZE = '--v8-pool-size='
if (
  process.argv[2] === 'run' &&
  typeof process.execve === 'function' &&
  !process.execArgv.some((a) => a.startsWith(SEMI_SPACE))
) {
  const flags = [`${SEMI_SPACE}2`]
  if (!process.execArgv.some((a) => a.startsWith(POOL_SIZE))) flags.push(`${POOL_SIZE}1`)
  if (!process.execArgv.includes('--liftoff-only')) flags.push('--liftoff-only')
  process.execve(
    process.execPath,
    [process.execPath, ...flags, ...process.execArgv, ...process.argv.slice(1)],
    { MALLOC_ARENA_MAX: '2', ...process.env },
  )
}

installTypeScriptLoader()
// Before anything else loads: see load-hooks.ts.
const { installLoadHooks } = await import('../core/cli/load-hooks.ts')
installLoadHooks()
const { main } = await import('../core/cli/main.ts')
// Exit explicitly: once the command is done, no stray handle may keep the process alive.
process.exit(await main(process.argv.slice(2)))
