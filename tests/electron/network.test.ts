import { describe, expect, it } from 'vitest'
import * as daemon from '../../core/cli/main.js'
import {
  DEFAULT_FIREHOSE,
  DEFAULT_HANDLE_RESOLVER,
  DEFAULT_PLC,
  NetworkConfigError,
  networkFromEnv,
} from '../../electron/network.js'

describe('networkFromEnv', () => {
  it("uses the daemon's defaults", () => {
    expect([DEFAULT_PLC, DEFAULT_HANDLE_RESOLVER, DEFAULT_FIREHOSE]).toEqual([
      daemon.DEFAULT_PLC,
      daemon.DEFAULT_HANDLE_RESOLVER,
      daemon.DEFAULT_FIREHOSE,
    ])
  })

  it('defaults to the real network', () => {
    expect(networkFromEnv({})).toEqual({
      plcUrl: DEFAULT_PLC,
      handleResolverUrl: DEFAULT_HANDLE_RESOLVER,
      firehose: DEFAULT_FIREHOSE,
      source: 'jetstream',
    })
    expect(networkFromEnv({ MESHLET_PLC: '  ', MESHLET_FIREHOSE: '' }).plcUrl).toBe(DEFAULT_PLC)
  })

  it('takes a local network from the environment and marks it local', () => {
    expect(
      networkFromEnv({
        MESHLET_PLC: 'http://127.0.0.1:2582',
        MESHLET_HANDLE_RESOLVER: 'http://localhost:2583/',
        MESHLET_FIREHOSE: 'ws://127.0.0.1:2583',
      }),
    ).toEqual({
      plcUrl: 'http://127.0.0.1:2582',
      handleResolverUrl: 'http://localhost:2583',
      firehose: 'ws://127.0.0.1:2583',
      source: 'relay',
      local: true,
    })
  })

  it('is not local when only other services are on loopback', () => {
    const net = networkFromEnv({ MESHLET_FIREHOSE: 'ws://127.0.0.1:2583' })
    expect(net.local).toBeUndefined()
  })

  it.each([
    [{ MESHLET_PLC: 'plc.directory' }, /MESHLET_PLC is not a URL/],
    [{ MESHLET_PLC: 'http://plc.example.org' }, /MESHLET_PLC must be https:/],
    [{ MESHLET_PLC: 'http://127.0.0.1.evil.com' }, /MESHLET_PLC must be https:/],
    [{ MESHLET_PLC: 'file:///etc/plc' }, /MESHLET_PLC must be https:/],
    [{ MESHLET_HANDLE_RESOLVER: 'http://api.example.org' }, /MESHLET_HANDLE_RESOLVER must be/],
    [{ MESHLET_FIREHOSE: 'https://bsky.network' }, /MESHLET_FIREHOSE must be wss:/],
    [{ MESHLET_FIREHOSE: 'ws://bsky.network' }, /MESHLET_FIREHOSE must be wss:/],
  ])('refuses %j', (env, message) => {
    expect(() => networkFromEnv(env)).toThrow(NetworkConfigError)
    expect(() => networkFromEnv(env)).toThrow(message)
  })
})
