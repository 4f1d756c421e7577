#!/usr/bin/env node
// The `meshlet` command. Sources are TypeScript, compiled on load (and cached) by ts-loader.js so
// a fresh clone runs without a build step.
import { installTypeScriptLoader } from './ts-loader.js'

// `meshlet run` is a daemon that idles for days: its young generation is capped at 2 MB semi-spaces
// (V8's default grows to 16 MB while start-up loads its modules, and keeps them: some 25 MB of RSS
// for an idle process, measured by bench/idle.ts). Idle, the daemon allocates little, so the
// smaller nursery costs no measurable CPU. A flag V8 reads only at start, hence the process image
// is replaced (same PID, same stdio) with one that has it, where Node can (POSIX).
const SEMI_SPACE = '--max-semi-space-size='
if (
  process.argv[2] === 'run' &&
  typeof process.execve === 'function' &&
  !process.execArgv.some((a) => a.startsWith(SEMI_SPACE))
) {
  process.execve(
    process.execPath,
    [process.execPath, `${SEMI_SPACE}2`, ...process.execArgv, ...process.argv.slice(1)],
    process.env,
  )
}

installTypeScriptLoader()
// Before anything else loads: see load-hooks.ts.
const { installLoadHooks } = await import('../core/cli/load-hooks.ts')
installLoadHooks()
const { main } = await import('../core/cli/main.ts')
// Exit explicitly: once the command is done, no stray handle may keep the process alive.
process.exit(await main(process.argv.slice(2)))
