// The API's lifetime: a wildcard bind off a local network follows the machine from network to
// network (a laptop carried from home to elsewhere), publishing the new address and asking the
// new network's router (here: none answers, as on this machine) instead of keeping the old ones.
import { afterEach, describe, expect, it } from 'vitest'
import { jsonLogger } from '../../../core/log.js'
import { ApiService } from '../../../core/xrpc/service.js'

const v4 = (address: string) => [
  { address, family: 'IPv4', internal: false, netmask: '255.255.255.0', mac: '', cidr: null },
]

let api: ApiService | undefined
afterEach(async () => {
  await api?.close()
  api = undefined
})

function service(interfaces: () => Record<string, unknown>, lines: string[] = []) {
  let changes = 0
  api = new ApiService({
    host: { self: () => ({ meshlet: 'did:plc:roaming', owner: 'did:plc:owner' }) } as never,
    identity: { resolveDid: async () => undefined } as never,
    interfaces: interfaces as never,
    networkCheckMs: 50,
    onEndpointChange: () => changes++,
    log: jsonLogger((l) => lines.push(l), { level: 'debug' }),
  })
  return { api, changes: () => changes }
}

describe('ApiService on a machine that changes networks', () => {
  it('publishes the new network’s address and asks its router again', async () => {
    let now = { en0: v4('192.168.1.20') }
    const lines: string[] = []
    const s = service(() => now, lines)
    await s.api.apply({ port: 0, hostname: '0.0.0.0' })
    const port = new URL(s.api.url!).port
    expect(s.api.endpoint).toBe(`http://192.168.1.20:${port}`)
    const asked = () => lines.filter((l) => l.includes('"portmap.unavailable"')).length
    await expect.poll(asked, { timeout: 20_000 }).toBe(1) // no router here

    now = { en0: v4('10.0.0.7') }
    await expect.poll(() => s.changes(), { timeout: 5_000 }).toBe(1)
    expect(s.api.endpoint).toBe(`http://10.0.0.7:${port}`)
    expect(lines.some((l) => l.includes('"xrpc.network-changed"'))).toBe(true)
    await expect.poll(asked, { timeout: 20_000 }).toBe(2)

    // Nothing changes: nothing is published again.
    await new Promise((r) => setTimeout(r, 300))
    expect(s.changes()).toBe(1)
  }, 60_000)

  it('off every network, publishes nothing; back on one, publishes it', async () => {
    let now: Record<string, unknown> = { en0: v4('192.168.1.20') }
    const s = service(() => now)
    await s.api.apply({ port: 0, hostname: '0.0.0.0' })
    now = {}
    await expect.poll(() => s.changes(), { timeout: 5_000 }).toBe(1)
    expect(s.api.endpoint).toBeUndefined()
    now = { wg0: v4('10.8.0.2'), en0: v4('192.168.7.7') }
    await expect.poll(() => s.changes(), { timeout: 5_000 }).toBe(2)
    expect(s.api.endpoint).toMatch(/^http:\/\/10\.8\.0\.2:\d+$/)
  }, 60_000)

  it('does not watch a bind with a forwarded URL, nor one on loopback', async () => {
    for (const wish of [
      { port: 0, hostname: '0.0.0.0', publicUrl: 'https://home.example' },
      { port: 0, hostname: '127.0.0.1' },
    ]) {
      let now = { en0: v4('192.168.1.20') }
      const s = service(() => now)
      await s.api.apply(wish)
      const before = s.api.endpoint
      now = { en0: v4('10.0.0.7') }
      await new Promise((r) => setTimeout(r, 300))
      expect(s.changes()).toBe(0)
      expect(s.api.endpoint).toBe(before)
      await s.api.close()
    }
  })
})
