// The pure parts of the API: the replay cache, who may call what, which endpoint to publish.
import { describe, expect, it } from 'vitest'
import { authorize, workloadOwner } from '../../../core/xrpc/authorize.js'
import { alternatesFor, endpointFor, reachableAddress } from '../../../core/xrpc/endpoint.js'
import { ReplayCache } from '../../../core/xrpc/replay-cache.js'

describe('ReplayCache', () => {
  it('accepts a jti once until it expires', () => {
    const c = new ReplayCache()
    expect(c.check('a', 2000, 1000)).toBe('fresh')
    expect(c.check('a', 2000, 1500)).toBe('replayed')
    expect(c.check('b', 2000, 1500)).toBe('fresh')
    // Expired tokens are refused by the verifier anyway; the entry may be reused.
    expect(c.check('a', 5000, 3000)).toBe('fresh')
  })

  it('stays bounded: forgets expired entries, refuses rather than forget live ones', () => {
    const c = new ReplayCache({ maxEntries: 3 })
    for (const j of ['a', 'b', 'c']) expect(c.check(j, 2000, 1000)).toBe('fresh')
    expect(c.check('d', 2000, 1000)).toBe('full')
    expect(c.check('a', 2000, 1000)).toBe('replayed')
    expect(c.size).toBe(3)
    expect(c.check('d', 9000, 2001)).toBe('fresh')
    expect(c.size).toBe(1)
  })

  it('refuses a nonsensical bound', () => {
    expect(() => new ReplayCache({ maxEntries: 0 })).toThrow(RangeError)
  })
})

describe('authorize', () => {
  const facts = {
    owner: 'did:plc:alice',
    members: new Set(['did:plc:bob', 'did:plc:bobmesh']),
    workloadUri: 'at://did:plc:bob/commune.scheduler.workload/3k',
  }
  const table: [Parameters<typeof authorize>[0], string, boolean][] = [
    ['member', 'did:plc:alice', true],
    ['member', 'did:plc:bob', true],
    ['member', 'did:plc:bobmesh', true],
    ['member', 'did:plc:carol', false],
    ['meshlet-owner', 'did:plc:alice', true],
    ['meshlet-owner', 'did:plc:bob', false],
    ['workload-owner', 'did:plc:bob', true],
    ['workload-owner', 'did:plc:alice', false],
    ['workload-owner', 'did:plc:carol', false],
  ]
  it.each(table)('%s: %s → %s', (rule, caller, ok) => {
    const d = authorize(rule, caller, facts)
    expect(d.ok).toBe(ok)
    if (!d.ok) expect(d.reason.length).toBeGreaterThan(10)
  })

  it('knows no owner for a handle authority or garbage', () => {
    expect(workloadOwner('at://bob.test/commune.scheduler.workload/3k')).toBeUndefined()
    expect(workloadOwner('nonsense')).toBeUndefined()
    expect(authorize('workload-owner', 'did:plc:bob', { ...facts, workloadUri: 'x' }).ok).toBe(
      false,
    )
  })
})

describe('endpointFor', () => {
  const lan = () => ({
    lo: [{ address: '127.0.0.1', family: 'IPv4', internal: true }],
    eth0: [{ address: '192.168.1.20', family: 'IPv4', internal: false }],
  })
  it('publishes loopback only on a local network, for a wildcard bind too', () => {
    expect(endpointFor({ hostname: '127.0.0.1', port: 80 })).toBeUndefined()
    expect(endpointFor({ hostname: '127.0.0.1', port: 80 }, { localNetwork: true })).toBe(
      'http://127.0.0.1:80',
    )
    expect(
      endpointFor(
        { hostname: '0.0.0.0', port: 80 },
        { localNetwork: true, interfaces: lan as never },
      ),
    ).toBe('http://127.0.0.1:80')
  })
  it('publishes the LAN address for a wildcard bind, the host given otherwise', () => {
    const interfaces = lan as never
    expect(endpointFor({ hostname: '0.0.0.0', port: 7000 }, { interfaces })).toBe(
      'http://192.168.1.20:7000',
    )
    expect(endpointFor({ hostname: '10.0.0.5', port: 7000 })).toBe('http://10.0.0.5:7000')
    expect(
      endpointFor({ hostname: '0.0.0.0', port: 7000 }, { publicUrl: 'https://home.example/x' }),
    ).toBe('https://home.example')
  })
  it('publishes nothing for a wildcard bind with no address others could reach', () => {
    const interfaces = () => ({
      lo: [{ address: '127.0.0.1', family: 'IPv4', internal: true }],
      docker0: [{ address: '172.17.0.1', family: 'IPv4', internal: false }],
      eth0: [
        { address: '169.254.3.4', family: 'IPv4', internal: false },
        { address: 'fe80::1', family: 'IPv6', internal: false },
      ],
    })
    expect(
      endpointFor({ hostname: '0.0.0.0', port: 7000 }, { interfaces: interfaces as never }),
    ).toBe(undefined)
  })
})

