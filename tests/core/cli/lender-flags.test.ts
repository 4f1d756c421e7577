import { mkdtemp, readFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { UsageError } from '../../../core/cli/args.js'
import { lenderPolicyFromFlags } from '../../../core/cli/lender-flags.js'
import { main, type Io } from '../../../core/cli/main.js'
import { NSID } from '../../../core/lexicon/index.js'
import { createMember, eventually, link, startNetwork, type Network } from '../../_util.js'

describe('meshlet run: the lender’s image policy flags', () => {
  it('leaves the saved settings be when no flag is given', () => {
    expect(lenderPolicyFromFlags({})).toEqual({})
  })

  it('takes repeated --allow-registry hosts, normalized, and --max-image-size in MiB', () => {
    expect(
      lenderPolicyFromFlags({
        'allow-registry': ['127.0.0.1:5055', 'Docker.io', 'registry-1.docker.io'],
        'max-image-size': '250',
      }),
    ).toEqual({ allowRegistries: ['127.0.0.1:5055', 'docker.io'], maxImageMiB: 250 })
  })

  it('clears a saved policy with --allow-registry any and --max-image-size 0', () => {
    expect(lenderPolicyFromFlags({ 'allow-registry': ['any'], 'max-image-size': '0' })).toEqual({
      allowRegistries: null,
      maxImageMiB: null,
    })
  })

  it.each([
    [{ 'allow-registry': ['any', 'ghcr.io'] }, /--allow-registry: any means every registry/],
    [{ 'allow-registry': ['ghcr.io/owner'] }, /--allow-registry/],
    [{ 'allow-registry': [''] }, /--allow-registry/],
    [{ 'max-image-size': '-1' }, /--max-image-size/],
    [{ 'max-image-size': 'big' }, /--max-image-size/],
    [{ 'max-image-size': '99999999' }, /--max-image-size/],
  ])('refuses %j as a usage error', (values, message) => {
    expect(() => lenderPolicyFromFlags(values)).toThrow(UsageError)
    expect(() => lenderPolicyFromFlags(values)).toThrow(message)
  })
})

describe('a daemon whose saved image policy the flags clear', () => {
  let net: Network

  beforeAll(async () => {
    net = await startNetwork()
  })

  afterAll(async () => {
    await net?.close()
  })

  it('publishes and saves the policy, then drops both with any and 0', async () => {
    const alice = await createMember(net, 'alice')
    await link(alice)
    const dataDir = await mkdtemp(join(tmpdir(), 'meshlet-daemon-'))
    const membership = async () =>
      (
        await alice.meshlet.session.agent.com.atproto.repo.getRecord({
          repo: alice.meshlet.did,
          collection: NSID.membership,
          rkey: 'self',
        })
      ).data.value as { allowRegistries?: string[] }
    const saved = async () =>
      (JSON.parse(await readFile(join(dataDir, 'settings.json'), 'utf8')) as { settings: object })
        .settings
    const run = async (
      flags: string[],
      published: (m: { allowRegistries?: string[] }) => boolean,
    ) => {
      let stop!: () => void
      const stopped = new Promise<void>((r) => (stop = r))
      const io: Io = {
        out: () => {},
        err: () => {},
        env: { MESHLET_PASSWORD: alice.meshlet.password },
        stopSignal: stopped,
      }
      const exit = main(
        [
          'run',
          ...['--did', alice.meshlet.did, '--owner', alice.owner.did],
          ...['--cluster-members', alice.owner.did, '--data-dir', dataDir, '--no-docker'],
          ...['--plc', net.plc.url, '--handle-resolver', net.pds.url, '--firehose', net.pds.url],
          ...flags,
        ],
        io,
      )
      await eventually('the membership record', async () => published(await membership()))
      stop()
      expect(await exit).toBe(0)
    }
    await run(['--allow-registry', '127.0.0.1:5055', '--max-image-size', '100'], (m) =>
      Boolean(m.allowRegistries?.includes('127.0.0.1:5055')),
    )
    expect(await saved()).toMatchObject({ allowRegistries: ['127.0.0.1:5055'], maxImageMiB: 100 })
    // A restart without the flags keeps what was saved.
    await run([], (m) => Boolean(m.allowRegistries?.includes('127.0.0.1:5055')))
    expect(await saved()).toMatchObject({ allowRegistries: ['127.0.0.1:5055'], maxImageMiB: 100 })
    await run(
      ['--allow-registry', 'any', '--max-image-size', '0'],
      (m) => m.allowRegistries === undefined,
    )
    expect(await saved()).not.toHaveProperty('allowRegistries')
    expect(await saved()).not.toHaveProperty('maxImageMiB')
  }, 60_000)
})
