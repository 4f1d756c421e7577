import { execFile } from 'node:child_process'
import { promisify } from 'node:util'
import { describe, expect, it } from 'vitest'
import { main, type Io } from '../../../core/cli/main.js'

function io(env: NodeJS.ProcessEnv = {}) {
  const out: string[] = []
  const err: string[] = []
  const value: Io = { out: (l) => out.push(l), err: (l) => err.push(l), env }
  return { io: value, out, err }
}

describe('meshlet command line', () => {
  it('documents every command and flag', async () => {
    const t = io()
    expect(await main(['--help'], t.io)).toBe(0)
    const help = t.out.join('\n')
    for (const word of [
      'init',
      'link',
      'run',
      'submit',
      'status',
      'delete',
      'capacity',
      'ps',
      'logs',
    ])
      expect(help).toContain(`meshlet ${word}`)
    for (const flag of [
      '--did',
      '--owner',
      '--cluster-members',
      '--plc',
      '--firehose',
      '--data-dir',
      '--cpu',
      '--memory',
      '--storage',
      '--image',
      '--replicas',
      '--command',
      '--handle-resolver',
      '--pds',
      '--handle',
      '--email',
      '--invite-code',
      '--xrpc-port',
      '--xrpc-host',
      '--xrpc-url',
      '--no-xrpc',
      '--follow',
      '--lines',
      '--allow-registry <host>',
      '--max-image-size <MiB>',
    ]) {
      expect(help).toContain(flag)
    }
  })

  it('prints the help for `<command> --help`, and leaves a guest command after `--` alone', async () => {
    const t = io()
    expect(await main(['run', '--help'], t.io)).toBe(0)
    const help = t.out.join('\n')
    // Spelled as the issues spell them.
    for (const words of [
      '--source jetstream|pds|relay',
      '--jetstream <url>',
      '--firehose <url>',
      'meshlet update <uri>',
      'meshlet logs <workload-uri>',
    ])
      expect(help).toContain(words)
    const guest = io()
    // A guest command that says --help is the guest's: submit goes on and asks for its owner.
    expect(await main(['submit', '--image', 'x', '--', 'sh', '--help'], guest.io)).toBe(2)
    expect(guest.out).toEqual([])
    expect(guest.err.join('\n')).toContain('--owner')
  })

  it.each([
    [['frobnicate'], /unknown command: frobnicate/],
    [['run', '--did', 'did:plc:a', '--owner', 'did:plc:b'], /missing --cluster-members/],
    [['link', '--owner', 'did:plc:b'], /missing --did/],
    [['init', '--owner', 'did:plc:b'], /missing --pds/],
    [['init', '--owner', 'did:plc:b', '--pds', 'nope'], /not a URL: nope/],
    [['run', '--bogus'], /Unknown option '--bogus'/],
    [['submit', '--owner', 'did:plc:a'], /missing --image/],
    [
      ['submit', '--owner', 'did:plc:a', '--image', 'x', '--cpu', '1.5'],
      /--cpu must be a whole number/,
    ],
    [
      ['submit', '--owner', 'did:plc:a', '--image', 'x', '--replicas', '0'],
      /--replicas must be between 1 and 64/,
    ],
    [
      ['submit', '--owner', 'did:plc:a', '--image', 'x', '--memory', '99999999999'],
      /--memory must be between/,
    ],
    [['status'], /give the workload at-uri/],
    [['status', 'https://example.com'], /not an at-uri/],
    [['status', 'at://did:plc:a/app.bsky.feed.post/3k'], /not a workload at-uri/],
    [['link', '--did', 'did:plc:a', '--owner', 'did:plc:b'], /set OWNER_PASSWORD/],

    [
      ['run', '--did', 'x', '--owner', 'y', '--cluster-members', 'z', '--firehose', 'not a url'],
      /not a URL/,
    ],
    [
      ['run', '--did', 'x', '--owner', 'y', '--cluster-members', 'z', '--log-level', 'loud'],
      /--log-level/,
    ],
    [
      ['run', '--did', 'x', '--owner', 'y', '--cluster-members', 'z', '--xrpc-host', '0.0.0.0'],
      /need --xrpc-port/,
    ],
    [
      [
        'run',
        '--did',
        'x',
        '--owner',
        'y',
        '--cluster-members',
        'z',
        '--xrpc-port',
        '0',
        '--no-xrpc',
      ],
      /--no-xrpc and --xrpc-port cannot go together/,
    ],
    [
      ['run', '--did', 'x', '--owner', 'y', '--cluster-members', 'z', '--xrpc-port', '70000'],
      /--xrpc-port must be between 0 and 65535/,
    ],
    [
      [
        'run',
        '--did',
        'x',
        '--owner',
        'y',
        '--cluster-members',
        'z',
        '--xrpc-port',
        '0',
        '--xrpc-url',
        'ftp://x',
      ],
      /--xrpc-url must be an http\(s\) URL/,
    ],
    [
      [
        'run',
        '--did',
        'x',
        '--owner',
        'y',
        '--cluster-members',
        'z',
        '--allow-registry',
        'https://ghcr.io',
      ],
      /--allow-registry: not a registry host: "https:\/\/ghcr.io"/,
    ],
    [
      ['run', '--did', 'x', '--owner', 'y', '--cluster-members', 'z', '--max-image-size', 'none'],
      /--max-image-size: the maximum image size must be a whole number of MiB from 1 to \d+ \(0: no limit\)/,
    ],
    [
      ['run', '--did', 'x', '--owner', 'y', '--cluster-members', 'z', '--max-image-size', '1.5'],
      /--max-image-size: the maximum image size must be a whole number/,
    ],
    [['logs'], /give the workload at-uri/],
    [
      ['logs', 'at://did:plc:a/commune.scheduler.workload/3k', '--lines', '0'],
      /--lines must be between 1 and 1000/,
    ],
    [['capacity'], /give the meshlet/],
    [['ps', '--bogus'], /Unknown option '--bogus'/],
  ])('refuses %j with exit code 2', async (argv, message) => {
    const t = io()
    expect(await main(argv, t.io)).toBe(2)
    expect(t.err.join('\n')).toMatch(message)
    expect(t.err.join('\n')).toContain('meshlet --help')
  })

  it('refuses a malformed DID or handle with exit code 2', async () => {
    const t = io({ MESHLET_PASSWORD: 'x' })
    const argv = ['run', '--did', 'not a did', '--owner', 'did:plc:b', '--cluster-members', 'c']
    expect(await main(argv, t.io)).toBe(2)
    expect(t.err.join('\n')).toMatch(/not a valid handle or DID: not a did/)
  })

  it('exits 2 from the real binary on a usage error', async () => {
    const bin = new URL('../../../bin/meshlet.js', import.meta.url).pathname
    const run = promisify(execFile)
    await expect(run(process.execPath, [bin, 'run'])).rejects.toMatchObject({
      code: 2,
      stderr: expect.stringContaining('missing --owner, --cluster-members'),
    })
  })
})
