// A real home router in network namespaces, for core/portmap: Debian's miniupnpd (UPnP IGD v2
// and NAT-PMP over nftables) between a LAN and a WAN, each a veth pair.
//
//   client ns (10.77.1.2) ── LAN ── router ns (10.77.1.1 | 11.78.1.1) ── WAN ── outside ns (11.78.1.2)
//   [neighbour ns (10.77.1.3) ──┘  (optional: a second machine at home)]
//
// The client ns is where the code under test runs (a child process, `ip netns exec`); the
// outside ns plays a peer on the internet. Namespaces are private, so the addresses are the same
// in every lab; names (namespaces, interfaces) carry a random id, so parallel runs never clash.
// The WAN uses a public-looking address because miniupnpd 2.3.1 refuses to map on a private one
// (it is right to: behind another NAT a mapping forwards nothing); nothing routes out of the
// namespaces, so no real host of that range can be reached. Needs root, `ip`, `nft`, miniupnpd
// (scripts/test-infra.sh installs it).
import { execFile, spawn, type ChildProcess } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'

const run = promisify(execFile)

export const LAN_ROUTER_IP = '10.77.1.1'
export const CLIENT_IP = '10.77.1.2'
/** A second machine on the same LAN (LabOptions.neighbour). */
export const NEIGHBOUR_IP = '10.77.1.3'
export const WAN_ROUTER_IP = '11.78.1.1'
export const OUTSIDE_IP = '11.78.1.2'
/** The WAN of a router behind another NAT (an ISP's CGNAT, a second router at home). */
export const PRIVATE_WAN_ROUTER_IP = '10.78.1.1'
const PRIVATE_OUTSIDE_IP = '10.78.1.2'

export interface LabOptions {
  /** The router's WAN address is private: miniupnpd then maps nothing, as it should. */
  privateWan?: boolean
  /** A second machine on the LAN, in its own namespace (`neighbour`). */
  neighbour?: boolean
}

export interface RouterConfig {
  upnp?: boolean
  natpmp?: boolean
  /** Off: the router lets any LAN client add or delete mappings for any machine (secure_mode
   *  on, the default, only for itself). */
  secureMode?: boolean
}

export class RouterLab {
  readonly client: string
  readonly router: string
  readonly outside: string
  readonly neighbour: string
  private readonly links: {
    lan: string
    rlan: string
    bridge: string
    nlan: string
    rnlan: string
    wan: string
    owan: string
  }
  private miniupnpd?: ChildProcess
  private routerLog = ''
  private constructor(
    readonly id: string,
    readonly dir: string,
    private readonly opts: LabOptions,
  ) {
    this.client = `pm-${id}-c`
    this.router = `pm-${id}-r`
    this.outside = `pm-${id}-o`
    this.neighbour = `pm-${id}-n`
    // Interface names are at most 15 bytes.
    this.links = {
      lan: `pm${id}c`,
      rlan: `pm${id}rl`,
      bridge: `pm${id}br`,
      nlan: `pm${id}n`,
      rnlan: `pm${id}rn`,
      wan: `pm${id}rw`,
      owan: `pm${id}o`,
    }
  }

  /** Builds the namespaces and their links (no router daemon yet). Destroys what it made
   *  if a step fails. */
  static async create(opts: LabOptions = {}): Promise<RouterLab> {
    const lab = new RouterLab(
      randomBytes(3).toString('hex'),
      await mkdtemp(join(tmpdir(), 'portmap-lab-')),
      opts,
    )
    try {
      await lab.build()
    } catch (err) {
      await lab.destroy()
      throw err
    }
    return lab
  }

