// A meshlet behind a real home router (miniupnpd in network namespaces, tests/support/
// netns-router.ts) serves its API as it does by default, on every interface: it asks the router
// for a forward and publishes the router's public address, and a peer on the internet side pings
// it there and gets its DID, which is what liveness by challenge needs. Stopping removes it.
import { afterEach, describe, expect, it } from 'vitest'
import { JsonLinesChild } from '../../support/json-lines-child.js'
import { CLIENT_IP, LAN_ROUTER_IP, RouterLab, WAN_ROUTER_IP } from '../../support/netns-router.js'

const ROOT = new URL('../../../', import.meta.url).pathname
const SCRIPT = new URL('../../support/api-behind-router.ts', import.meta.url).pathname

let lab: RouterLab | undefined
let meshlet: JsonLinesChild | undefined
afterEach(async () => {
  if (meshlet?.alive) meshlet.child.kill('SIGKILL')
  await meshlet?.exited
  meshlet = undefined
  await lab?.destroy()
  lab = undefined
})

function start(lab: RouterLab): JsonLinesChild {
  const child = lab.spawnInClient(
    process.execPath,
    ['--import', 'tsx', SCRIPT, LAN_ROUTER_IP],
    ROOT,
  )
  return (meshlet = new JsonLinesChild(child))
}

describe('the meshlet API behind a home router', () => {
  it('publishes the router’s forward, where a peer outside pings it; stopping removes it', async () => {
    lab = await RouterLab.create()
    await lab.startRouter({})
    const m = start(lab)
    // Serving starts at once with the LAN address; the forward follows when the router grants it.
    const first = await m.next('endpoint')
    const mapped = await m.next('endpoint', 1)
    const port = new URL(String(first.bound)).port
    expect(first.endpoint).toBe(`http://${CLIENT_IP}:${port}`)
    expect(mapped.endpoint).toBe(`http://${WAN_ROUTER_IP}:${port}`)
    // Peers in the same home may not get through the router's address: the LAN's is published too.
    expect(first.alternates).toEqual([])
    expect(mapped.alternates).toEqual([`http://${CLIENT_IP}:${port}`])

    const ping = `${String(mapped.endpoint)}/xrpc/farm.meshlet.ping`
    const pinged = await lab.fetchFromOutside(ping)
    expect(pinged && JSON.parse(pinged)).toEqual({ meshlet: 'did:plc:behindrouter' })

    m.send('close')
    await m.next('closed')
    expect(await lab.forwards()).toEqual([])
    expect(await lab.fetchFromOutside(ping)).toBeUndefined()
  })

  it('without a router it keeps its LAN address, after one unanswered question', async () => {
    lab = await RouterLab.create() // no router daemon: nothing answers UPnP or NAT-PMP
    const m = start(lab)
    await m.next('portmap.unavailable')
    const endpoints = m.events('endpoint')
    expect(endpoints).toHaveLength(1)
    expect(String(endpoints[0]!.endpoint)).toMatch(new RegExp(`^http://${CLIENT_IP}:\\d+$`))
  })
})
