// The forms check what the core will check (core/api.ts LIMITS and validateArgs), so an error
// shows beside its field instead of coming back from the meshlet. The two must agree: anything
// the form lets through the core accepts, and anything the core accepts the form can express.
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { ApiError, LIMITS, validateArgs, type WorkloadDraft } from '../../../core/api.js'
import { joinShellWords } from '../../../renderer/src/lib/shell-words.js'
import {
  ARCHITECTURES,
  checkHandle,
  checkWorkload,
  type FormErrors,
  type WorkloadForm,
} from '../../../renderer/src/lib/validate.js'

const coreAccepts = (method: 'workloads.submit' | 'members.add', args: unknown): boolean => {
  try {
    validateArgs(method, args)
    return true
  } catch (err) {
    expect(err).toBeInstanceOf(ApiError)
    expect((err as ApiError).code).toBe('invalid-args')
    return false
  }
}

const form = (over: Partial<WorkloadForm> = {}): WorkloadForm => ({
  image: 'registry.example/app:1.2',
  cpuMillis: '500',
  memoryMiB: '256',
  replicas: '2',
  command: '',
  ...over,
})

/** The form as a user would fill it in to ask for this draft. */
const formFor = (d: WorkloadDraft): WorkloadForm => ({
  image: d.image,
  cpuMillis: String(d.cpuMillis),
  memoryMiB: String(d.memoryMiB),
  replicas: String(d.replicas),
  command: joinShellWords(d.command),
  ...(d.env ? { env: d.env } : {}),
  ...(d.storageMiB !== undefined ? { storageMiB: String(d.storageMiB) } : {}),
  ...(d.arch ? { arch: d.arch[0]! } : {}),
  ...(d.restart
    ? {
        restartMode: d.restart.mode,
        ...(d.restart.maxAttempts !== undefined
          ? { restartAttempts: String(d.restart.maxAttempts) }
          : {}),
        ...(d.restart.delayMs !== undefined
          ? { restartDelaySeconds: String(d.restart.delayMs / 1000) }
          : {}),
      }
    : {}),
  ...(d.maxRuntimeSeconds !== undefined ? { maxRuntimeSeconds: String(d.maxRuntimeSeconds) } : {}),
  ...(d.egress ? { egress: true } : {}),
})

describe('checkHandle', () => {
  it.each([
    ['alice.bsky.social', 'alice.bsky.social'],
    ['  @alice.test ', 'alice.test'],
    ['did:plc:ewvi7nxzyoun6zhxrhs64oiz', 'did:plc:ewvi7nxzyoun6zhxrhs64oiz'],
    ['did:web:example.com', 'did:web:example.com'],
  ])('accepts %j as %j', (raw, handle) => {
    expect(checkHandle(raw)).toEqual({ ok: true, handle })
  })

  it.each([
    ['', 'Enter a handle, like alice.bsky.social.'],
    ['   ', 'Enter a handle, like alice.bsky.social.'],
    ['@', 'Enter a handle, like alice.bsky.social.'],
    ['a'.repeat(LIMITS.handle + 1), `A handle is at most ${LIMITS.handle} characters.`],
    ['alice bsky', 'That is not a handle (alice.bsky.social) or a DID (did:plc:…).'],
    ['https://bsky.app/alice', 'That is not a handle (alice.bsky.social) or a DID (did:plc:…).'],
  ])('refuses %j: %s', (raw, error) => {
    expect(checkHandle(raw)).toEqual({ ok: false, error })
  })

  const handleLike = fc.string({
    unit: fc.constantFrom(...'ab9.-@: _/'.split(''), 'did:plc:', 'did:web:'),
    maxLength: 12,
  })
  const anyHandle = fc.oneof(handleLike, fc.string(), fc.string({ minLength: 250, maxLength: 258 }))

  it('sends only handles the core accepts', () => {
    fc.assert(
      fc.property(anyHandle, (raw) => {
        const checked = checkHandle(raw)
        if (checked.ok) expect(coreAccepts('members.add', { handle: checked.handle })).toBe(true)
      }),
      { numRuns: 500 },
    )
  })

  it('accepts every handle the core accepts', () => {
    fc.assert(
      fc.property(anyHandle, (raw) => {
        if (coreAccepts('members.add', { handle: raw })) {
          expect(checkHandle(raw)).toEqual({ ok: true, handle: raw.replace(/^@/, '') })
        }
      }),
      { numRuns: 500 },
    )
  })
})