  private async build(): Promise<void> {
    const { client, router, outside, neighbour, links } = this
    for (const ns of this.namespaces) {
      await ip(`netns add ${ns}`)
      await ip(`-n ${ns} link set lo up`)
    }
    await ip(
      `link add ${links.lan} netns ${client} type veth peer name ${links.rlan} netns ${router}`,
    )
    await ip(
      `link add ${links.wan} netns ${router} type veth peer name ${links.owan} netns ${outside}`,
    )
    // The LAN is a bridge in the router, as the switch of a home router is.
    await ip(`-n ${router} link add ${links.bridge} type bridge`)
    await ip(`-n ${router} link set ${links.rlan} master ${links.bridge}`)
    await ip(`-n ${client} addr add ${CLIENT_IP}/24 dev ${links.lan}`)
    await ip(`-n ${router} addr add ${LAN_ROUTER_IP}/24 dev ${links.bridge}`)
    if (this.opts.neighbour) {
      await ip(
        `link add ${links.nlan} netns ${neighbour} type veth peer name ${links.rnlan} netns ${router}`,
      )
      await ip(`-n ${router} link set ${links.rnlan} master ${links.bridge}`)
      await ip(`-n ${neighbour} addr add ${NEIGHBOUR_IP}/24 dev ${links.nlan}`)
      await ip(`-n ${neighbour} link set ${links.nlan} up`)
      await ip(`-n ${router} link set ${links.rnlan} up`)
      await ip(`-n ${neighbour} route add default via ${LAN_ROUTER_IP}`)
    }
    const [wan, far] = this.opts.privateWan
      ? [PRIVATE_WAN_ROUTER_IP, PRIVATE_OUTSIDE_IP]
      : [WAN_ROUTER_IP, OUTSIDE_IP]
    await ip(`-n ${router} addr add ${wan}/24 dev ${links.wan}`)
    await ip(`-n ${outside} addr add ${far}/24 dev ${links.owan}`)
    for (const [ns, dev] of [
      [client, links.lan],
      [router, links.rlan],
      [router, links.bridge],
      [router, links.wan],
      [outside, links.owan],
    ] as const) {
      await ip(`-n ${ns} link set ${dev} up`)
    }
    await ip(`-n ${client} route add default via ${LAN_ROUTER_IP}`)
    await inNs(router, 'sysctl -qw net.ipv4.ip_forward=1')
    // The chains miniupnpd fills (names as in its config below); forwarding from the WAN is
    // dropped unless a mapping lets it through, as on a home router.
    const rules = `
table inet filter {
  chain miniupnpd {
  }
  chain forward {
    type filter hook forward priority 0; policy drop;
    ct state established,related accept
    iifname "${links.bridge}" accept
    jump miniupnpd
  }
}
table inet nat {
  chain prerouting_miniupnpd {
  }
  chain postrouting_miniupnpd {
  }
  chain prerouting {
    type nat hook prerouting priority -100; policy accept;
    jump prerouting_miniupnpd
  }
  chain postrouting {
    type nat hook postrouting priority 100; policy accept;
    jump postrouting_miniupnpd
    oifname "${links.wan}" masquerade
  }
}
`
    await writeFile(join(this.dir, 'rules.nft'), rules)
    await inNs(router, `nft -f ${join(this.dir, 'rules.nft')}`)
  }

  private get namespaces(): string[] {
    const all = [this.client, this.router, this.outside]
    return this.opts.neighbour ? [...all, this.neighbour] : all
  }

  get leaseFile(): string {
    return join(this.dir, 'leases')
  }

