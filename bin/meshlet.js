#!/usr/bin/env node
// The `meshlet` command. Sources are TypeScript; tsx compiles them on load so a fresh
// clone runs without a build step.
import { register } from 'tsx/esm/api'

register()
const { main } = await import('../core/cli/main.ts')
process.exitCode = await main(process.argv.slice(2))
