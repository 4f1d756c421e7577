// Docker away: at the start, or in the middle of an operation. Every call rejects with
// RuntimeUnavailableError wrapping the cause; nothing crashes, nothing is left unhandled.
import Docker from 'dockerode'
import { afterAll, describe, expect, it } from 'vitest'
import { Runtime, RuntimeUnavailableError } from '../../../core/runtime/index.js'
import {
  docker,
  dockerProxy,
  removeMeshletContainers,
  testDid,
  testSpec,
  waitFor,
} from './_util.js'

const did = testDid()

afterAll(async () => {
  await removeMeshletContainers(did)
})

async function expectUnavailable(p: Promise<unknown>): Promise<void> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  )
  expect(err).toBeInstanceOf(RuntimeUnavailableError)
  expect((err as Error).cause).toBeInstanceOf(Error)
}

describe('Docker unreachable', () => {
  const errors: Error[] = []
  const away = new Runtime({
    meshletDid: did,
    docker: new Docker({ socketPath: '/nonexistent.sock' }),
    onError: (e) => errors.push(e),
  })

  it('rejects every call with RuntimeUnavailableError', async () => {
    await expectUnavailable(away.ping())
    await expectUnavailable(away.start(testSpec()))
    await expectUnavailable(away.list())
    await expectUnavailable(away.find('at://did:plc:x/commune.scheduler.workload/y'))
    await expectUnavailable(away.stop('abc'))
    await expectUnavailable(away.usage('abc'))
    await expectUnavailable(away.ensureImage('busybox:1'))
  })

  it('keeps retrying the watch through onError until aborted', async () => {
    const ac = new AbortController()
    away.watch(() => undefined, ac.signal)
    await waitFor(() => (errors.length >= 2 ? true : undefined), 'two failed connections')
    expect(errors.every((e) => e instanceof RuntimeUnavailableError)).toBe(true)
    ac.abort()
    await away[Symbol.asyncDispose]() // resolves once the watch loop has ended
  })
})

describe('Docker going away mid-operation', () => {
  it('rejects the call in flight with RuntimeUnavailableError', async () => {
    const proxy = await dockerProxy()
    const runtime = new Runtime({
      meshletDid: did,
      docker: new Docker({ socketPath: proxy.socketPath }),
    })
    try {
      // A guest that ignores SIGTERM, so stop() waits out its whole timeout on the engine.
      const replica = await runtime.start(
        testSpec({ command: ['sh', '-c', 'trap "" TERM; while :; do sleep 1; done'] }),
      )
      const stopping = runtime.stop(replica.containerId, { timeoutSec: 30 })
      await proxy.requestSeen('/stop')
      proxy.setDown(true)
      await expectUnavailable(stopping)
      await expectUnavailable(runtime.list())
      proxy.setDown(false)
      // The engine is back: the same Runtime works again.
      expect((await runtime.list()).map((r) => r.containerId)).toContain(replica.containerId)
      await docker.getContainer(replica.containerId).remove({ force: true })
    } finally {
      await runtime[Symbol.asyncDispose]()
      await proxy.close()
    }
  })

  it('rejects a pull whose engine goes away before answering', async () => {
    const proxy = await dockerProxy()
    const runtime = new Runtime({
      meshletDid: did,
      docker: new Docker({ socketPath: proxy.socketPath }),
    })
    try {
      const pulling = runtime.ensureImage('127.0.0.1:5055/commune/never-there:1')
      await proxy.requestSeen('/images/create', { hold: true })
      proxy.setDown(true)
      await expectUnavailable(pulling)
    } finally {
      await runtime[Symbol.asyncDispose]()
      await proxy.close()
    }
  })
})
