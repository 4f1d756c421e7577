// core/portmap against a real router: miniupnpd in a network namespace (tests/support/
// netns-router.ts). The proof of a mapping is a peer outside the router reaching the HTTP server
// behind it through the URL we were given; the proof of its removal is that peer failing.
import { afterEach, describe, expect, it } from 'vitest'
import {
  RouterLab,
  WAN_ROUTER_IP,
  type LabOptions,
  type RouterConfig,
} from '../../support/netns-router.js'
import { JsonLinesChild as Client } from '../../support/json-lines-child.js'

const ROOT = new URL('../../../', import.meta.url).pathname
const CLIENT = new URL('../../support/portmap-client.ts', import.meta.url).pathname
const PORT = 8080

let lab: RouterLab | undefined
const clients: Client[] = []

async function setUp(router?: RouterConfig, opts?: LabOptions): Promise<RouterLab> {
  lab = await RouterLab.create(opts)
  if (router) await lab.startRouter(router)
  return lab
}

function startClient(opts: Record<string, unknown> = {}, ns?: string): Client {
  const child = lab!.spawnInClient(
    process.execPath,
    ['--import', 'tsx', CLIENT, JSON.stringify({ internalPort: PORT, ...opts })],
    ROOT,
    ns,
  )
  const client = new Client(child)
  clients.push(client)
  return client
}

afterEach(async () => {
  for (const c of clients.splice(0)) {
    if (c.alive) c.child.kill('SIGKILL')
    await c.exited
  }
  await lab?.destroy()
  lab = undefined
})

const expiryOf = (lease: string) => Number(lease.split(':')[4])