describe('checkWorkload', () => {
  it('turns a filled-in form into the draft the core takes', () => {
    expect(checkWorkload(form({ image: ' busybox:1 ', command: `sh -c 'sleep 60'` }))).toEqual({
      ok: true,
      draft: {
        image: 'busybox:1',
        cpuMillis: 500,
        memoryMiB: 256,
        replicas: 2,
        command: ['sh', '-c', 'sleep 60'],
      },
    })
    expect(checkWorkload(form({ cpuMillis: ' 070 ' }))).toMatchObject({
      ok: true,
      draft: { cpuMillis: 70, command: [] },
    })
  })

  it('accepts the bounds themselves', () => {
    const lowest = form({
      cpuMillis: String(LIMITS.minCpuMillis),
      memoryMiB: String(LIMITS.minMemoryMiB),
      replicas: '1',
    })
    expect(checkWorkload(lowest).ok).toBe(true)
    const highest = form({
      image: 'a'.repeat(LIMITS.image),
      cpuMillis: String(LIMITS.cpuMillis),
      memoryMiB: String(LIMITS.workloadMemoryMiB),
      replicas: String(LIMITS.replicas),
      command: Array.from({ length: LIMITS.commandArgs }, () => 'x'.repeat(LIMITS.commandArg)).join(
        ' ',
      ),
    })
    expect(checkWorkload(highest).ok).toBe(true)
  })

  it.each<[Partial<WorkloadForm>, FormErrors]>([
    [{ image: '  ' }, { image: 'Enter an image, like registry.example/app:1.2.' }],
    [
      { image: 'a'.repeat(LIMITS.image + 1) },
      { image: `An image reference is at most ${LIMITS.image} characters.` },
    ],
    [
      { image: 'my app' },
      { image: 'An image reference has no spaces and starts with a letter or digit.' },
    ],
    [
      { image: '-rm' },
      { image: 'An image reference has no spaces and starts with a letter or digit.' },
    ],
    [{ cpuMillis: '' }, { cpuMillis: 'Enter the CPU in millicores.' }],
    [{ cpuMillis: '0.5' }, { cpuMillis: 'The CPU in millicores must be a whole number.' }],
    [{ cpuMillis: '-1' }, { cpuMillis: 'The CPU in millicores cannot be negative.' }],
    [{ storageMiB: '-5' }, { storageMiB: 'The storage in MiB cannot be negative.' }],
    [{ storageMiB: '0' }, { storageMiB: 'The storage in MiB must be between 1 and 1,048,576.' }],
    [
      { maxRuntimeSeconds: '-60' },
      { maxRuntimeSeconds: 'The maximum run time in seconds cannot be negative.' },
    ],
    [
      { restartMode: 'on-failure', restartAttempts: '-1' },
      { restartAttempts: 'The number of attempts cannot be negative.' },
    ],
    [
      { restartMode: 'always', restartDelaySeconds: '1.5' },
      { restartDelaySeconds: 'The back-off delay in seconds must be a whole number.' },
    ],
    [
      { arch: 'x86' },
      { arch: 'Choose one of amd64, arm64, arm, 386, ppc64le, s390x, riscv64, mips64le, or any.' },
    ],
    [{ cpuMillis: '1e3' }, { cpuMillis: 'The CPU in millicores must be a whole number.' }],
    [{ cpuMillis: '9' }, { cpuMillis: 'The CPU in millicores must be between 10 and 1,024,000.' }],
    [
      { cpuMillis: '1024001' },
      { cpuMillis: 'The CPU in millicores must be between 10 and 1,024,000.' },
    ],
    [{ memoryMiB: '5' }, { memoryMiB: 'The memory in MiB must be between 6 and 1,048,576.' }],
    [{ replicas: '65' }, { replicas: 'The number of replicas must be between 1 and 64.' }],
    [{ replicas: 'two' }, { replicas: 'The number of replicas must be a whole number.' }],
    [{ command: `echo 'hi` }, { command: "A single quote (') is not closed." }],
    [
      { command: Array.from({ length: LIMITS.commandArgs + 1 }, () => 'x').join(' ') },
      { command: `A command has at most ${LIMITS.commandArgs} words.` },
    ],
    [
      { command: `echo ${'x'.repeat(LIMITS.commandArg + 1)}` },
      { command: `Each word of the command is at most ${LIMITS.commandArg} characters.` },
    ],
  ])('refuses %j beside its field', (over, errors) => {
    expect(checkWorkload(form(over))).toEqual({ ok: false, errors })
  })

  it('reports every field that is wrong at once', () => {
    const check = checkWorkload({
      image: '',
      cpuMillis: 'x',
      memoryMiB: '',
      replicas: '0',
      command: '"',
    })
    expect(check.ok).toBe(false)
    if (!check.ok) {
      expect(Object.keys(check.errors).sort()).toEqual(
        ['command', 'cpuMillis', 'image', 'memoryMiB', 'replicas'].sort(),
      )
    }
  })

  // Values on both sides of every shared bound, and strings a user might type.
  const around = (lo: number, hi: number) =>
    fc.oneof(
      fc.integer({ min: lo - 2, max: lo + 2 }),
      fc.integer({ min: hi - 2, max: hi + 2 }),
      fc.integer({ min: lo - 10, max: hi + 10 }),
    )
  const numberText = (lo: number, hi: number) =>
    fc.oneof(
      around(lo, hi).map(String),
      around(lo, hi).map((n) => ` ${n}`),
      fc.constantFrom('', '1.5', '1e3', '0x10', 'ten', '+5', '٣'),
    )
  const imageText = fc.oneof(
    fc.constantFrom('busybox', 'registry.example/app:1.2', 'a@sha256:ab', ' busybox ', '_x', 'a b'),
    fc.string({ unit: fc.constantFrom(...'aZ9._-/:@ $'.split('')), maxLength: 12 }),
    fc.integer({ min: LIMITS.image - 1, max: LIMITS.image + 1 }).map((n) => 'a'.repeat(n)),
  )
  const commandText = fc.oneof(
    fc.string({ unit: fc.constantFrom(...`ab '"\\\t`.split('')), maxLength: 16 }),
    fc
      .integer({ min: LIMITS.commandArgs - 1, max: LIMITS.commandArgs + 1 })
      .map((n) => Array.from({ length: n }, () => 'w').join(' ')),
    fc
      .integer({ min: LIMITS.commandArg - 1, max: LIMITS.commandArg + 1 })
      .map((n) => `sh '${'w'.repeat(n)}'`),
  )
  const anyForm: fc.Arbitrary<WorkloadForm> = fc.record({
    image: imageText,
    cpuMillis: numberText(LIMITS.minCpuMillis, LIMITS.cpuMillis),
    memoryMiB: numberText(LIMITS.minMemoryMiB, LIMITS.workloadMemoryMiB),
    replicas: numberText(1, LIMITS.replicas),
    command: commandText,
  })

  it('sends only drafts the core accepts, unchanged by its check', () => {
    fc.assert(
      fc.property(anyForm, (f) => {
        const check = checkWorkload(f)
        if (check.ok) {
          expect(validateArgs('workloads.submit', check.draft)).toEqual(check.draft)
        }
      }),
      { numRuns: 1000 },
    )
  })

  // The form forgives spaces around the image (it trims them); the core, sent them, refuses.
  // That is a convenience, not a bound, so drafts here have none.
  // The new fields lean to valid values, so enough whole drafts are accepted to mean something.
  const mostly = <T>(valid: fc.Arbitrary<T>, any: fc.Arbitrary<T>) =>
    fc.oneof({ arbitrary: valid, weight: 6 }, { arbitrary: any, weight: 1 })
  const inRange = (lo: number, hi: number) =>
    mostly(fc.integer({ min: lo, max: Math.min(hi, lo + 1000) }), around(lo, hi))
  const envName = mostly(
    fc.constantFrom('A', 'GREETING', '_x1'),
    fc.oneof(
      fc.string({ unit: fc.constantFrom(...'aZ_9-.'.split('')), minLength: 1, maxLength: 4 }),
      fc.integer({ min: LIMITS.envName - 1, max: LIMITS.envName + 1 }).map((n) => 'A'.repeat(n)),
    ),
  )
  const restart = fc.oneof(
    fc.constant({ mode: 'never' as const }),
    fc.record({
      mode: fc.constantFrom('on-failure' as const, 'always' as const),
      maxAttempts: inRange(0, LIMITS.restartAttempts),
      delayMs: inRange(0, LIMITS.restartDelayMs / 1000).map((s) => s * 1000),
    }),
  )
  const anyDraft: fc.Arbitrary<WorkloadDraft> = fc.record(
    {
      image: imageText.filter((image) => image === image.trim()),
      cpuMillis: around(LIMITS.minCpuMillis, LIMITS.cpuMillis),
      memoryMiB: around(LIMITS.minMemoryMiB, LIMITS.workloadMemoryMiB),
      replicas: around(1, LIMITS.replicas),
      command: fc.oneof(
        fc.array(fc.string({ unit: 'binary', maxLength: 12 }), { maxLength: 4 }),
        fc
          .integer({ min: LIMITS.commandArgs - 1, max: LIMITS.commandArgs + 1 })
          .map((n) => Array.from({ length: n }, () => '')),
        fc
          .integer({ min: LIMITS.commandArg - 1, max: LIMITS.commandArg + 1 })
          .map((n) => ['sh', `${"'".repeat(n)}`]),
      ),
      env: fc.array(fc.record({ name: envName, value: fc.string({ maxLength: 8 }) }), {
        minLength: 1,
        maxLength: 3,
      }),
      storageMiB: inRange(1, LIMITS.workloadStorageMiB),
      arch: fc.constantFrom(...ARCHITECTURES).map((a) => [a]),
      restart,
      maxRuntimeSeconds: inRange(1, LIMITS.maxRuntimeSeconds),
      egress: fc.constant(true),
    },
    { requiredKeys: ['image', 'cpuMillis', 'memoryMiB', 'replicas', 'command'] },
  )

  it('can express every draft the core accepts, and refuses every draft it refuses', () => {
    let accepted = 0
    fc.assert(
      fc.property(anyDraft, (draft) => {
        const check = checkWorkload(formFor(draft))
        if (coreAccepts('workloads.submit', draft)) {
          accepted++
          expect(check).toEqual({ ok: true, draft })
        } else {
          expect(check.ok).toBe(false)
        }
      }),
      { numRuns: 1000 },
    )
    // The generator must reach both sides of the bounds for this to mean anything.
    expect(accepted).toBeGreaterThan(50)
    expect(accepted).toBeLessThan(950)
  })
})

