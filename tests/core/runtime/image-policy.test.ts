// The lender's image policy against the real local registry: a digest-pinned image runs only
// while its tag still has that digest, and the maximum image size is checked against the
// registry's manifest before a byte is pulled. Each run pushes its own images under a unique
// name (the test registry does not allow deletes, so only the local tags are removed after).
import { execFileSync } from 'node:child_process'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import {
  ImageDigestMismatchError,
  PolicyError,
  Runtime,
  imageDownloadBytes,
  parseImageRef,
  registryBase,
} from '../../../core/runtime/index.js'
import { parseChallenge } from '../../../core/runtime/registry.js'
import { REGISTRY_IMAGE, TEST_REGISTRY } from '../../infra.js'
import { docker, randomId, removeMeshletContainers, testDid, testSpec } from './_util.js'

const did = testDid()
const runtime = new Runtime({ meshletDid: did, docker })
const repo = `${TEST_REGISTRY}/guard-test-${randomId()}/pin`
const created: string[] = []
let first: string
let second: string

const sh = (...args: string[]) => execFileSync('docker', args, { encoding: 'utf8' }).trim()

/** Builds a one-label variant of the test image as `tag`, pushes it, returns its digest. */
function pushVariant(tag: string, label: string): string {
  execFileSync('docker', ['build', '-q', '-t', tag, '-'], {
    input: `FROM ${REGISTRY_IMAGE}\nLABEL commune.test=${label}\n`,
    stdio: ['pipe', 'ignore', 'ignore'],
  })
  created.push(tag)
  const out = sh('push', tag)
  const digest = /digest: (sha256:[a-f0-9]{64})/.exec(out)?.[1]
  if (!digest) throw new Error(`no digest in: ${out}`)
  return digest
}

function removeLocal(ref: string): void {
  try {
    execFileSync('docker', ['rmi', '-f', ref], { stdio: 'ignore' })
  } catch {
    // absent already
  }
}

beforeAll(() => {
  sh('pull', REGISTRY_IMAGE)
  first = pushVariant(`${repo}:v1`, 'first')
  // Re-tagged: the same tag now names other content.
  second = pushVariant(`${repo}:v1`, 'second')
  for (const t of created) removeLocal(t)
}, 60_000)

afterAll(async () => {
  await runtime[Symbol.asyncDispose]()
  await removeMeshletContainers(did)
  for (const t of created) removeLocal(t)
  for (const d of [first, second]) if (d) removeLocal(`${repo}@${d}`)
})

describe('digest pinning', () => {
  it('refuses a pinned image whose tag was re-tagged to other content, naming both', async () => {
    expect(first).not.toBe(second)
    const image = `${repo}:v1@${first}`
    const spec = testSpec({ image })
    const err = await runtime.start(spec).catch((e: unknown) => e)
    expect(err).toBeInstanceOf(ImageDigestMismatchError)
    expect((err as Error).message).toMatch(/^digest-mismatch: /)
    expect((err as ImageDigestMismatchError).current).toBe(second)
    expect(await runtime.find(spec.workloadUri)).toEqual([])
    await expect(runtime.ensureImage(image)).rejects.toBeInstanceOf(ImageDigestMismatchError)
  })

  it('runs the image when the pinned digest is the tag’s', async () => {
    const replica = await runtime.start(testSpec({ image: `${repo}:v1@${second}` }))
    expect(replica.state).toBe('running')
    const info = await docker.getContainer(replica.containerId).inspect()
    const image = await docker.getImage(info.Image).inspect()
    expect(image.RepoDigests).toContain(`${repo}@${second}`)
    expect(image.Config.Labels?.['commune.test']).toBe('second')
    await runtime.stop(replica.containerId, { timeoutSec: 0 })
  })
})

describe('maximum image size', () => {
  it('reads the download size from the registry’s manifest', async () => {
    const bytes = await imageDownloadBytes(parseImageRef(REGISTRY_IMAGE), { arch: 'amd64' })
    // busybox: about a megabyte compressed, config included.
    expect(bytes).toBeGreaterThan(1024 * 1024)
    expect(bytes).toBeLessThan(2 * 1024 * 1024)
  })

  it('refuses a larger image before pulling it, and pulls one within the limit', async () => {
    const image = `${repo}:v1`
    removeLocal(image)
    const small = new Runtime({ meshletDid: did, docker, maxImageMiB: 1 })
    try {
      const err = await small.start(testSpec({ image })).catch((e: unknown) => e)
      expect(err).toBeInstanceOf(PolicyError)
      expect((err as PolicyError).reason).toBe('image-too-large')
      expect((err as Error).message).toMatch(/^image-too-large: .* at most 1 MiB/)
      await expect(docker.getImage(image).inspect()).rejects.toThrow()

      small.setMaxImageMiB(2)
      const replica = await small.start(testSpec({ image }))
      expect(replica.state).toBe('running')
      await small.stop(replica.containerId, { timeoutSec: 0 })
    } finally {
      await small[Symbol.asyncDispose]()
      removeLocal(image)
    }
  })

  it('refuses when the registry cannot say how large the image is', async () => {
    const limited = new Runtime({ meshletDid: did, docker, maxImageMiB: 100 })
    try {
      const err = await limited
        .start(testSpec({ image: '127.0.0.1:9/nobody/here:1' }))
        .catch((e: unknown) => e)
      expect(err).toBeInstanceOf(PolicyError)
      expect((err as PolicyError).reason).toBe('image-size-unknown')
    } finally {
      await limited[Symbol.asyncDispose]()
    }
  })

  it('rejects a limit that is not a positive whole number of MiB', () => {
    for (const bad of [0, -1, 1.5, Number.NaN]) {
      expect(() => runtime.setMaxImageMiB(bad)).toThrow(TypeError)
    }
  })
})

describe('registry protocol details', () => {
  it('speaks HTTP to loopback registries only, and finds Docker Hub’s API host', () => {
    expect(registryBase('127.0.0.1:5055')).toBe('http://127.0.0.1:5055')
    expect(registryBase('localhost:5000')).toBe('http://localhost:5000')
    expect(registryBase('[::1]:5000')).toBe('http://[::1]:5000')
    expect(registryBase('ghcr.io')).toBe('https://ghcr.io')
    expect(registryBase('127.0.0.1.example.com')).toBe('https://127.0.0.1.example.com')
    expect(registryBase('docker.io')).toBe('https://registry-1.docker.io')
  })

  it('parses a bearer challenge, and nothing else', () => {
    expect(
      parseChallenge(
        'Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/busybox:pull"',
      ),
    ).toEqual({
      realm: 'https://auth.docker.io/token',
      service: 'registry.docker.io',
      scope: 'repository:library/busybox:pull',
    })
    expect(parseChallenge('Basic realm="x"')).toBeUndefined()
    expect(parseChallenge('Bearer service="x"')).toBeUndefined()
    expect(parseChallenge('')).toBeUndefined()
  })
})
