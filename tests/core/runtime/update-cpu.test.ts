// Throttling a guest: its CPU limit lowered on the real engine and restored, as the lending
// policy does while the lender uses the machine.
import { describe, expect, it } from 'vitest'
import {
  ForeignContainerError,
  InvalidSpecError,
  ReplicaNotFoundError,
} from '../../../core/runtime/index.js'
import { GuestThrottle, type ThrottleError } from '../../../core/policy/throttle.js'
import { TEST_IMAGE } from '../../infra.js'
import { docker, execIn, fileRuntime, randomId, testSpec } from './_util.js'

const { runtime } = fileRuntime()

async function nanoCpus(containerId: string): Promise<number | undefined> {
  return (await docker.getContainer(containerId).inspect()).HostConfig.NanoCpus
}

/** The CFS quota and period the kernel enforces, read from inside the guest's own cgroup
 *  (cgroup v2's cpu.max, or v1's two files). */
async function cpuMax(containerId: string): Promise<string> {
  const r = await execIn(containerId, [
    'sh',
    '-c',
    'cat /sys/fs/cgroup/cpu.max 2>/dev/null || echo $(cat /sys/fs/cgroup/cpu/cpu.cfs_quota_us) $(cat /sys/fs/cgroup/cpu/cpu.cfs_period_us)',
  ])
  return r.stdout.trim()
}

describe('Runtime.updateCpu and GuestThrottle', () => {
  it('throttles a running guest to a share of its CPU and restores it', async () => {
    const spec = testSpec({ resources: { cpuMillis: 800, memoryMiB: 64 } })
    const replica = await runtime.start(spec)
    expect(replica.cpuMillis).toBe(800)
    expect(await nanoCpus(replica.containerId)).toBe(800_000_000)
    expect(await cpuMax(replica.containerId)).toBe('80000 100000')

    const errors: ThrottleError[] = []
    const throttle = new GuestThrottle({ runtime, onError: (e) => errors.push(e) })
    const guest = { containerId: replica.containerId, askedMillis: 800 }
    await throttle.apply(0.25, [{ ...guest, currentMillis: replica.cpuMillis! }])
    expect(await nanoCpus(replica.containerId)).toBe(200_000_000)
    expect(await cpuMax(replica.containerId)).toBe('20000 100000')
    const listed = (await runtime.list()).find((r) => r.containerId === replica.containerId)
    expect(listed?.cpuMillis).toBe(200)
    // Still running, and nothing else about it changed.
    const info = await docker.getContainer(replica.containerId).inspect()
    expect(info.State.Running).toBe(true)
    expect(info.HostConfig.Memory).toBe(64 * 1024 * 1024)

    // A fresh throttle (a restarted daemon) restores from what the engine reports.
    const after = new GuestThrottle({ runtime, onError: (e) => errors.push(e) })
    await after.apply(1, [{ ...guest, currentMillis: listed!.cpuMillis! }])
    expect(await nanoCpus(replica.containerId)).toBe(800_000_000)
    expect(await cpuMax(replica.containerId)).toBe('80000 100000')
    expect(errors).toEqual([])
    await runtime.stop(replica.containerId, { timeoutSec: 0 })
  })

  it('reports a guest that is gone and keeps going with the rest', async () => {
    const replica = await runtime.start(testSpec())
    const errors: ThrottleError[] = []
    const throttle = new GuestThrottle({ runtime, onError: (e) => errors.push(e) })
    await throttle.apply(0.5, [
      { containerId: 'f'.repeat(64), askedMillis: 500 },
      { containerId: replica.containerId, askedMillis: 500, currentMillis: 500 },
    ])
    expect(errors).toHaveLength(1)
    expect(errors[0]!.cause).toBeInstanceOf(ReplicaNotFoundError)
    expect(await nanoCpus(replica.containerId)).toBe(250_000_000)
    await runtime.stop(replica.containerId, { timeoutSec: 0 })
  })

  it('refuses a limit under Docker’s floor and containers that are not ours', async () => {
    const replica = await runtime.start(testSpec())
    await expect(runtime.updateCpu(replica.containerId, 5)).rejects.toBeInstanceOf(InvalidSpecError)
    await expect(runtime.updateCpu(replica.containerId, 1.5)).rejects.toBeInstanceOf(
      InvalidSpecError,
    )
    await runtime.stop(replica.containerId, { timeoutSec: 0 })
    const foreign = await docker.createContainer({
      Image: TEST_IMAGE,
      Cmd: ['sleep', '60'],
      name: `commune-foreign-${randomId()}`,
    })
    try {
      await expect(runtime.updateCpu(foreign.id, 100)).rejects.toBeInstanceOf(ForeignContainerError)
    } finally {
      await foreign.remove({ force: true })
    }
  })
})
