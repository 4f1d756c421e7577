// The workload spec as pure logic: what each option writes into the record, what an update keeps,
// and the sentence every bad value gets.
import { describe, expect, it } from 'vitest'
import { checkRecord, NSID } from '../../../core/lexicon/index.js'
import {
  buildWorkload,
  DEFAULTS,
  parseArch,
  parseEnvVar,
  SpecError,
  updateWorkload,
  workloadOptions,
  type WorkloadOptions,
} from '../../../core/spec/index.js'

const IMAGE = '127.0.0.1:5055/commune/test:latest'

function specError(f: () => unknown): SpecError {
  try {
    f()
  } catch (err) {
    if (err instanceof SpecError) return err
    throw err
  }
  throw new Error('expected a SpecError')
}

describe('buildWorkload', () => {
  it('fills the defaults for an image alone', () => {
    expect(buildWorkload({ image: IMAGE })).toEqual({
      image: IMAGE,
      resources: { cpuMillis: DEFAULTS.cpuMillis, memoryMiB: DEFAULTS.memoryMiB },
      replicas: 1,
      network: 'none',
      bidWindowMs: 5000,
    })
  })

  it('writes every field where the lexicon has it, and the record passes the lexicon', () => {
    const body = buildWorkload({
      name: 'nightly',
      image: IMAGE,
      command: ['sh', '-c', 'echo $GREETING'],
      cpuMillis: 250,
      memoryMiB: 128,
      storageMiB: 32,
      replicas: 2,
      env: [{ name: 'GREETING', value: 'hello=world' }],
      arch: ['x86_64', 'arm64'],
      egress: true,
      restart: 'on-failure',
      restartAttempts: 2,
      restartDelayMs: 1500,
      maxRuntimeMs: 60_000,
      bidWindowMs: 2000,
      secrets: ['TOKEN'],
    })
    expect(body).toEqual({
      name: 'nightly',
      image: IMAGE,
      command: ['sh', '-c', 'echo $GREETING'],
      resources: { cpuMillis: 250, memoryMiB: 128, storageMiB: 32 },
      replicas: 2,
      env: [{ name: 'GREETING', value: 'hello=world' }],
      constraints: { arch: ['amd64', 'arm64'] },
      network: 'egress',
      restartPolicy: { mode: 'on-failure', maxAttempts: 2, delayMs: 1500 },
      maxRuntimeMs: 60_000,
      bidWindowMs: 2000,
      secrets: ['TOKEN'],
    })
    const checked = checkRecord(NSID.workload, {
      ...body,
      $type: NSID.workload,
      createdAt: new Date().toISOString(),
    })
    expect(checked.ok).toBe(true)
  })

  it('writes the default attempts and delay with a restarting mode, and none with never', () => {
    expect(buildWorkload({ image: IMAGE, restart: 'always' }).restartPolicy).toEqual({
      mode: 'always',
      maxAttempts: DEFAULTS.restartAttempts,
      delayMs: DEFAULTS.restartDelayMs,
    })
    expect(buildWorkload({ image: IMAGE, restart: 'never' }).restartPolicy).toEqual({
      mode: 'never',
    })
  })

  it.each<[string, WorkloadOptions, keyof WorkloadOptions, RegExp]>([
    ['no image', {}, 'image', /image is required/],
    ['an image Docker cannot parse', { image: 'UPPER/Case' }, 'image', /invalid image/],
    ['cpu under Docker’s minimum', { image: IMAGE, cpuMillis: 5 }, 'cpuMillis', /between 10/],
    ['negative memory', { image: IMAGE, memoryMiB: -1 }, 'memoryMiB', /between 6/],
    ['fractional cpu', { image: IMAGE, cpuMillis: 1.5 }, 'cpuMillis', /whole number/],
    ['zero storage', { image: IMAGE, storageMiB: 0 }, 'storageMiB', /between 1 and/],
    ['oversized storage', { image: IMAGE, storageMiB: 2 ** 30 }, 'storageMiB', /between 1 and/],
    ['65 replicas', { image: IMAGE, replicas: 65 }, 'replicas', /between 1 and 64/],
    [
      'an unknown restart mode',
      { image: IMAGE, restart: 'sometimes' as never },
      'restart',
      /never, on-failure, always/,
    ],
    [
      'attempts under never',
      { image: IMAGE, restart: 'never', restartAttempts: 2 },
      'restartAttempts',
      /need restart on-failure or always/,
    ],
    [
      'attempts alone (the default mode is never)',
      { image: IMAGE, restartAttempts: 2 },
      'restartAttempts',
      /need restart on-failure or always/,
    ],
    [
      'too many attempts',
      { image: IMAGE, restart: 'on-failure', restartAttempts: 101 },
      'restartAttempts',
      /between 0 and 100/,
    ],
    [
      'a negative delay',
      { image: IMAGE, restart: 'always', restartDelayMs: -1000 },
      'restartDelayMs',
      /between 0 s and 86400 s, got -1 s/,
    ],
    ['a zero max runtime', { image: IMAGE, maxRuntimeMs: 0 }, 'maxRuntimeMs', /between 1 s/],
    [
      'a max runtime over 30 days',
      { image: IMAGE, maxRuntimeMs: 31 * 86_400_000 },
      'maxRuntimeMs',
      /and 2592000 s/,
    ],
    ['a short bid window', { image: IMAGE, bidWindowMs: 10 }, 'bidWindowMs', /bid window/],
    [
      'an env name with a dash',
      { image: IMAGE, env: [{ name: 'A-B', value: '1' }] },
      'env',
      /letters, digits and _/,
    ],
    [
      'an env name twice',
      {
        image: IMAGE,
        env: [
          { name: 'A', value: '1' },
          { name: 'A', value: '2' },
        ],
      },
      'env',
      /A is given twice/,
    ],
    [
      'an env name that is also a secret',
      { image: IMAGE, env: [{ name: 'TOKEN', value: 'x' }], secrets: ['TOKEN'] },
      'env',
      /TOKEN is also a secret/,
    ],
    ['an env value with NUL', { image: IMAGE, env: [{ name: 'A', value: 'a\0b' }] }, 'env', /NUL/],
    [
      'an oversized env value',
      { image: IMAGE, env: [{ name: 'A', value: 'x'.repeat(4097) }] },
      'env',
      /longer than 4096/,
    ],
    [
      'too many env bytes together',
      {
        image: IMAGE,
        env: Array.from({ length: 10 }, (_, i) => ({ name: `V${i}`, value: 'x'.repeat(4000) })),
      },
      'env',
      /at most 32768/,
    ],
    ['an unknown arch', { image: IMAGE, arch: ['z80'] }, 'arch', /unknown architecture "z80"/],
  ])('refuses %s, naming the field', (_, options, field, message) => {
    const err = specError(() => buildWorkload(options))
    expect(err.field).toBe(field)
    expect(err.message).toMatch(message)
  })
})

