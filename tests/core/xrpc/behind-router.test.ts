// A meshlet behind a real home router (miniupnpd in network namespaces, tests/support/
// netns-router.ts) serves its API as it does by default, on every interface: it asks the router
// for a forward and publishes the router's public address, and a peer on the internet side pings
// it there and gets its DID, which is what liveness by challenge needs. Stopping removes it.
import { afterEach, describe, expect, it } from 'vitest'
import { CLIENT_IP, LAN_ROUTER_IP, RouterLab, WAN_ROUTER_IP } from '../../support/netns-router.js'

const ROOT = new URL('../../../', import.meta.url).pathname
const SCRIPT = new URL('../../support/api-behind-router.ts', import.meta.url).pathname

type Line = Record<string, unknown> & { event?: string }

let lab: RouterLab | undefined
afterEach(async () => {
  await lab?.destroy()
  lab = undefined
})

function start(lab: RouterLab) {
  const child = lab.spawnInClient(
    process.execPath,
    ['--import', 'tsx', SCRIPT, LAN_ROUTER_IP],
    ROOT,
  )
  const lines: Line[] = []
  let stderr = ''
  let buf = ''
  child.stdout!.on('data', (d: Buffer) => {
    buf += d.toString()
    let i
    while ((i = buf.indexOf('\n')) >= 0) {
      const line = buf.slice(0, i)
      buf = buf.slice(i + 1)
      try {
        lines.push(JSON.parse(line) as Line)
      } catch {
        stderr += line + '\n'
      }
    }
  })
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()))
  const exited = new Promise((resolve) => child.once('exit', resolve))
  return {
    lines,
    events: (name: string) => lines.filter((l) => l.event === name),
    send: (cmd: string) => child.stdin!.write(cmd + '\n'),
    stop: async () => {
      if (child.exitCode === null) child.kill('SIGKILL')
      await exited
    },
    why: () => `${stderr}\n${lines.map((l) => JSON.stringify(l)).join('\n')}`,
  }
}

describe('the meshlet API behind a home router', () => {
  it('publishes the router’s forward, where a peer outside pings it; stopping removes it', async () => {
    lab = await RouterLab.create()
    await lab.startRouter({})
    const meshlet = start(lab)
    try {
      // Serving starts at once with the LAN address; the forward follows when the router grants it.
      await expect
        .poll(() => meshlet.events('endpoint').length, { timeout: 30_000, message: meshlet.why() })
        .toBeGreaterThanOrEqual(2)
      const [first, mapped] = meshlet.events('endpoint') as { endpoint: string; bound?: string }[]
      const port = new URL(first!.bound!).port
      expect(first!.endpoint).toBe(`http://${CLIENT_IP}:${port}`)
      expect(mapped!.endpoint).toBe(`http://${WAN_ROUTER_IP}:${port}`)

      const pinged = await lab.fetchFromOutside(`${mapped!.endpoint}/xrpc/farm.meshlet.ping`)
      expect(pinged && JSON.parse(pinged)).toEqual({ meshlet: 'did:plc:behindrouter' })

      meshlet.send('close')
      await expect
        .poll(() => meshlet.events('closed').length, { timeout: 30_000, message: meshlet.why() })
        .toBe(1)
      expect(await lab.forwards()).toEqual([])
      expect(await lab.fetchFromOutside(`${mapped!.endpoint}/xrpc/farm.meshlet.ping`)).toBe(
        undefined,
      )
    } finally {
      await meshlet.stop()
    }
  })

  it('without a router it keeps its LAN address, after one unanswered question', async () => {
    lab = await RouterLab.create() // no router daemon: nothing answers UPnP or NAT-PMP
    const meshlet = start(lab)
    try {
      await expect
        .poll(() => meshlet.lines.some((l) => l.event === 'portmap.unavailable'), {
          timeout: 30_000,
          message: meshlet.why(),
        })
        .toBe(true)
      const endpoints = meshlet.events('endpoint')
      expect(endpoints).toHaveLength(1)
      expect(String(endpoints[0]!.endpoint)).toMatch(new RegExp(`^http://${CLIENT_IP}:\\d+$`))
    } finally {
      await meshlet.stop()
    }
  })
})