describe('reachableAddress', () => {
  const v4 = (address: string) => [{ address, family: 'IPv4', internal: false }]
  it('prefers a public address, then a VPN’s, then the LAN’s, whatever the order', () => {
    const home = { eth0: v4('192.168.1.20'), docker0: v4('172.17.0.1') }
    expect(reachableAddress(home as never)).toBe('192.168.1.20')
    const vpn = { ...home, tailscale0: v4('100.101.102.103') }
    expect(reachableAddress(vpn as never)).toBe('100.101.102.103')
    // Tailscale on macOS shows as utunN: known by its range.
    expect(reachableAddress({ en0: v4('10.0.0.7'), utun4: v4('100.80.1.2') } as never)).toBe(
      '100.80.1.2',
    )
    expect(reachableAddress({ wg0: v4('10.8.0.2'), en0: v4('192.168.0.9') } as never)).toBe(
      '10.8.0.2',
    )
    const server = { ...vpn, ens3: v4('203.0.113.10') }
    expect(reachableAddress(server as never)).toBe('203.0.113.10')
  })
  it('never picks loopback, link-local, or a bridge to local containers or VMs', () => {
    const only = {
      lo: [{ address: '127.0.0.1', family: 'IPv4', internal: true }],
      'br-1a2b': v4('172.18.0.1'),
      virbr0: v4('192.168.122.1'),
      vethabc: v4('10.200.0.1'),
      eth0: v4('169.254.10.10'),
    }
    expect(reachableAddress(only as never)).toBeUndefined()
  })
})

describe('alternatesFor', () => {
  const v4 = (address: string) => [{ address, family: 'IPv4', internal: false }]
  const home = () => ({ eth0: v4('192.168.1.20'), tailscale0: v4('100.101.1.2') })
  const bound = { hostname: '0.0.0.0', port: 7000 }
  it('with a router’s forward as the endpoint: every address of this machine, best first', () => {
    expect(alternatesFor(bound, 'http://203.0.113.5:7000', { interfaces: home as never })).toEqual([
      'http://100.101.1.2:7000',
      'http://192.168.1.20:7000',
    ])
  })
  it('with its best address as the endpoint: the others', () => {
    expect(alternatesFor(bound, 'http://100.101.1.2:7000', { interfaces: home as never })).toEqual([
      'http://192.168.1.20:7000',
    ])
  })
  it('none for a bind to one address, a local network or no endpoint; at most three', () => {
    const many = () => ({
      a: v4('10.0.0.1'),
      b: v4('10.0.0.2'),
      c: v4('10.0.0.3'),
      d: v4('10.0.0.4'),
      e: v4('10.0.0.5'),
    })
    const interfaces = many as never
    expect(alternatesFor({ hostname: '10.0.0.1', port: 1 }, 'http://x:1', { interfaces })).toEqual(
      [],
    )
    expect(alternatesFor(bound, 'http://x:1', { interfaces, localNetwork: true })).toEqual([])
    expect(alternatesFor(bound, undefined, { interfaces })).toEqual([])
    expect(alternatesFor(bound, 'http://10.0.0.1:7000', { interfaces })).toHaveLength(3)
  })
})
