// What this machine has and uses, for the capacity sliders: their upper bounds (the host's
// totals) and the use shown beside them. What never changes while we run (CPUs, memory, arch)
// is read once; what does (CPU load, free memory, disk) is read only when someone asks, from the
// os module, statfs and /proc, never by starting programs: an idle daemon must stay idle, and
// the tools a cross-platform library shells out to (lscpu, dmidecode, df) cost more CPU than
// the daemon itself and block its event loop while they run.
import { readFile, statfs } from 'node:fs/promises'
import os from 'node:os'
import { resolve } from 'node:path'
import type { Capacity } from './api.js'

export interface HostSample {
  host: Capacity
  used: Capacity
}

/** What does not change while the process runs. */
export interface HostFacts {
  cpus: number
  cpuModel: string
  memoryBytes: number
  /** Node's name for the architecture, e.g. 'x64', 'arm64'. */
  arch: string
}

export class HostProbeError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options)
    this.name = 'HostProbeError'
  }
}

export interface HostMonitorOptions {
  /** A sample younger than this is answered again instead of reading anew (default 2 s). */
  maxAgeMs?: number
}

const MiB = 1_048_576

/** CPU time since boot, summed over all CPUs, in any unit as long as both use the same. */
interface CpuTimes {
  busy: number
  total: number
}

export class HostMonitor {
  readonly facts: HostFacts
  private readonly path: string
  private readonly maxAgeMs: number
  private last?: { at: number; sample: HostSample }
  private reading?: Promise<HostSample>
  private prevCpu?: CpuTimes

  /** `path`: storage is that of the filesystem holding it (the data directory; Docker's own
   *  storage is usually on the same disk of a laptop). */
  constructor(path: string, opts: HostMonitorOptions = {}) {
    this.path = resolve(path)
    this.maxAgeMs = opts.maxAgeMs ?? 2000
    const cpus = os.cpus()
    this.facts = {
      cpus: Math.max(1, cpus.length),
      cpuModel: cpus[0]?.model.trim() ?? '',
      memoryBytes: os.totalmem(),
      arch: os.arch(),
    }
  }

  /** Totals and use now, or as of at most `maxAgeMs` ago; callers asking at once share a read. */
  sample(): Promise<HostSample> {
    if (this.last && performance.now() - this.last.at < this.maxAgeMs) {
      return Promise.resolve(this.last.sample)
    }
    this.reading ??= this.read().finally(() => (this.reading = undefined))
    return this.reading
  }

  private async read(): Promise<HostSample> {
    try {
      const [disk, cpu] = await Promise.all([statfs(this.path), cpuTimes()])
      const { cpus, memoryBytes } = this.facts
      const sample: HostSample = {
        host: {
          cpuMillis: cpus * 1000,
          memoryMiB: Math.floor(memoryBytes / MiB),
          storageMiB: Math.floor((disk.blocks * disk.bsize) / MiB),
        },
        used: {
          cpuMillis: Math.round(this.cpuShare(cpu) * cpus * 1000),
          // Free memory counts what the kernel gives back on demand (MemAvailable on Linux),
          // so caches are not shown as use.
          memoryMiB: Math.floor(Math.max(0, memoryBytes - os.freemem()) / MiB),
          storageMiB: Math.floor(((disk.blocks - disk.bfree) * disk.bsize) / MiB),
        },
      }
      this.last = { at: performance.now(), sample }
      return sample
    } catch (err) {
      throw new HostProbeError('cannot read this machine’s capacity', { cause: err })
    }
  }

  // The share of CPU time spent busy since the previous sample. The first sample has no
  // previous one: the one-minute load average stands in (0 where the OS has none, i.e. Windows).
  private cpuShare(now: CpuTimes): number {
    const prev = this.prevCpu
    this.prevCpu = now
    const total = prev ? now.total - prev.total : 0
    const share =
      prev && total > 0 ? (now.busy - prev.busy) / total : (os.loadavg()[0] ?? 0) / this.facts.cpus
    return Math.min(1, Math.max(0, share))
  }
}

// On Linux the first line of /proc/stat, read asynchronously; elsewhere the os module, which
// asks the kernel directly (no program is started).
async function cpuTimes(): Promise<CpuTimes> {
  if (process.platform === 'linux') {
    const stat = await readFile('/proc/stat', 'utf8').catch(() => undefined)
    const line = stat?.slice(0, stat.indexOf('\n'))
    if (line?.startsWith('cpu ')) {
      // user nice system idle iowait irq softirq steal (guest time is already in user).
      const [user, nice, system, idle, iowait, irq, softirq, steal] = line
        .slice(4)
        .trim()
        .split(/\s+/)
        .map(Number) as number[]
      const idleAll = (idle ?? 0) + (iowait ?? 0)
      const busy = [user, nice, system, irq, softirq, steal].reduce<number>(
        (a, b) => a + (b ?? 0),
        0,
      )
      return { busy, total: busy + idleAll }
    }
  }
  let busy = 0
  let total = 0
  for (const { times } of os.cpus()) {
    busy += times.user + times.nice + times.sys + times.irq
    total += times.user + times.nice + times.sys + times.irq + times.idle
  }
  return { busy, total }
}