describe('openPortMapping with a real router (miniupnpd)', () => {
  it('maps with UPnP: a peer outside reaches us; close() removes it, twice is harmless', async () => {
    const lab = await setUp({})
    const client = startClient()
    const result = await client.next('result')
    expect(result.url).toBe(`http://${WAN_ROUTER_IP}:${PORT}`)
    expect(result.protocol).toBe('upnp')
    expect(await lab.fetchFromOutside(String(result.url))).toBe(`hello from ${PORT}`)
    const leases = await lab.leases()
    expect(leases).toHaveLength(1)
    expect(leases[0]).toMatch(
      new RegExp(`^TCP:${PORT}:10\\.77\\.1\\.2:${PORT}:\\d+:commune meshlet$`),
    )

    client.send('close')
    await client.next('closed')
    expect(await lab.forwards()).toEqual([])
    expect(await lab.fetchFromOutside(String(result.url))).toBeUndefined()
    client.send('close')
    await client.next('closed', 1)
    expect(client.events('portmap.closed')).toHaveLength(1)
    expect(client.alive).toBe(true)
  })

  it('renews the UPnP lease before it ends', async () => {
    const lab = await setUp({})
    // The library asks UPnP routers for an hour at least; we renew at half of ours (2 s).
    const client = startClient({ leaseMs: 4_000 })
    await client.next('result')
    const first = expiryOf((await lab.leases())[0]!)
    await client.next('portmap.renewed', 1)
    const leases = await lab.leases()
    expect(leases).toHaveLength(1)
    expect(expiryOf(leases[0]!)).toBeGreaterThan(first)
    expect(await lab.fetchFromOutside(`http://${WAN_ROUTER_IP}:${PORT}`)).toBe(`hello from ${PORT}`)
  })

  it('maps with NAT-PMP when the router has no UPnP, and its renewals keep it alive', async () => {
    const lab = await setUp({ upnp: false })
    const client = startClient({ leaseMs: 3_000 })
    const result = await client.next('result')
    expect(result).toMatchObject({ url: `http://${WAN_ROUTER_IP}:${PORT}`, protocol: 'natpmp' })
    expect(await lab.fetchFromOutside(String(result.url))).toBe(`hello from ${PORT}`)
    // Past two lease lengths: only renewals can have kept it.
    await client.next('portmap.renewed', 3)
    expect(await lab.fetchFromOutside(String(result.url))).toBe(`hello from ${PORT}`)

    client.send('close')
    await client.next('closed')
    expect(await lab.forwards()).toEqual([])
    expect(await lab.fetchFromOutside(String(result.url))).toBeUndefined()
  })

  it('a NAT-PMP mapping nobody renews ends with its lease (the control for the test above)', async () => {
    const lab = await setUp({ upnp: false })
    const client = startClient({ leaseMs: 3_000 })
    const result = await client.next('result')
    client.child.kill('SIGKILL')
    await client.exited
    await expect.poll(() => lab.forwards(), { timeout: 20_000 }).toEqual([])
    expect(await lab.fetchFromOutside(String(result.url))).toBeUndefined()
  })

  it('no router: resolves undefined with reason no-router', async () => {
    await setUp()
    const client = startClient()
    const result = await client.next('result')
    expect(result.url).toBeNull()
    expect(client.events('portmap.unavailable')).toMatchObject([{ reason: 'no-router' }])
  })

  it('aborting the signal while it asks: undefined with reason aborted', async () => {
    await setUp()
    const client = startClient()
    client.send('abort')
    expect((await client.next('result')).url).toBeNull()
    // Without the abort this would be no-router (the test above).
    expect(client.events('portmap.unavailable')).toMatchObject([{ reason: 'aborted' }])
  })

  it('aborting the signal once open removes the mapping, as close() does', async () => {
    const lab = await setUp({})
    const client = startClient()
    const result = await client.next('result')
    expect(await lab.fetchFromOutside(String(result.url))).toBe(`hello from ${PORT}`)
    client.send('abort')
    await client.next('portmap.closed')
    expect(await lab.forwards()).toEqual([])
    expect(await lab.fetchFromOutside(String(result.url))).toBeUndefined()
    client.send('close')
    await client.next('closed')
    expect(client.events('portmap.closed')).toHaveLength(1)
  })

  it('a router that refuses (NAT-PMP, result code): resolves undefined with reason refused', async () => {
    // miniupnpd behind another NAT answers NAT-PMP with "Network Failure". (A refusal by its
    // permission rules would be the other kind, but it first tries all 65535 ports against
    // them, logging each to the console, which takes it a minute.)
    const lab = await setUp({ upnp: false }, { privateWan: true })
    const client = startClient()
    const result = await client.next('result')
    expect(result.url).toBeNull()
    const [why] = client.events('portmap.unavailable')
    expect(why).toMatchObject({ reason: 'refused' })
    expect(String(why!.detail)).toMatch(/^natpmp: Network Failure/)
    expect(await lab.forwards()).toEqual([])
  })

  it('a router behind another NAT (UPnP): external-not-public, maps nothing', async () => {
    const lab = await setUp({}, { privateWan: true })
    const client = startClient()
    const result = await client.next('result')
    expect(result.url).toBeNull()
    expect(client.events('portmap.unavailable')).toMatchObject([
      { reason: 'external-not-public', detail: 'upnp: none' },
    ])
    expect(await lab.forwards()).toEqual([])
  })

  it("given another external port (a neighbour has ours), close() leaves the neighbour's mapping alone", async () => {
    // Without secure mode the router would let us delete the neighbour's mapping: the library's
    // UPnP removal names the external port equal to our internal one, which is the neighbour's.
    const lab = await setUp({ secureMode: false }, { neighbour: true })
    const neighbour = startClient({ name: 'neighbour' }, lab.neighbour)
    expect((await neighbour.next('result')).url).toBe(`http://${WAN_ROUTER_IP}:${PORT}`)
    const client = startClient({ name: 'us' })
    const ours = String((await client.next('result')).url)
    expect(ours).toMatch(new RegExp(`^http://${WAN_ROUTER_IP.replaceAll('.', '\\.')}:\\d+$`))
    expect(ours).not.toBe(`http://${WAN_ROUTER_IP}:${PORT}`)
    expect(await lab.fetchFromOutside(ours)).toBe('hello from us')

    client.send('close')
    await client.next('closed')
    expect(await lab.fetchFromOutside(`http://${WAN_ROUTER_IP}:${PORT}`)).toBe(
      'hello from neighbour',
    )
    // Ours stays until its lease ends (the limit this costs).
    expect(await lab.fetchFromOutside(ours)).toBe('hello from us')
    expect(client.events('portmap.left-to-lease')).toHaveLength(1)
  })

  it('the router goes away: renewals fail with back-off, the loss is told, and the mapping comes back with the router', async () => {
    const lab = await setUp({})
    const client = startClient({ leaseMs: 3_000, retryMinMs: 300, retryMaxMs: 1_200 })
    const result = await client.next('result')
    await lab.stopRouter()
    await client.next('portmap.renew-failed', 3)
    const waits = client.events('portmap.renew-failed').map((l) => l.retryInMs)
    expect(waits.slice(0, 4)).toEqual([300, 600, 1_200, 1_200])
    expect(await client.next('change')).toMatchObject({ url: null })
    expect(client.events('portmap.lost')).toHaveLength(1)
    expect(client.alive).toBe(true)

    await lab.startRouter({})
    expect(await client.next('change', 1)).toMatchObject({ url: result.url })
    expect(await lab.fetchFromOutside(String(result.url))).toBe(`hello from ${PORT}`)
    client.send('close')
    await client.next('closed')
    expect(await lab.forwards()).toEqual([])
  })
})