  /** Starts miniupnpd in the router ns and waits until it listens. */
  async startRouter(config: RouterConfig = {}): Promise<void> {
    if (this.miniupnpd) throw new Error('router already running')
    const { links } = this
    const conf = [
      `ext_ifname=${links.wan}`,
      `listening_ip=${links.bridge}`,
      'http_port=0',
      `enable_natpmp=${config.natpmp === false ? 'no' : 'yes'}`,
      `enable_upnp=${config.upnp === false ? 'no' : 'yes'}`,
      `secure_mode=${config.secureMode === false ? 'no' : 'yes'}`,
      'system_uptime=yes',
      `uuid=${randomUuid()}`,
      'upnp_table_name=filter',
      'upnp_nat_table_name=nat',
      'upnp_forward_chain=miniupnpd',
      'upnp_nat_chain=prerouting_miniupnpd',
      'upnp_nat_postrouting_chain=postrouting_miniupnpd',
      `lease_file=${this.leaseFile}`,
      'allow 1024-65535 10.77.1.0/24 1024-65535',
      'deny 0-65535 0.0.0.0/0 0-65535',
    ].join('\n')
    const confPath = join(this.dir, 'miniupnpd.conf')
    await writeFile(confPath, conf + '\n')
    this.routerLog = ''
    const pid = join(this.dir, 'pid')
    // Its log goes to stderr and, as there is no syslog socket, to /dev/console as well: that is
    // bound to /dev/null in the mount namespace `ip netns exec` makes (not the machine's).
    const child = spawn('ip', [
      'netns',
      'exec',
      this.router,
      'sh',
      '-c',
      'mount --bind /dev/null /dev/console && exec miniupnpd "$@"',
      'miniupnpd',
      '-f',
      confPath,
      '-P',
      pid,
      '-d',
    ])
    this.miniupnpd = child
    const ready = config.natpmp === false ? 'HTTP listening' : 'Listening for NAT-PMP/PCP'
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`miniupnpd did not start:\n${this.routerLog}`)),
        10_000,
      )
      const onData = (d: Buffer) => {
        this.routerLog += d.toString()
        if (this.routerLog.includes(ready)) {
          clearTimeout(timer)
          resolve()
        }
      }
      child.stdout!.on('data', onData)
      child.stderr!.on('data', onData)
      child.once('exit', (code) => {
        clearTimeout(timer)
        reject(new Error(`miniupnpd exited (${code}):\n${this.routerLog}`))
      })
    })
  }

  /** What miniupnpd printed (it runs in the foreground, debug on). */
  get routerOutput(): string {
    return this.routerLog
  }

  /** Kills the router daemon, as a router that reboots or loses power (mappings stay in the
   *  kernel's tables, as they do on a real box until it is gone). */
  async stopRouter(): Promise<void> {
    const child = this.miniupnpd
    this.miniupnpd = undefined
    if (!child || child.exitCode !== null || child.signalCode !== null) return
    const exited = new Promise((resolve) => child.once('exit', resolve))
    child.kill('SIGTERM')
    // miniupnpd reads its signals between requests; one it is busy with can take long.
    const hard = setTimeout(() => child.kill('SIGKILL'), 3_000)
    await exited
    clearTimeout(hard)
  }

  /** The router's lease file: one `PROTO:ext:client:int:expiry:description` line a mapping. */
  async leases(): Promise<string[]> {
    try {
      return (await readFile(this.leaseFile, 'utf8')).split('\n').filter(Boolean)
    } catch {
      return []
    }
  }

  /** The port forwards the router has in its nftables now (its real state). */
  async forwards(): Promise<string[]> {
    const { stdout } = await inNs(this.router, 'nft list chain inet nat prerouting_miniupnpd')
    return stdout.split('\n').filter((l) => l.includes('dnat'))
  }

  /** A peer on the internet asks `url`: the body, or undefined when nothing answers. */
  async fetchFromOutside(url: string): Promise<string | undefined> {
    try {
      const { stdout } = await inNs(this.outside, `curl -sS -m 3 ${url}`)
      return stdout
    } catch {
      return undefined
    }
  }

  /** A process in the client ns (the machine behind the router), or in the neighbour's. */
  spawnInClient(cmd: string, args: string[], cwd?: string, ns = this.client): ChildProcess {
    return spawn('ip', ['netns', 'exec', ns, cmd, ...args], {
      cwd,
      stdio: ['pipe', 'pipe', 'pipe'],
    })
  }

  /** Stops the router and removes namespaces (which takes their veths along) and files. Safe to
   *  call on a half-built lab and more than once. */
  async destroy(): Promise<void> {
    await this.stopRouter().catch(() => undefined)
    for (const ns of this.namespaces) {
      await ip(`netns del ${ns}`).catch(() => undefined)
    }
    await rm(this.dir, { recursive: true, force: true })
  }
}

/** `ip` with its arguments as one line (no argument here holds a space). */
async function ip(args: string): Promise<void> {
  await run('ip', args.split(' '))
}

/** A command (one line, as for `ip`) inside a namespace. */
function inNs(ns: string, cmd: string): Promise<{ stdout: string }> {
  return run('ip', ['netns', 'exec', ns, ...cmd.split(' ')])
}

function randomUuid(): string {
  return globalThis.crypto.randomUUID()
}
