#!/usr/bin/env node
// The `meshlet` command. Sources are TypeScript; tsx compiles them on load so a fresh
// clone runs without a build step.
import { register } from 'tsx/esm/api'

register()
// Before anything else loads: see load-hooks.ts.
const { installLoadHooks } = await import('../core/cli/load-hooks.ts')
installLoadHooks()
const { main } = await import('../core/cli/main.ts')
// Exit explicitly: once the command is done, no stray handle may keep the process alive.
process.exit(await main(process.argv.slice(2)))
