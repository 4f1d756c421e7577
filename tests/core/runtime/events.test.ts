// watch(): the engine's events for our guests, through exits, OOM kills, handler failures and
// the engine going away and coming back.
import Docker from 'dockerode'
import { describe, expect, it } from 'vitest'
import {
  EventHandlerError,
  LABELS,
  Runtime,
  RuntimeUnavailableError,
  type ReplicaEvent,
} from '../../../core/runtime/index.js'
import { TEST_IMAGE } from '../../infra.js'
import { docker, dockerProxy, testDid, testSpec, waitFor, fileRuntime } from './_util.js'

const { did, runtime, errors } = fileRuntime()

function collect(rt: Runtime, signal: AbortSignal): ReplicaEvent[] {
  const events: ReplicaEvent[] = []
  rt.watch((e) => events.push(e), signal)
  return events
}

function eventOf(events: ReplicaEvent[], containerId: string, action: ReplicaEvent['action']) {
  return () => events.find((e) => e.containerId === containerId && e.action === action)
}

describe('Runtime.watch', () => {
  it('reports start and die with the exit code, then destroy on stop', async () => {
    const ac = new AbortController()
    const events = collect(runtime, ac.signal)
    const spec = testSpec({ round: 4, cid: 'bafyreiexit3', command: ['sh', '-c', 'exit 3'] })
    const replica = await runtime.start(spec)
    const die = await waitFor(eventOf(events, replica.containerId, 'die'), 'a die event')
    expect(die).toEqual({
      containerId: replica.containerId,
      workloadUri: spec.workloadUri,
      cid: 'bafyreiexit3',
      round: 4,
      action: 'die',
      exitCode: 3,
    })
    expect(events.find((e) => e.containerId === replica.containerId)?.action).toBe('start')
    await runtime.stop(replica.containerId)
    await waitFor(eventOf(events, replica.containerId, 'destroy'), 'a destroy event')
    ac.abort()
    expect(errors).toEqual([])
  })

  it('reports a guest that exceeds its memory as OOM-killed, and the host stays up', async () => {
    const ac = new AbortController()
    const events = collect(runtime, ac.signal)
    const spec = testSpec({
      // dd allocates its whole block: 64 MiB in a 16 MiB guest.
      command: ['dd', 'if=/dev/zero', 'of=/dev/null', 'bs=64M', 'count=1'],
      resources: { cpuMillis: 500, memoryMiB: 16 },
    })
    const replica = await runtime.start(spec)
    const exited = await waitFor(async () => {
      const [r] = await runtime.find(spec.workloadUri)
      return r?.state === 'exited' ? r : undefined
    }, 'the guest to be killed')
    expect(exited.oomKilled).toBe(true)
    expect(exited.exitCode).toBe(137)
    const reported = await waitFor(
      () =>
        events.find(
          (e) =>
            e.containerId === replica.containerId &&
            (e.action === 'oom' || (e.action === 'die' && e.exitCode === 137)),
        ),
      'an oom or die event',
    )
    expect(['oom', 'die']).toContain(reported.action)
    await runtime.ping()
    await runtime.stop(replica.containerId)
    ac.abort()
  })

  it('keeps going when the handler throws, reporting EventHandlerError', async () => {
    const ac = new AbortController()
    const seen: ReplicaEvent[] = []
    const handlerErrors: Error[] = []
    const rt = new Runtime({ meshletDid: did, docker, onError: (e) => handlerErrors.push(e) })
    rt.watch((e) => {
      seen.push(e)
      throw new Error('handler bug')
    }, ac.signal)
    rt.watch(async () => {
      throw new Error('async handler bug')
    }, ac.signal)
    const first = await rt.start(testSpec())
    const second = await rt.start(testSpec())
    await waitFor(eventOf(seen, second.containerId, 'start'), 'the second start event')
    expect(seen.some((e) => e.containerId === first.containerId)).toBe(true)
    await waitFor(
      () => (handlerErrors.length >= 4 ? true : undefined),
      'both handlers to fail on both starts',
    )
    expect(handlerErrors.every((e) => e instanceof EventHandlerError)).toBe(true)
    const causes = handlerErrors.map((e) => (e.cause as Error).message)
    expect(causes).toContain('handler bug')
    expect(causes).toContain('async handler bug')
    await rt.stop(first.containerId, { timeoutSec: 0 })
    await rt.stop(second.containerId, { timeoutSec: 0 })
    ac.abort()
    await rt[Symbol.asyncDispose]()
  })

  it('never reports containers without our labels', async () => {
    const ac = new AbortController()
    const events = collect(runtime, ac.signal)
    const foreign = await docker.createContainer({
      Image: TEST_IMAGE,
      Cmd: ['sh', '-c', 'exit 5'],
      Labels: {
        [LABELS.meshlet]: testDid(),
        [LABELS.workload]: 'at://x/y/z',
        [LABELS.round]: '0',
        [LABELS.cid]: 'x',
      },
    })
    try {
      await foreign.start()
      await foreign.wait()
      // Then one of ours, so we know the watch has seen past the foreign container's events.
      const ours = await runtime.start(testSpec({ command: ['sh', '-c', 'exit 0'] }))
      await waitFor(eventOf(events, ours.containerId, 'die'), 'our die event')
      expect(events.some((e) => e.containerId === foreign.id)).toBe(false)
      await runtime.stop(ours.containerId)
    } finally {
      await foreign.remove({ force: true })
      ac.abort()
    }
  })

  it('reconnects after the engine goes away, replays what it missed, ends only on abort', async () => {
    const proxy = await dockerProxy()
    const watchErrors: Error[] = []
    const viaProxy = new Runtime({
      meshletDid: did,
      docker: new Docker({ socketPath: proxy.socketPath }),
      onError: (e) => watchErrors.push(e),
    })
    const ac = new AbortController()
    const events = collect(viaProxy, ac.signal)
    try {
      const before = await runtime.start(testSpec())
      await waitFor(eventOf(events, before.containerId, 'start'), 'a start event before the cut')

      proxy.setDown(true)
      await waitFor(
        () => (watchErrors.some((e) => e instanceof RuntimeUnavailableError) ? true : undefined),
        'the watch to report the engine gone',
      )
      // While the watch cannot reach the engine, a replica runs and dies.
      const during = await runtime.start(testSpec({ command: ['sh', '-c', 'exit 9'] }))
      await docker.getContainer(during.containerId).wait()
      await waitFor(() => (watchErrors.length >= 2 ? true : undefined), 'a failed reconnect')
      proxy.setDown(false)

      const die = await waitFor(eventOf(events, during.containerId, 'die'), 'the missed die event')
      expect(die.exitCode).toBe(9)
      expect(
        events.filter((e) => e.containerId === before.containerId && e.action === 'start'),
      ).toHaveLength(1)
      expect(watchErrors.every((e) => e instanceof RuntimeUnavailableError)).toBe(true)

      ac.abort()
      await viaProxy[Symbol.asyncDispose]() // waits for the watch loop to end
      const count = watchErrors.length
      proxy.setDown(true)
      await runtime.stop(before.containerId, { timeoutSec: 0 })
      await runtime.stop(during.containerId)
      expect(watchErrors.length).toBe(count)
    } finally {
      ac.abort()
      await proxy.close()
    }
  })
})
