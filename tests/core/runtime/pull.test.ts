// Images: pulled from the real local registry only when absent; bad references, missing tags,
// unreachable and disallowed registries each fail with their own error, naming the image.
import { execFileSync } from 'node:child_process'
import { afterAll, describe, expect, it } from 'vitest'
import {
  ImagePullError,
  InvalidImageError,
  InvalidSpecError,
  PolicyError,
  Runtime,
} from '../../../core/runtime/index.js'
import { REGISTRY_IMAGE, TEST_REGISTRY } from '../../infra.js'
import { docker, removeMeshletContainers, testDid, testSpec } from './_util.js'

const did = testDid()
const runtime = new Runtime({ meshletDid: did, docker })

afterAll(async () => {
  await runtime[Symbol.asyncDispose]()
  await removeMeshletContainers(did)
})

async function hasImage(ref: string): Promise<boolean> {
  try {
    await docker.getImage(ref).inspect()
    return true
  } catch {
    return false
  }
}

describe('Runtime images', () => {
  it('pulls a missing image from the registry, then runs it', async () => {
    try {
      execFileSync('docker', ['rmi', REGISTRY_IMAGE], { stdio: 'ignore' })
    } catch {
      // absent already
    }
    expect(await hasImage(REGISTRY_IMAGE)).toBe(false)
    const replica = await runtime.start(testSpec({ image: REGISTRY_IMAGE }))
    expect(replica.state).toBe('running')
    expect(replica.image).toBe(REGISTRY_IMAGE)
    expect(await hasImage(REGISTRY_IMAGE)).toBe(true)
    // Present now: ensureImage is a no-op.
    await runtime.ensureImage(REGISTRY_IMAGE)
    await runtime.stop(replica.containerId, { timeoutSec: 0 })
  })

  it('fails with ImagePullError for a tag the registry does not have', async () => {
    const image = `${TEST_REGISTRY}/commune/busybox:no-such-tag`
    const spec = testSpec({ image })
    const err = await runtime.start(spec).catch((e: unknown) => e)
    expect(err).toBeInstanceOf(ImagePullError)
    expect((err as ImagePullError).image).toBe(image)
    expect((err as Error).message).toContain(image)
    expect((err as Error).cause).toBeDefined()
    expect(await runtime.find(spec.workloadUri)).toEqual([])
    await expect(
      runtime.ensureImage(`${TEST_REGISTRY}/commune/no-such-repo:1`),
    ).rejects.toBeInstanceOf(ImagePullError)
  })

  it('fails with ImagePullError when the registry is unreachable', async () => {
    const image = '127.0.0.1:1/commune/busybox:1'
    const err = await runtime.ensureImage(image).catch((e: unknown) => e)
    expect(err).toBeInstanceOf(ImagePullError)
    expect((err as Error).message).toContain(image)
  })

  it('refuses a malformed reference with InvalidImageError before asking Docker', async () => {
    for (const image of ['Not/Valid', 'busybox:bad tag', 'a@sha256:short', 'a//b', ' x']) {
      await expect(runtime.ensureImage(image)).rejects.toBeInstanceOf(InvalidImageError)
      const spec = testSpec({ image })
      await expect(runtime.start(spec)).rejects.toBeInstanceOf(InvalidImageError)
      expect(await runtime.find(spec.workloadUri)).toEqual([])
    }
    await expect(runtime.ensureImage('')).rejects.toBeInstanceOf(InvalidImageError)
    await expect(runtime.start(testSpec({ image: '' }))).rejects.toBeInstanceOf(InvalidSpecError)
  })

  it('refuses images from registries off the allow-list, and runs those on it', async () => {
    const strict = new Runtime({ meshletDid: did, docker, registryAllowList: ['ghcr.io'] })
    const spec = testSpec({ image: REGISTRY_IMAGE })
    const err = await strict.start(spec).catch((e: unknown) => e)
    expect(err).toBeInstanceOf(PolicyError)
    expect((err as PolicyError).reason).toBe('registry-not-allowed')
    expect((err as Error).message).toContain(TEST_REGISTRY)
    await expect(strict.ensureImage('busybox')).rejects.toBeInstanceOf(PolicyError)
    expect(await strict.find(spec.workloadUri)).toEqual([])

    const local = new Runtime({ meshletDid: did, docker, registryAllowList: [TEST_REGISTRY] })
    const replica = await local.start(spec)
    expect(replica.state).toBe('running')
    await local.stop(replica.containerId, { timeoutSec: 0 })
  })

  it('gives up waiting when the caller aborts', async () => {
    const ac = new AbortController()
    ac.abort(new Error('changed my mind'))
    await expect(runtime.start(testSpec(), ac.signal)).rejects.toThrow('changed my mind')
    await expect(runtime.ensureImage(REGISTRY_IMAGE, ac.signal)).rejects.toThrow('changed my mind')
  })
})