describe('updateWorkload', () => {
  const current = {
    ...buildWorkload({
      image: IMAGE,
      command: ['sleep', '60'],
      env: [{ name: 'A', value: '1' }],
      arch: ['amd64'],
      restart: 'on-failure',
      restartAttempts: 4,
      maxRuntimeMs: 10_000,
    }),
    createdAt: '2026-12-01T00:00:00.000Z',
  }

  it('replaces the fields given and keeps the rest, createdAt included', () => {
    const next = updateWorkload(current, { memoryMiB: 96, env: [{ name: 'B', value: '2' }] })
    expect(next).toEqual({
      ...current,
      resources: { ...current.resources, memoryMiB: 96 },
      env: [{ name: 'B', value: '2' }],
    })
    expect(current.resources.memoryMiB).toBe(64)
  })

  it('tunes the restart policy without repeating the mode, and a new mode starts afresh', () => {
    expect(updateWorkload(current, { restartDelayMs: 2000 }).restartPolicy).toEqual({
      mode: 'on-failure',
      maxAttempts: 4,
      delayMs: 2000,
    })
    expect(updateWorkload(current, { restart: 'always' }).restartPolicy).toEqual({
      mode: 'always',
      maxAttempts: DEFAULTS.restartAttempts,
      delayMs: DEFAULTS.restartDelayMs,
    })
    expect(updateWorkload(current, { restart: 'never' }).restartPolicy).toEqual({ mode: 'never' })
  })

  it('removes optional fields given as null or empty', () => {
    const next = updateWorkload(current, {
      command: [],
      env: null,
      arch: [],
      maxRuntimeMs: null,
    })
    expect(next.command).toBeUndefined()
    expect(next.env).toBeUndefined()
    expect(next.constraints).toBeUndefined()
    expect(next.maxRuntimeMs).toBeUndefined()
  })

  it('keeps constraints it does not manage', () => {
    const withList = {
      ...current,
      constraints: { arch: ['amd64'], meshlets: ['did:plc:x' as const] },
    }
    expect(updateWorkload(withList, { arch: [] }).constraints).toEqual({ meshlets: ['did:plc:x'] })
  })

  it('refuses a change that breaks the whole', () => {
    const withSecret = { ...current, secrets: ['A2'] }
    expect(
      specError(() => updateWorkload(withSecret, { env: [{ name: 'A2', value: '' }] })).field,
    ).toBe('env')
  })
})

describe('workloadOptions', () => {
  it('gives back the options a record was built from', () => {
    const options: WorkloadOptions = {
      image: IMAGE,
      command: ['true'],
      cpuMillis: 100,
      memoryMiB: 64,
      storageMiB: 16,
      replicas: 3,
      env: [{ name: 'X', value: 'y' }],
      arch: ['arm64'],
      egress: true,
      restart: 'on-failure',
      restartAttempts: 1,
      restartDelayMs: 1000,
      maxRuntimeMs: 5000,
      bidWindowMs: 3000,
      secrets: [],
    }
    expect(workloadOptions(buildWorkload(options))).toEqual(options)
    expect(buildWorkload(workloadOptions(buildWorkload(options)))).toEqual(buildWorkload(options))
  })
})

describe('parseEnvVar and parseArch', () => {
  it('splits at the first =, keeping = and empty values', () => {
    expect(parseEnvVar('A=b=c')).toEqual({ name: 'A', value: 'b=c' })
    expect(parseEnvVar('EMPTY=')).toEqual({ name: 'EMPTY', value: '' })
  })

  it.each(['NOEQUALS', '=value', '1A=x', 'A B=x'])('refuses %j', (raw) => {
    expect(specError(() => parseEnvVar(raw)).field).toBe('env')
  })

  it('takes repeated and comma-separated lists, maps aliases and drops duplicates', () => {
    expect(parseArch(['amd64,aarch64', 'x86_64', ' arm64 '])).toEqual(['amd64', 'arm64'])
    expect(parseArch([''])).toEqual([])
  })
})
