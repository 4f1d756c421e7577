// How core/portmap starts the child process of a router exchange inside the app: a utility
// process (a Node process Electron forks). The default, `process.execPath` as Node, would start
// the app again here: its fuses (package.json `electronFuses.runAsNode: false`) forbid running
// its binary as Node.
import { utilityProcess } from 'electron'
import { fileURLToPath } from 'node:url'
import type { ChildLauncher } from '../core/portmap/child.js'

export const utilityProcessLauncher: ChildLauncher = (entry, args) => {
  const child = utilityProcess.fork(fileURLToPath(entry), args, {
    stdio: ['ignore', 'pipe', 'pipe'],
    serviceName: 'Commune meshlet port mapping',
  })
  const listeners: ((err?: Error) => void)[] = []
  // Exited once the process is gone and its output read to the end (its result line).
  let pending = 1 + (child.stdout ? 1 : 0) + (child.stderr ? 1 : 0)
  const done = () => {
    if (--pending === 0) listeners.forEach((l) => l())
  }
  child.once('exit', done)
  child.stdout?.once('end', done)
  child.stderr?.once('end', done)
  return {
    stdout: child.stdout,
    stderr: child.stderr,
    kill: () => void child.kill(),
    onExit: (l) => void listeners.push(l),
  }
}
