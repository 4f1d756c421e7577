// The app when Docker goes away while it lends (the engine behind a socket proxy this file
// controls): the phase and the tray say it is not lending and why, and it lends again once
// Docker is back, on its own.
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { MeshletApp } from '../../core/app.js'
import { trayModel } from '../../electron/tray-menu.js'
import {
  createMember,
  eventually,
  link,
  memberApp,
  startNetwork,
  type Member,
  type Network,
} from '../_util.js'
import { dockerProxy, type DockerProxy } from './runtime/_util.js'

let net: Network
let alice: Member
let proxy: DockerProxy
let app: MeshletApp | undefined

beforeAll(async () => {
  net = await startNetwork()
  alice = await createMember(net, 'alice')
  await link(alice)
  proxy = await dockerProxy()
}, 60_000)

afterAll(async () => {
  await app?.close({ drain: false }).catch(() => undefined)
  await proxy?.close()
  await net?.close()
})

describe('the app when Docker goes away', () => {
  it('says it is not lending and why, in the phase and the tray, and lends again when it is back', async () => {
    const saved = process.env.DOCKER_HOST
    // The app builds its own Runtime, which reads DOCKER_HOST.
    process.env.DOCKER_HOST = `unix://${proxy.socketPath}`
    try {
      app = await memberApp(net, alice, { docker: true, retryMs: 300, sampleMs: 300 })
    } finally {
      if (saved === undefined) delete process.env.DOCKER_HOST
      else process.env.DOCKER_HOST = saved
    }
    const a = app
    await eventually('lending', () => a.snapshot().phase === 'lending')

    proxy.setDown(true)
    await eventually('not lending', () => a.snapshot().phase === 'error', 20_000)
    const s = a.snapshot()
    expect(s.detail).toMatch(/^Docker is not reachable .*Not lending until it is back; retrying\.$/)
    const tray = trayModel(s)
      .items.filter((i) => i.type === 'status')
      .map((i) => i.label)
    expect(tray[0]).toContain('Docker is not reachable')

    proxy.setDown(false)
    await eventually('lending again', () => a.snapshot().phase === 'lending', 30_000)
    expect(a.snapshot().detail).toBeUndefined()
  })
})
