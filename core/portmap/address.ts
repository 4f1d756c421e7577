// Which external address makes us reachable. Pure: a table of ranges, no network.
import { BlockList, isIPv4 } from 'node:net'

/**
 * IPv4 ranges no peer on the internet can send to (RFC 6890's registry, the "not globally
 * reachable" rows, plus multicast). A router that reports one of these as its external address
 * sits behind another NAT (an ISP's CGNAT in 100.64/10, a second router at home): a mapping on it
 * forwards nothing from outside, so publishing it would only make peers' pings fail.
 */
const NOT_GLOBAL: ReadonlyArray<readonly [string, number]> = [
  ['0.0.0.0', 8], // this network
  ['10.0.0.0', 8], // private
  ['100.64.0.0', 10], // shared address space (CGNAT)
  ['127.0.0.0', 8], // loopback
  ['169.254.0.0', 16], // link local
  ['172.16.0.0', 12], // private
  ['192.0.0.0', 24], // IETF protocol assignments
  ['192.0.2.0', 24], // documentation
  ['192.88.99.0', 24], // 6to4 relay anycast (deprecated)
  ['192.168.0.0', 16], // private
  ['198.18.0.0', 15], // benchmarking
  ['198.51.100.0', 24], // documentation
  ['203.0.113.0', 24], // documentation
  ['224.0.0.0', 4], // multicast
  ['240.0.0.0', 4], // reserved, limited broadcast
]

const notGlobal = new BlockList()
for (const [net, prefix] of NOT_GLOBAL) notGlobal.addSubnet(net, prefix, 'ipv4')

/** Whether `ip` is an IPv4 address a peer on the internet can reach (dotted quad only). */
export function isPublicIPv4(ip: string): boolean {
  return isIPv4(ip) && !notGlobal.check(ip, 'ipv4')
}
