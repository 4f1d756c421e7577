// The app when its world misbehaves: Docker missing at start (it says so and recovers on its
// own once Docker is back), and the PDS going away while it runs (calls fail with a clear error,
// the state says offline, and nothing is lost).
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { ApiError } from '../../core/api.js'
import type { MeshletApp } from '../../core/app.js'
import {
  createMember,
  eventually,
  link,
  startNetwork,
  type Member,
  type Network,
  memberApp,
} from '../_util.js'

let net: Network
let alice: Member
const apps: MeshletApp[] = []

beforeAll(async () => {
  net = await startNetwork()
  alice = await createMember(net, 'alice')
  await link(alice)
})

afterAll(async () => {
  for (const a of apps) await a.close({ drain: false }).catch(() => undefined)
  await net?.close().catch(() => undefined)
})

async function open(docker: boolean): Promise<MeshletApp> {
  const app = await memberApp(net, alice, { docker, retryMs: 300, sampleMs: 300 })
  apps.push(app)
  return app
}

describe('the app when things go away', () => {
  it('says Docker is missing, keeps trying, and lends once it is back', async () => {
    const saved = process.env.DOCKER_HOST
    process.env.DOCKER_HOST = 'unix:///nonexistent/docker.sock'
    let app: MeshletApp
    try {
      app = await open(true)
      const s = app.snapshot()
      expect(s.phase).toBe('error')
      expect(s.detail).toMatch(/Docker is not reachable/)
      // Still failing on the next tries: the phase stays put and says why.
      await new Promise((r) => setTimeout(r, 700))
      expect(app.snapshot().phase).toBe('error')
    } finally {
      if (saved === undefined) delete process.env.DOCKER_HOST
      else process.env.DOCKER_HOST = saved
    }
    await eventually('lending once Docker is back', () => app.snapshot().phase === 'lending')
    expect(app.snapshot().detail).toBeUndefined()
  })

  it('fails calls clearly and shows offline when the PDS goes away, keeping settings', async () => {
    const app = await open(false)
    await app.call('capacity.set', { cpuMillis: 300, memoryMiB: 300, storageMiB: 0 })
    await net.pds.close()
    const err = await app
      .call('workloads.submit', {
        image: 'commune-test/busybox:1',
        cpuMillis: 100,
        memoryMiB: 32,
        replicas: 1,
        command: [],
      })
      .catch((e: unknown) => e)
    expect(err).toBeInstanceOf(ApiError)
    expect((err as ApiError).code).toBe('unavailable')
    expect((err as ApiError).message).toMatch(/could not publish the workload/)
    expect((err as ApiError).message).not.toContain(alice.owner.password)
    await eventually('offline', () => app.snapshot().phase === 'offline', 30_000)
    expect(app.snapshot().detail).toMatch(/cannot reach (localhost|127\.0\.0\.1):\d+/)
    expect(app.snapshot().settings.offer).toEqual({ cpuMillis: 300, memoryMiB: 300, storageMiB: 0 })
  })
})
