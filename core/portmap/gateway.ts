// Where NAT-PMP asks: the IPv4 default gateway (UPnP finds its router by multicast instead).
import { execFile } from 'node:child_process'
import { createSocket } from 'node:dgram'
import { readFile } from 'node:fs/promises'

/** The IPv4 default gateway in the text of Linux's /proc/net/route, or undefined. Pure. */
export function parseProcNetRoute(text: string): string | undefined {
  const RTF_UP = 0x1
  const RTF_GATEWAY = 0x2
  for (const line of text.split('\n').slice(1)) {
    const [, dest, gw, flags] = line.trim().split(/\s+/)
    if (dest !== '00000000' || gw === undefined || flags === undefined) continue
    const f = parseInt(flags, 16)
    if (!(f & RTF_UP) || !(f & RTF_GATEWAY) || !/^[0-9A-Fa-f]{8}$/.test(gw)) continue
    const n = parseInt(gw, 16)
    // The kernel prints the address in host byte order (little endian on every Linux we run on).
    return [n & 0xff, (n >>> 8) & 0xff, (n >>> 16) & 0xff, n >>> 24].join('.')
  }
  return undefined
}

/** The gateway line of macOS's `route -n get default`, or undefined. Pure. */
export function parseRouteGet(text: string): string | undefined {
  const m = /^\s*gateway:\s*(\d{1,3}(?:\.\d{1,3}){3})\s*$/m.exec(text)
  return m?.[1]
}

/** The default gateway of this machine, or undefined when it cannot tell (Windows: UPnP only). */
export async function defaultGateway(timeoutMs: number): Promise<string | undefined> {
  try {
    if (process.platform === 'linux') {
      return parseProcNetRoute(await readFile('/proc/net/route', 'utf8'))
    }
    if (process.platform === 'darwin') {
      const out = await new Promise<string>((resolve, reject) =>
        execFile('route', ['-n', 'get', 'default'], { timeout: timeoutMs }, (err, stdout) =>
          err ? reject(err) : resolve(stdout),
        ),
      )
      return parseRouteGet(out)
    }
  } catch {
    // No route table to read: NAT-PMP is skipped, UPnP still tries.
  }
  return undefined
}

/** Our own address on the way to `host`: the one a router sees our requests come from, so
 *  the one it must forward to. A UDP connect only asks the kernel for a route; nothing is sent. */
export async function localAddressToward(host: string): Promise<string> {
  const socket = createSocket('udp4')
  try {
    await new Promise<void>((resolve, reject) => {
      socket.once('error', reject)
      socket.connect(9, host, () => resolve())
    })
    return socket.address().address
  } finally {
    socket.close()
  }
}