describe('checkWorkload secrets', () => {
  const base = { image: 'busybox:1', cpuMillis: '100', memoryMiB: '64', replicas: '1', command: '' }

  it('reads NAME=VALUE lines into a draft the core accepts', () => {
    const check = checkWorkload({ ...base, secrets: 'TOKEN=a=b c\n\nOTHER_1=x\r\n' })
    expect(check).toMatchObject({
      ok: true,
      draft: {
        secrets: [
          { name: 'TOKEN', value: 'a=b c' },
          { name: 'OTHER_1', value: 'x' },
        ],
      },
    })
    expect(check.ok && coreAccepts('workloads.submit', check.draft)).toBe(true)
    expect(checkWorkload({ ...base, secrets: '  ' })).toMatchObject({ ok: true })
    expect((checkWorkload({ ...base, secrets: '' }) as { draft: object }).draft).not.toHaveProperty(
      'secrets',
    )
  })

  it('names the line or the secret at fault, never a value', () => {
    for (const [secrets, message] of [
      ['novalue', /Line 1/],
      ['1BAD=hunter2', /Line 1/],
      ['A=x\nA=hunter2', /A is given twice/],
      [`BIG=${'hunter2'.repeat(700)}`, /at most 4,096 bytes/],
      [Array.from({ length: 17 }, (_, i) => `S${i}=hunter2`).join('\n'), /At most 16/],
    ] as const) {
      const check = checkWorkload({ ...base, secrets })
      expect(check.ok).toBe(false)
      const error = (check as { errors: { secrets?: string } }).errors.secrets ?? ''
      expect(error).toMatch(message)
      expect(error).not.toContain('hunter2')
    }
  })

  it('the core refuses what the form refuses (bad name, duplicate, too large)', () => {
    const draft = { image: 'busybox:1', cpuMillis: 100, memoryMiB: 64, replicas: 1, command: [] }
    expect(
      coreAccepts('workloads.submit', { ...draft, secrets: [{ name: '1X', value: 'v' }] }),
    ).toBe(false)
    const dup = [
      { name: 'A', value: '1' },
      { name: 'A', value: '2' },
    ]
    expect(coreAccepts('workloads.submit', { ...draft, secrets: dup })).toBe(false)
    const big = [{ name: 'B', value: 'x'.repeat(5000) }]
    expect(coreAccepts('workloads.submit', { ...draft, secrets: big })).toBe(false)
    expect(coreAccepts('workloads.submit', { ...draft, secrets: 'A=1' })).toBe(false)
  })
})

