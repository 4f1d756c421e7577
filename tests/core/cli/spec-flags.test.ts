// The workload flags of `meshlet submit` and `meshlet update`: bad input is a usage error (exit
// code 2) that names the flag, before anything is read from or written to the network.
import { describe, expect, it } from 'vitest'
import { main, type Io } from '../../../core/cli/main.js'
import { optionsFromFlags } from '../../../core/cli/spec-flags.js'

async function run(argv: string[]) {
  const err: string[] = []
  const io: Io = { out: () => {}, err: (l) => err.push(l), env: { OWNER_PASSWORD: 'unused' } }
  // A PLC nobody listens on: reaching the network would fail with exit code 1, not 2.
  const code = await main([...argv, '--plc', 'http://127.0.0.1:9'], io)
  return { code, err: err.join('\n') }
}

const SUBMIT = ['submit', '--owner', 'did:plc:alice', '--image', 'busybox']
const UPDATE = ['update', 'at://did:plc:alice/commune.scheduler.workload/3lwork0000000']

describe('workload flags', () => {
  it.each([
    [['--restart', 'sometimes'], /--restart must be one of never, on-failure, always/],
    [['--restart', 'never', '--restart-attempts', '2'], /--restart-attempts: .*on-failure/],
    [['--restart-attempts', '2'], /--restart-attempts: .*on-failure or always/],
    [
      ['--restart', 'on-failure', '--restart-attempts', '101'],
      /--restart-attempts must be between 0 and 100/,
    ],
    [['--restart', 'always', '--restart-delay=-1'], /--restart-delay must be a whole number/],
    [['--max-runtime=-5'], /--max-runtime must be a whole number/],
    [
      ['--max-runtime', '99999999'],
      /--max-runtime must be between 1 s and 2592000 s, got 99999999 s/,
    ],
    [['--max-runtime', '1.5'], /--max-runtime must be a whole number/],
    [['--storage', '0'], /--storage must be between 1 and/],
    [['--storage', '99999999999'], /--storage must be between 1 and/],
    [['--env', 'NOVALUE'], /--env: expected NAME=VALUE/],
    [['--env', '=x'], /--env: expected NAME=VALUE/],
    [['--env', '9LIVES=x'], /--env: environment variable name "9LIVES"/],
    [['--env', 'A=1', '--env', 'A=2'], /--env: A is given twice/],
    [['--env', 'TOKEN=x', '--secret', 'TOKEN=y'], /--env: TOKEN is also a secret/],
    [['--arch', 'amd64,z80'], /--arch: unknown architecture "z80"/],
    [['--cpu', '5'], /--cpu must be between 10 and/],
    [['--replicas', '65'], /--replicas must be between 1 and 64/],
  ])('submit %j is a usage error', async (flags, message) => {
    const { code, err } = await run([...SUBMIT, ...flags])
    expect(err).toMatch(message)
    expect(code).toBe(2)
  })

  it.each([
    [['--restart', 'sometimes'], /--restart must be one of/],
    [['--env', 'NOVALUE'], /--env: expected NAME=VALUE/],
    [['--max-runtime=-1'], /--max-runtime must be a whole number/],
    [['--egress', '--no-egress'], /--egress or --no-egress, not both/],
    [[], /nothing to change/],
  ])('update %j is a usage error', async (flags, message) => {
    const { code, err } = await run([...UPDATE, ...flags])
    expect(err).toMatch(message)
    expect(code).toBe(2)
  })

  it('turns flags into options, and only the flags given', () => {
    expect(
      optionsFromFlags(
        {
          env: ['A=1', 'B=x=y'],
          arch: ['amd64', 'arm64'],
          storage: '32',
          restart: 'on-failure',
          'restart-attempts': '2',
          'restart-delay': '3',
          'max-runtime': '60',
        },
        ['sh', '-c', 'true'],
      ),
    ).toEqual({
      command: ['sh', '-c', 'true'],
      env: [
        { name: 'A', value: '1' },
        { name: 'B', value: 'x=y' },
      ],
      arch: ['amd64', 'arm64'],
      storageMiB: 32,
      restart: 'on-failure',
      restartAttempts: 2,
      restartDelayMs: 3000,
      maxRuntimeMs: 60_000,
    })
    expect(optionsFromFlags({ 'max-runtime': '0', arch: ['any'], 'no-egress': true }, [])).toEqual({
      maxRuntimeMs: null,
      arch: null,
      egress: false,
    })
  })
})
