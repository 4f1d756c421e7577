// The contract's argument checks: what crosses IPC or the WebSocket is checked here before any
// handler runs. Table tests for each method's accepted and refused shapes, and a property: no
// input makes validateArgs throw anything but an ApiError with a message for people.
import fc from 'fast-check'
import { SPEC_LIMITS } from '../../core/spec/index.js'
import { describe, expect, it } from 'vitest'
import {
  ApiError,
  LIMITS,
  METHOD_NAMES,
  isMethodName,
  toErrorPayload,
  validateArgs,
} from '../../core/api.js'

const draft = {
  image: '127.0.0.1:5055/commune/busybox:1',
  cpuMillis: 100,
  memoryMiB: 32,
  replicas: 2,
  command: ['sh', '-c', 'echo hi'],
}

function refused(method: string, args: unknown, message?: RegExp) {
  let err: unknown
  try {
    validateArgs(method, args)
  } catch (e) {
    err = e
  }
  expect(err, `${method} ${JSON.stringify(args)?.slice(0, 80)}`).toBeInstanceOf(ApiError)
  if (message) expect((err as ApiError).message).toMatch(message)
  return err as ApiError
}

describe('validateArgs', () => {
  it('accepts the shapes the contract names', () => {
    expect(validateArgs('state.get', undefined)).toBeUndefined()
    expect(validateArgs('auth.signIn', { role: 'owner', handle: '@alice.bsky.social' })).toEqual({
      role: 'owner',
      handle: '@alice.bsky.social',
    })
    expect(
      validateArgs('auth.signIn', { role: 'meshlet', handle: 'did:plc:abc234' }),
    ).toMatchObject({
      role: 'meshlet',
    })
    expect(validateArgs('capacity.set', { cpuMillis: 0, memoryMiB: 6, storageMiB: 0 })).toEqual({
      cpuMillis: 0,
      memoryMiB: 6,
      storageMiB: 0,
    })
    expect(validateArgs('settings.set', {})).toEqual({})
    expect(validateArgs('settings.set', { pauseOnBattery: true })).toEqual({ pauseOnBattery: true })
    expect(validateArgs('settings.set', { source: 'pds' })).toEqual({ source: 'pds' })
    expect(() => validateArgs('settings.set', { source: 'firehose' })).toThrow(
      /source must be one of jetstream, pds, relay/,
    )
    // The lender's image policy: hosts checked and normalized, a whole number of MiB, null = off.
    expect(
      validateArgs('settings.set', {
        allowRegistries: ['GHCR.io', '127.0.0.1:5055'],
        maxImageMiB: 200,
      }),
    ).toEqual({ allowRegistries: ['ghcr.io', '127.0.0.1:5055'], maxImageMiB: 200 })
    expect(validateArgs('settings.set', { allowRegistries: null, maxImageMiB: null })).toEqual({
      allowRegistries: null,
      maxImageMiB: null,
    })
    for (const bad of [
      { allowRegistries: 'ghcr.io' },
      { allowRegistries: ['https://ghcr.io'] },
      { allowRegistries: [42] },
      { maxImageMiB: 0 },
      { maxImageMiB: 1.5 },
      { maxImageMiB: '100' },
    ]) {
      expect(() => validateArgs('settings.set', bad), JSON.stringify(bad)).toThrow(ApiError)
    }
    expect(validateArgs('workloads.submit', draft)).toEqual(draft)
    expect(validateArgs('workloads.submit', { ...draft, command: undefined })).toMatchObject({
      command: [],
    })
    expect(validateArgs('workloads.submit', { ...draft, egress: true })).toMatchObject({
      egress: true,
    })
    const whole = {
      ...draft,
      env: [
        { name: 'GREETING', value: 'hello = world' },
        { name: '_EMPTY', value: '' },
      ],
      storageMiB: 128,
      arch: ['amd64', 'arm64'],
      restart: { mode: 'on-failure', maxAttempts: 2, delayMs: 1000 },
      maxRuntimeSeconds: 60,
      egress: true,
    }
    expect(validateArgs('workloads.submit', whole)).toEqual(whole)
    const uri = 'at://did:plc:abc234/commune.scheduler.workload/3kabc2'
    expect(validateArgs('workloads.update', { uri, draft: whole })).toEqual({ uri, draft: whole })
    expect(validateArgs('guests.stop', { containerId: 'a'.repeat(64) })).toBeTruthy()
    expect(
      validateArgs('auth.createMachineAccount', {
        pds: 'http://localhost:2583',
        handle: '.example',
        email: 'me+mesh@example.com',
        inviteCode: 'pds-example-com-abc12-def34',
      }),
    ).toMatchObject({ handle: '.example', inviteCode: 'pds-example-com-abc12-def34' })
    // Empty optional inputs of a form are left out, not refused.
    expect(
      validateArgs('auth.createMachineAccount', { pds: 'https://pds.example', email: '' }),
    ).toEqual({ pds: 'https://pds.example' })
    expect(
      validateArgs('workloads.delete', {
        uri: 'at://did:plc:abc234/commune.scheduler.workload/3kabc2',
      }),
    ).toBeTruthy()
  })

  it.each([
    ['unknown method', 'nope', {}, /no such method/],
    ['prototype key as method', '__proto__', {}, /no such method/],
    ['args to a method without', 'state.get', { x: 1 }, /takes no arguments/],
    ['array for an object', 'lending.set', [true], /expected an object/],
    ['null args', 'lending.set', null, /expected an object/],
    ['extra field', 'lending.set', { lending: true, admin: true }, /unexpected field: admin/],
    ['string for boolean', 'lending.set', { lending: 'true' }, /true or false/],
    ['bad role', 'auth.signIn', { role: 'admin', handle: 'a.test' }, /role/],
    ['handle with spaces', 'auth.signIn', { role: 'owner', handle: 'a b' }, /not valid/],
    ['empty handle', 'members.add', { handle: '' }, /non-empty/],
    ['long handle', 'members.add', { handle: 'a'.repeat(300) }, /longer than/],
    [
      'empty password',
      'auth.signInWithPassword',
      { role: 'owner', handle: 'a.test', password: '' },
      /password/,
    ],
    ['not a DID', 'members.remove', { did: 'alice.test' }, /not valid/],
    ['PDS not a URL', 'auth.createMachineAccount', { pds: 'pds.example' }, /pds is not valid/],
    [
      'email without @',
      'auth.createMachineAccount',
      { pds: 'https://pds.example', email: 'me' },
      /email is not valid/,
    ],
    [
      'invite code with spaces',
      'auth.createMachineAccount',
      { pds: 'https://pds.example', inviteCode: 'a b' },
      /inviteCode is not valid/,
    ],
    [
      'handle with a slash',
      'auth.createMachineAccount',
      { pds: 'https://pds.example', handle: 'a/b' },
      /handle is not valid/,
    ],
    ['float cpu', 'capacity.set', { cpuMillis: 1.5, memoryMiB: 64, storageMiB: 0 }, /whole number/],
    [
      'negative memory',
      'capacity.set',
      { cpuMillis: 100, memoryMiB: -1, storageMiB: 0 },
      /between/,
    ],
    ['huge cpu', 'capacity.set', { cpuMillis: 1e12, memoryMiB: 64, storageMiB: 0 }, /between/],
    ['NaN', 'capacity.set', { cpuMillis: NaN, memoryMiB: 64, storageMiB: 0 }, /whole number/],
    ['missing field', 'capacity.set', { cpuMillis: 100, memoryMiB: 64 }, /storageMiB/],
    ['container id not hex', 'guests.stop', { containerId: '../../etc' }, /not valid/],
    [
      'image with a space',
      'workloads.submit',
      { ...draft, image: 'busybox; rm -rf /' },
      /not valid/,
    ],
    ['zero replicas', 'workloads.submit', { ...draft, replicas: 0 }, /between 1/],
    [
      'too many replicas',
      'workloads.submit',
      { ...draft, replicas: LIMITS.replicas + 1 },
      /between/,
    ],
    ['memory under Docker’s minimum', 'workloads.submit', { ...draft, memoryMiB: 4 }, /between 6/],
    ['command not a list', 'workloads.submit', { ...draft, command: 'echo hi' }, /list of strings/],
    ['command of numbers', 'workloads.submit', { ...draft, command: [1, 2] }, /list of strings/],
    [
      'too long a command',
      'workloads.submit',
      { ...draft, command: Array(65).fill('x') },
      /more than/,
    ],
    ['egress not boolean', 'workloads.submit', { ...draft, egress: 'yes' }, /true or false/],
    ['not an at-uri', 'workloads.delete', { uri: 'https://evil.example' }, /not valid/],
    [
      'env name with a dash',
      'workloads.submit',
      { ...draft, env: [{ name: 'MY-VAR', value: '1' }] },
      /name is not valid/,
    ],
    [
      'env name starting with a digit',
      'workloads.submit',
      { ...draft, env: [{ name: '1X', value: '1' }] },
      /name is not valid/,
    ],
    [
      'env value not a string',
      'workloads.submit',
      { ...draft, env: [{ name: 'X', value: 1 }] },
      /string value/,
    ],
    [
      'env given twice',
      'workloads.submit',
      {
        ...draft,
        env: [
          { name: 'X', value: '1' },
          { name: 'X', value: '2' },
        ],
      },
      /given twice/,
    ],
    [
      'env also a secret',
      'workloads.submit',
      { ...draft, env: [{ name: 'X', value: '1' }], secrets: [{ name: 'X', value: '2' }] },
      /both a variable and a secret/,
    ],
    [
      'too many env',
      'workloads.submit',
      { ...draft, env: Array.from({ length: 65 }, (_, i) => ({ name: `V${i}`, value: '' })) },
      /at most 64/,
    ],
    ['negative storage', 'workloads.submit', { ...draft, storageMiB: -1 }, /storageMiB/],
    ['zero max run time', 'workloads.submit', { ...draft, maxRuntimeSeconds: 0 }, /between 1/],
    [
      'max run time past the lexicon',
      'workloads.submit',
      { ...draft, maxRuntimeSeconds: LIMITS.maxRuntimeSeconds + 1 },
      /between/,
    ],
    ['arch not a list', 'workloads.submit', { ...draft, arch: 'amd64' }, /list/],
    ['arch empty', 'workloads.submit', { ...draft, arch: [] }, /no architecture/],
    ['arch with a slash', 'workloads.submit', { ...draft, arch: ['linux/amd64'] }, /not valid/],
    [
      'unknown restart mode',
      'workloads.submit',
      { ...draft, restart: { mode: 'sometimes' } },
      /never, on-failure, always/,
    ],
    [
      'negative restart attempts',
      'workloads.submit',
      { ...draft, restart: { mode: 'always', maxAttempts: -1 } },
      /maxAttempts/,
    ],
    [
      'restart delay past a day',
      'workloads.submit',
      { ...draft, restart: { mode: 'on-failure', delayMs: 86_400_001 } },
      /delayMs/,
    ],
    [
      'update without a draft',
      'workloads.update',
      { uri: 'at://did:plc:abc234/commune.scheduler.workload/3kabc2' },
      /expected an object/,
    ],
    [
      'update that changes secrets',
      'workloads.update',
      {
        uri: 'at://did:plc:abc234/commune.scheduler.workload/3kabc2',
        draft: { ...draft, secrets: [{ name: 'T', value: 'v' }] },
      },
      /keeps the secrets/,
    ],
    ['update of no at-uri', 'workloads.update', { uri: 'x', draft }, /not valid/],
  ])('refuses %s', (_name, method, args, message) => {
    expect(refused(method, args, message).code).toBe(
      method === 'nope' || method === '__proto__' ? 'unknown-method' : 'invalid-args',
    )
  })

  it('bounds a workload draft where core/spec bounds the record it builds, no tighter', () => {
    // A command word as long as `meshlet submit` may publish passes the app's contract too, so a
    // workload published from the CLI can be edited in the app; one character more does not.
    const longest = 'x'.repeat(SPEC_LIMITS.commandArg)
    expect(
      validateArgs('workloads.submit', { ...draft, command: ['echo', longest] }),
    ).toMatchObject({ command: ['echo', longest] })
    refused('workloads.submit', { ...draft, command: ['echo', longest + 'x'] }, /command part/)
    // Docker's floor and the runtime's ceilings, at their edges.
    expect(
      validateArgs('workloads.submit', { ...draft, cpuMillis: SPEC_LIMITS.minCpuMillis }),
    ).toBeTruthy()
    refused('workloads.submit', { ...draft, cpuMillis: SPEC_LIMITS.minCpuMillis - 1 })
    refused('workloads.submit', { ...draft, memoryMiB: SPEC_LIMITS.maxMemoryMiB + 1 })
    refused('workloads.submit', { ...draft, replicas: SPEC_LIMITS.maxReplicas + 1 })
  })

  it('never throws anything but an ApiError, whatever arrives', () => {
    fc.assert(
      fc.property(
        fc.oneof(fc.constantFrom(...METHOD_NAMES), fc.string()),
        fc.anything(),
        (method, args) => {
          try {
            validateArgs(method, args)
          } catch (err) {
            expect(err).toBeInstanceOf(ApiError)
            expect(toErrorPayload(err).message.length).toBeGreaterThan(0)
          }
        },
      ),
      { numRuns: 2000 },
    )
  })

  it('knows exactly the methods of the contract', () => {
    expect(isMethodName('toString')).toBe(false)
    expect(isMethodName('constructor')).toBe(false)
    for (const m of METHOD_NAMES) expect(isMethodName(m)).toBe(true)
  })

  it('turns errors into payloads that keep a code and drop the rest', () => {
    expect(toErrorPayload(new ApiError('not-found', 'gone'))).toEqual({
      code: 'not-found',
      message: 'gone',
    })
    const internal = toErrorPayload(new Error('x'.repeat(2000)))
    expect(internal.code).toBe('internal')
    expect(internal.message.length).toBeLessThanOrEqual(500)
  })
})