describe('checkWorkload environment rows', () => {
  const base = { image: 'busybox:1', cpuMillis: '100', memoryMiB: '64', replicas: '1', command: '' }

  it('skips blank rows and keeps values as typed', () => {
    const check = checkWorkload({
      ...base,
      env: [
        { name: ' GREETING ', value: ' hello = world ' },
        { name: '', value: '' },
        { name: '_X1', value: '' },
      ],
    })
    expect(check).toMatchObject({
      ok: true,
      draft: {
        env: [
          { name: 'GREETING', value: ' hello = world ' },
          { name: '_X1', value: '' },
        ],
      },
    })
  })

  it('names the bad row and marks it', () => {
    const bad = (env: { name: string; value: string }[]) => {
      const check = checkWorkload({ ...base, env })
      expect(check.ok).toBe(false)
      return (check as { errors: FormErrors }).errors
    }
    expect(
      bad([
        { name: 'OK', value: '1' },
        { name: 'MY-VAR', value: '2' },
      ]),
    ).toEqual({
      env: 'Variable 2: "MY-VAR" is not a variable name; use letters, digits and _, not starting with a digit.',
      envRow: 1,
    })
    expect(bad([{ name: '', value: 'orphan' }])).toEqual({
      env: 'Variable 1: give it a name.',
      envRow: 0,
    })
    expect(
      bad([
        { name: 'A', value: '1' },
        { name: 'A', value: '2' },
      ]),
    ).toMatchObject({
      env: 'A is given twice.',
    })
    expect(checkWorkload({ ...base, env: [{ name: 'T', value: '1' }], secrets: 'T=2' })).toEqual({
      ok: false,
      errors: { env: 'T is also a secret; give it once.' },
    })
  })

  it('an explicit restart mode of never is published as such; blank optionals are left out', () => {
    const check = checkWorkload({
      ...base,
      restartMode: 'never',
      storageMiB: ' ',
      maxRuntimeSeconds: '',
      arch: '',
    })
    expect(check).toEqual({
      ok: true,
      draft: {
        image: 'busybox:1',
        cpuMillis: 100,
        memoryMiB: 64,
        replicas: 1,
        command: [],
        restart: { mode: 'never' },
      },
    })
  })
})
