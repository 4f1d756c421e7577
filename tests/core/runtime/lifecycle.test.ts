// Start, find, sample, stop: a replica's life against the real engine.
import { setTimeout as sleep } from 'node:timers/promises'
import { describe, expect, it } from 'vitest'
import {
  ForeignContainerError,
  InvalidSpecError,
  LABELS,
  ReplicaConflictError,
  ReplicaNotFoundError,
  Runtime,
  replicaName,
} from '../../../core/runtime/index.js'
import { TEST_IMAGE } from '../../infra.js'
import {
  docker,
  exists,
  logsOf,
  randomId,
  testDid,
  testSpec,
  waitFor,
  fileRuntime,
} from './_util.js'

const { did, runtime, errors } = fileRuntime()

describe('Runtime lifecycle', () => {
  it('starts a replica with all four labels, lists it, finds it, stops it, and stops again', async () => {
    const spec = testSpec({ round: 3, cid: 'bafyreilifecycle' })
    const replica = await runtime.start(spec)
    expect(replica).toMatchObject({
      workloadUri: spec.workloadUri,
      cid: 'bafyreilifecycle',
      round: 3,
      meshletDid: did,
      state: 'running',
      image: TEST_IMAGE,
    })
    expect(replica.startedAt).toBeTruthy()

    const info = await docker.getContainer(replica.containerId).inspect()
    expect(info.State.Running).toBe(true)
    expect(info.Name).toBe(`/${replicaName(did, spec.workloadUri, 3)}`)
    expect(info.Config.Labels).toMatchObject({
      [LABELS.workload]: spec.workloadUri,
      [LABELS.meshlet]: did,
      [LABELS.round]: '3',
      [LABELS.cid]: 'bafyreilifecycle',
    })
    expect(info.Config.Cmd).toEqual(['sleep', '3600'])

    const listed = await runtime.list()
    expect(listed.map((r) => r.containerId)).toContain(replica.containerId)
    const found = await runtime.find(spec.workloadUri)
    expect(found).toHaveLength(1)
    expect(found[0]).toMatchObject({ containerId: replica.containerId, state: 'running' })
    expect(await runtime.find(`${spec.workloadUri}-other`)).toEqual([])

    await runtime.stop(replica.containerId, { timeoutSec: 1 })
    expect(await exists(replica.containerId)).toBe(false)
    expect(await runtime.find(spec.workloadUri)).toEqual([])
    await runtime.stop(replica.containerId) // already gone: fine
    await runtime.stop('0123456789ab') // never existed: fine
  })

  it('runs the image default CMD when no command is given', async () => {
    const replica = await runtime.start(testSpec({ command: undefined }))
    const info = await docker.getContainer(replica.containerId).inspect()
    expect(info.Config.Cmd).toEqual([
      '/bin/sh',
      '-c',
      'echo hello from a commune meshlet; sleep 3600',
    ])
    const logs = await waitFor(async () => {
      const text = await logsOf(replica.containerId)
      return text.includes('hello') ? text : undefined
    }, 'the default CMD to print hello')
    expect(logs).toContain('hello from a commune meshlet')
    await runtime.stop(replica.containerId, { timeoutSec: 0 })
  })

  it('never duplicates a replica: a second start returns the running one', async () => {
    const spec = testSpec()
    const [a, b] = await Promise.all([runtime.start(spec), runtime.start(spec)])
    expect(b.containerId).toBe(a.containerId)
    const again = await runtime.start(spec)
    expect(again.containerId).toBe(a.containerId)
    expect(await runtime.find(spec.workloadUri)).toHaveLength(1)

    // Another version of the same workload in the same round is a conflict, not a second copy.
    await expect(runtime.start({ ...spec, cid: 'bafyreiother' })).rejects.toBeInstanceOf(
      ReplicaConflictError,
    )
    // Two Runtimes of one meshlet (say, a restarted daemon and the old one) race on the name.
    const other = new Runtime({ meshletDid: did, docker })
    const raced = testSpec()
    const [c, d] = await Promise.all([runtime.start(raced), other.start(raced)])
    expect(d.containerId).toBe(c.containerId)
    expect(await runtime.find(raced.workloadUri)).toHaveLength(1)
    await runtime.stop(c.containerId, { timeoutSec: 0 })

    // A new round is a new replica.
    const next = await runtime.start({ ...spec, round: 1 })
    expect(next.containerId).not.toBe(a.containerId)
    expect((await runtime.find(spec.workloadUri)).map((r) => r.round)).toEqual([0, 1])
    await runtime.stop(a.containerId, { timeoutSec: 0 })
    await runtime.stop(next.containerId, { timeoutSec: 0 })
  })

  it('keeps an exited replica for its exit code and refuses to start it over until stopped', async () => {
    const spec = testSpec({ command: ['sh', '-c', 'exit 7'] })
    const replica = await runtime.start(spec)
    const exited = await waitFor(async () => {
      const [r] = await runtime.find(spec.workloadUri)
      return r?.state === 'exited' ? r : undefined
    }, 'the replica to exit')
    expect(exited.exitCode).toBe(7)
    expect(exited.oomKilled).toBe(false)
    expect(exited.finishedAt).toBeTruthy()
    expect((await runtime.list()).map((r) => r.containerId)).toContain(replica.containerId)

    const err = await runtime.start(spec).catch((e: unknown) => e)
    expect(err).toBeInstanceOf(ReplicaConflictError)
    expect((err as Error).message).toMatch(/exited \(exit code 7\).*stop\(\)/)

    await runtime.stop(replica.containerId)
    const restarted = await runtime.start({ ...spec, command: ['sleep', '3600'] })
    expect(restarted.state).toBe('running')
    await runtime.stop(restarted.containerId, { timeoutSec: 0 })
  })

  it('reports a paused replica as paused, returns it on a second start, and stops it', async () => {
    const spec = testSpec()
    const replica = await runtime.start(spec)
    // Right after start the engine may still answer "not running" to a pause; try again.
    await waitFor(
      () =>
        docker
          .getContainer(replica.containerId)
          .pause()
          .then(
            () => true,
            () => undefined,
          ),
      'the pause to take',
    )
    const [paused] = await runtime.find(spec.workloadUri)
    expect(paused?.state).toBe('paused')
    expect((await runtime.start(spec)).containerId).toBe(replica.containerId)
    await runtime.stop(replica.containerId, { timeoutSec: 1 })
    expect(await exists(replica.containerId)).toBe(false)
  })

  it('never lists a container without our labels and refuses to stop it', async () => {
    const foreign = await docker.createContainer({
      Image: TEST_IMAGE,
      Cmd: ['sleep', '3600'],
      name: `commune-foreign-${randomId()}`,
      Labels: { [LABELS.workload]: 'at://did:plc:x/commune.scheduler.workload/y' },
    })
    // Labelled for another meshlet on the same engine: just as foreign.
    const otherMeshlet = await docker.createContainer({
      Image: TEST_IMAGE,
      Cmd: ['sleep', '3600'],
      Labels: {
        [LABELS.meshlet]: testDid(),
        [LABELS.workload]: 'at://did:plc:x/commune.scheduler.workload/y',
        [LABELS.round]: '0',
        [LABELS.cid]: 'bafyreix',
      },
    })
    try {
      await foreign.start()
      const ids = (await runtime.list()).map((r) => r.containerId)
      expect(ids).not.toContain(foreign.id)
      expect(ids).not.toContain(otherMeshlet.id)
      expect(await runtime.find('at://did:plc:x/commune.scheduler.workload/y')).toEqual([])
      await expect(runtime.stop(foreign.id)).rejects.toBeInstanceOf(ForeignContainerError)
      await expect(runtime.stop(otherMeshlet.id)).rejects.toBeInstanceOf(ForeignContainerError)
      await expect(runtime.usage(foreign.id)).rejects.toBeInstanceOf(ForeignContainerError)
      expect((await foreign.inspect()).State.Running).toBe(true)
      expect(await exists(otherMeshlet.id)).toBe(true)
    } finally {
      await foreign.remove({ force: true })
      await otherMeshlet.remove({ force: true })
    }
  })

  it('refuses impossible resources before creating anything', async () => {
    for (const resources of [
      { cpuMillis: 0, memoryMiB: 64 },
      { cpuMillis: 500, memoryMiB: 5 },
      { cpuMillis: 500.5, memoryMiB: 64 },
      { cpuMillis: 500, memoryMiB: 64.25 },
      { cpuMillis: 1_000_000, memoryMiB: 64 }, // more CPUs than this host has
      { cpuMillis: 500, memoryMiB: 1024 * 1024 }, // more memory than this host has
    ]) {
      const spec = testSpec({ resources })
      await expect(runtime.start(spec)).rejects.toBeInstanceOf(InvalidSpecError)
      expect(await exists(replicaName(did, spec.workloadUri, spec.round))).toBe(false)
      expect(await runtime.find(spec.workloadUri)).toEqual([])
    }
  })

  it('reports plausible usage for a busy container', async () => {
    const replica = await runtime.start(
      testSpec({
        command: ['sh', '-c', 'while :; do :; done'],
        resources: { cpuMillis: 1000, memoryMiB: 32 },
      }),
    )
    const usage = await waitFor(async () => {
      const u = await runtime.usage(replica.containerId)
      return u.cpuMilliSeconds > 50 ? u : undefined
    }, 'the busy loop to use some CPU')
    expect(usage.cpuMilliSeconds).toBeGreaterThan(50)
    expect(Number.isInteger(usage.cpuMilliSeconds)).toBe(true)
    expect(usage.memoryMiB).toBeGreaterThanOrEqual(0)
    expect(usage.memoryMiB).toBeLessThanOrEqual(32)
    expect(usage.memoryPeakMiB).toBeGreaterThan(0)
    expect(usage.memoryPeakMiB).toBeLessThanOrEqual(32)
    expect(usage.wallMs).toBeGreaterThan(0)
    // CPU time is a counter: a later sample never goes down.
    await sleep(200)
    const later = await runtime.usage(replica.containerId)
    expect(later.cpuMilliSeconds).toBeGreaterThanOrEqual(usage.cpuMilliSeconds)

    // Once stopped, the last sample is kept.
    await docker.getContainer(replica.containerId).stop({ t: 0 })
    const after = await runtime.usage(replica.containerId)
    expect(after.cpuMilliSeconds).toBe(later.cpuMilliSeconds)
    expect(after.memoryMiB).toBe(0)
    expect(after.wallMs).toBeGreaterThan(0)
    await runtime.stop(replica.containerId)
    await expect(runtime.usage(replica.containerId)).rejects.toBeInstanceOf(ReplicaNotFoundError)
    expect(errors).toEqual([])
  })
})
