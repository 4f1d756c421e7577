// The pure parts of core/portmap: which external address makes us reachable, where the default
// gateway is, and the options refused before anything touches the network.
import { describe, expect, it } from 'vitest'
import { silentLogger } from '../../../core/log.js'
import { isPublicIPv4, openPortMapping } from '../../../core/portmap/index.js'
import { parseProcNetRoute, parseRouteGet } from '../../../core/portmap/gateway.js'

describe('isPublicIPv4', () => {
  it.each([
    ['8.8.8.8', true],
    ['11.78.1.1', true],
    ['100.63.255.255', true],
    ['100.128.0.0', true],
    ['172.32.0.1', true],
    ['192.169.0.1', true],
    ['223.255.255.254', true],
    ['10.0.0.1', false],
    ['100.64.0.1', false], // CGNAT: double NAT
    ['100.127.255.254', false],
    ['127.0.0.1', false],
    ['169.254.1.1', false],
    ['172.16.0.1', false],
    ['172.31.255.255', false],
    ['192.168.1.1', false],
    ['192.0.2.1', false],
    ['198.18.0.1', false],
    ['198.19.255.255', false],
    ['198.51.100.1', false],
    ['203.0.113.1', false],
    ['0.0.0.0', false],
    ['224.0.0.1', false],
    ['255.255.255.255', false],
    // Not a dotted quad: what a confused router may answer.
    ['', false],
    ['none', false],
    ['2001:db8::1', false],
    ['::ffff:8.8.8.8', false],
    ['8.8.8', false],
    ['8.8.8.8 ', false],
    ['256.1.1.1', false],
  ])('%j is public: %s', (ip, expected) => {
    expect(isPublicIPv4(ip)).toBe(expected)
  })
})

describe('default gateway', () => {
  const header =
    'Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT\n'
  it('reads the default route of /proc/net/route (little-endian hex)', () => {
    const table =
      header +
      'eth0\t0001A8C0\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0\n' +
      'eth0\t00000000\t0101A8C0\t0003\t0\t0\t100\t00000000\t0\t0\t0\n'
    expect(parseProcNetRoute(table)).toBe('192.168.1.1')
  })
  it('ignores a default route without a gateway, one that is down, and garbage', () => {
    expect(parseProcNetRoute(header + 'wg0\t00000000\t00000000\t0001\t0\t0\t0\t00000000\n')).toBe(
      undefined,
    )
    expect(parseProcNetRoute(header + 'eth0\t00000000\t0101A8C0\t0002\t0\t0\t0\t00000000\n')).toBe(
      undefined,
    )
    expect(parseProcNetRoute(header + 'eth0\t00000000\tZZZZ\t0003\n')).toBe(undefined)
    expect(parseProcNetRoute('')).toBe(undefined)
  })
  it("reads macOS's route -n get default", () => {
    const out =
      '   route to: default\ndestination: default\n       mask: default\n    gateway: 10.0.1.1\n  interface: en0\n'
    expect(parseRouteGet(out)).toBe('10.0.1.1')
    expect(parseRouteGet('route: writing to routing socket: not in table\n')).toBe(undefined)
  })
})

describe('openPortMapping refuses bad options before asking any router', () => {
  it.each([0, -1, 65536, 80.5, NaN])('internalPort %s', async (internalPort) => {
    await expect(openPortMapping({ internalPort, log: silentLogger })).rejects.toThrow(RangeError)
  })
  it.each([
    { leaseMs: 0 },
    { leaseMs: Infinity },
    { timeoutMs: -5 },
    { retryMinMs: NaN },
    { retryMaxMs: 0 },
  ])('%j', async (bad) => {
    await expect(
      openPortMapping({ internalPort: 8080, log: silentLogger, ...bad }),
    ).rejects.toThrow(RangeError)
  })
  it.each(['router.local', '::1', '10.0.0'])('gateway %j', async (gateway) => {
    await expect(
      openPortMapping({ internalPort: 8080, log: silentLogger, gateway }),
    ).rejects.toThrow(TypeError)
  })
  it('an already aborted signal: undefined, nothing asked', async () => {
    const lines: unknown[] = []
    const log = {
      log: (_l: string, event: string, fields?: object) => lines.push({ event, ...fields }),
    }
    const result = await openPortMapping({ internalPort: 8080, log, signal: AbortSignal.abort() })
    expect(result).toBeUndefined()
    expect(lines).toEqual([{ event: 'portmap.unavailable', reason: 'aborted' }])
  })
})
