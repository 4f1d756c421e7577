import { describe, expect, it } from 'vitest'
import { registryAdmitted, registryOf, workloadProblems } from '../../../core/scheduling/index.js'
import type { WorkloadRecord } from '../../../core/lexicon/index.js'

const record = (patch: Partial<WorkloadRecord>): WorkloadRecord =>
  ({
    image: 'busybox:1.36',
    resources: { cpuMillis: 100, memoryMiB: 32 },
    replicas: 1,
    createdAt: '2026-01-01T00:00:00.000Z',
    ...patch,
  }) as WorkloadRecord

describe('workloadProblems', () => {
  it('finds nothing wrong at Docker’s minimums', () => {
    expect(workloadProblems(record({ resources: { cpuMillis: 10, memoryMiB: 6 } }))).toEqual([])
  })

  it.each([
    [{ resources: { cpuMillis: 9, memoryMiB: 32 } }, /cpuMillis must be at least 10/],
    [{ resources: { cpuMillis: 1, memoryMiB: 32 } }, /0\.01 CPU/],
    [{ resources: { cpuMillis: 100, memoryMiB: 5 } }, /memoryMiB must be at least 6/],
    [{ resources: { cpuMillis: 10.5, memoryMiB: 32 } }, /cpuMillis/],
    [{ resources: undefined as never }, /cpuMillis/],
    [{ image: 'Busybox' }, /invalid image reference/],
    [{ image: 'busybox@sha256:1234' }, /digest must be/],
    [{ image: 'exa mple.com/x' }, /invalid image reference/],
    [{ image: '' }, /empty/],
    [{ image: 'a'.repeat(300) }, /longer than 255/],
  ])('names what Docker would refuse: %j', (patch, problem) => {
    const problems = workloadProblems(record(patch as Partial<WorkloadRecord>))
    expect(problems.length).toBeGreaterThan(0)
    expect(problems.join('; ')).toMatch(problem)
  })

  it('lists every problem, not only the first', () => {
    const problems = workloadProblems(
      record({ image: 'NOPE', resources: { cpuMillis: 1, memoryMiB: 1 } }),
    )
    expect(problems).toHaveLength(3)
  })
})

describe('registryOf and registryAdmitted', () => {
  it('finds the registry Docker would contact', () => {
    expect(registryOf('busybox')).toBe('docker.io')
    expect(registryOf('127.0.0.1:5055/commune/busybox:1')).toBe('127.0.0.1:5055')
    expect(registryOf('localhost/x')).toBe('localhost')
    expect(registryOf('Not Valid')).toBeUndefined()
  })

  it('admits everything without a list, nothing with an empty one, and never an unparsable image', () => {
    expect(registryAdmitted('ghcr.io/x/y', undefined)).toBe(true)
    expect(registryAdmitted('ghcr.io/x/y', [])).toBe(false)
    expect(registryAdmitted('Not Valid', ['docker.io'])).toBe(false)
    expect(registryAdmitted('registry-1.docker.io/library/busybox', ['docker.io'])).toBe(true)
    // A look-alike host is another registry.
    expect(registryAdmitted('ghcr.io.evil.example/x', ['ghcr.io'])).toBe(false)
  })
})
