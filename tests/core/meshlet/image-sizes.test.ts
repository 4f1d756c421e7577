// ImageSizes: the lender's maximum image size judged before bidding, from sizes asked of
// registries in the background. Pure logic over a clock and a look-up the test controls (the
// registry side is tests/core/runtime/image-policy.test.ts and tests/e2e/lender-policy.test.ts).
import { describe, expect, it } from 'vitest'
import { ImageSizes } from '../../../core/meshlet/image-sizes.js'

const MiB = 1024 * 1024

function setup(opts: { max?: number; ttlMs?: number } = {}) {
  let now = 0
  let max: number | undefined = opts.max ?? 10
  const asked: string[] = []
  const answers = new Map<string, { resolve: (n: number) => void; reject: (e: Error) => void }>()
  let learned = 0
  const sizes = new ImageSizes({
    maxMiB: () => max,
    bytesOf: (image) => {
      asked.push(image)
      return new Promise((resolve, reject) => answers.set(image, { resolve, reject }))
    },
    onLearned: () => learned++,
    now: () => now,
    retryMs: 1000,
    maxRetryMs: 4000,
    ...(opts.ttlMs !== undefined ? { ttlMs: opts.ttlMs } : {}),
  })
  const settle = () => new Promise((r) => setImmediate(r))
  return {
    sizes,
    asked,
    answer: async (image: string, bytes: number) => {
      answers.get(image)!.resolve(bytes)
      await settle()
    },
    fail: async (image: string) => {
      answers.get(image)!.reject(new Error('registry away'))
      await settle()
    },
    tick: (ms: number) => (now += ms),
    setMax: (m: number | undefined) => (max = m),
    learned: () => learned,
  }
}

describe('ImageSizes', () => {
  it('judges nothing without a maximum, and asks no registry', () => {
    const t = setup()
    t.setMax(undefined)
    expect(t.sizes.judge('busybox:1')).toBeUndefined()
    expect(t.asked).toEqual([])
  })

  it('is unknown until the registry answers, asks once, then judges against the current maximum', async () => {
    const t = setup({ max: 10 })
    expect(t.sizes.judge('big:1')).toBe('unknown')
    expect(t.sizes.judge('big:1')).toBe('unknown')
    expect(t.asked).toEqual(['big:1'])
    await t.answer('big:1', 12 * MiB)
    expect(t.learned()).toBe(1)
    expect(t.sizes.judge('big:1')).toBe('too-large')
    t.setMax(20)
    expect(t.sizes.judge('big:1')).toBe('fits')
    expect(t.asked).toEqual(['big:1'])
  })

  it('asks again after a failure only with back-off, doubling to a cap', async () => {
    const t = setup()
    t.sizes.judge('x:1')
    await t.fail('x:1')
    expect(t.learned()).toBe(1)
    expect(t.sizes.judge('x:1')).toBe('unknown')
    expect(t.asked).toHaveLength(1)
    t.tick(1000)
    expect(t.sizes.judge('x:1')).toBe('unknown')
    expect(t.asked).toHaveLength(2)
    await t.fail('x:1')
    t.tick(1999)
    t.sizes.judge('x:1')
    expect(t.asked).toHaveLength(2)
    t.tick(1)
    t.sizes.judge('x:1')
    expect(t.asked).toHaveLength(3)
    await t.answer('x:1', MiB)
    expect(t.sizes.judge('x:1')).toBe('fits')
  })

  it('refreshes a tag after the TTL, keeping the last verdict meanwhile; a digest is kept for good', async () => {
    const t = setup({ ttlMs: 5000 })
    const pinned = `app:1@sha256:${'a'.repeat(64)}`
    t.sizes.judge('app:1')
    t.sizes.judge(pinned)
    await t.answer('app:1', MiB)
    await t.answer(pinned, MiB)
    t.tick(5000)
    expect(t.sizes.judge('app:1')).toBe('fits')
    expect(t.sizes.judge(pinned)).toBe('fits')
    expect(t.asked).toEqual(['app:1', pinned, 'app:1'])
    await t.answer('app:1', 50 * MiB)
    expect(t.sizes.judge('app:1')).toBe('too-large')
  })

  it('remembers a bounded number of images', async () => {
    let now = 0
    const asked: string[] = []
    const sizes = new ImageSizes({
      maxMiB: () => 10,
      bytesOf: async (image) => {
        asked.push(image)
        return MiB
      },
      onLearned: () => undefined,
      now: () => now++,
      maxEntries: 2,
    })
    for (const i of ['a:1', 'b:1', 'c:1']) sizes.judge(i)
    await new Promise((r) => setImmediate(r))
    sizes.judge('a:1')
    expect(asked).toEqual(['a:1', 'b:1', 'c:1', 'a:1'])
  })
})
