// What this machine has and uses, for the capacity sliders: their upper bounds (the host's
// totals) and the use shown beside them. Read with systeminformation, which works the same on
// macOS, Windows and Linux.
import { resolve, sep } from 'node:path'
import si from 'systeminformation'
import type { Capacity } from './api.js'

export interface HostSample {
  host: Capacity
  used: Capacity
}

export class HostProbeError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options)
    this.name = 'HostProbeError'
  }
}

/** Totals and use now. Storage is that of the filesystem holding `path` (the data directory;
 *  Docker's own storage is usually on the same disk of a laptop). */
export async function sampleHost(path: string): Promise<HostSample> {
  try {
    const [cpu, mem, load, disks] = await Promise.all([
      si.cpu(),
      si.mem(),
      si.currentLoad(),
      si.fsSize(),
    ])
    const cores = Math.max(1, cpu.cores)
    const disk = containing(disks, resolve(path))
    const mib = (bytes: number) => Math.floor(bytes / 1_048_576)
    return {
      host: {
        cpuMillis: cores * 1000,
        memoryMiB: mib(mem.total),
        storageMiB: disk ? mib(disk.size) : 0,
      },
      used: {
        cpuMillis: Math.round((Math.min(100, Math.max(0, load.currentLoad)) / 100) * cores * 1000),
        // "active" excludes caches the kernel gives back on demand.
        memoryMiB: mib(mem.active),
        storageMiB: disk ? mib(disk.used) : 0,
      },
    }
  } catch (err) {
    throw new HostProbeError('cannot read this machine’s capacity', { cause: err })
  }
}

function containing(disks: si.Systeminformation.FsSizeData[], path: string) {
  let best: si.Systeminformation.FsSizeData | undefined
  for (const d of disks) {
    const mount = d.mount.endsWith(sep) ? d.mount : d.mount + sep
    const inside = path === d.mount || path.startsWith(mount) || d.mount === sep
    if (inside && (!best || d.mount.length > best.mount.length)) best = d
  }
  return best
}
