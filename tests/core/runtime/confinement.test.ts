// The hardening of DESIGN §8, checked twice: in what Docker reports, and by trying from inside a
// real guest (as the guest's own user, through docker exec).
import { execFileSync } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import {
  EGRESS_NETWORK,
  PolicyError,
  Runtime,
  type ManagedReplica,
} from '../../../core/runtime/index.js'
import { TEST_IMAGE } from '../../infra.js'
import { docker, execIn, removeMeshletContainers, testDid, testSpec } from './_util.js'

const did = testDid()
const runtime = new Runtime({ meshletDid: did, docker, pidsLimit: 32 })
const MiB = 1024 * 1024
let guest: ManagedReplica

beforeAll(async () => {
  guest = await runtime.start(
    testSpec({ resources: { cpuMillis: 250, memoryMiB: 32, storageMiB: 4 } }),
  )
})

afterAll(async () => {
  await runtime[Symbol.asyncDispose]()
  await removeMeshletContainers(did)
})

/** Reads the first of several files that exists (cgroup v1 and v2 name things differently). */
function readFirst(...paths: string[]): string[] {
  return ['sh', '-c', paths.map((p) => `cat ${p} 2>/dev/null`).join(' || ')]
}

describe('guest confinement, as Docker reports it', () => {
  it('has every limit and restriction in its HostConfig', async () => {
    const info = await docker.getContainer(guest.containerId).inspect()
    const h = info.HostConfig as typeof info.HostConfig & { CgroupnsMode?: string }
    expect(h.NanoCpus).toBe(250_000_000)
    expect(h.Memory).toBe(32 * MiB)
    expect(h.MemorySwap).toBe(32 * MiB)
    expect(h.PidsLimit).toBe(32)
    expect(h.Privileged).toBe(false)
    expect(h.CapDrop).toEqual(['ALL'])
    expect(h.CapAdd ?? []).toEqual([])
    expect(h.SecurityOpt).toEqual(['no-new-privileges'])
    expect(h.ReadonlyRootfs).toBe(true)
    expect(h.Tmpfs).toEqual({ '/tmp': 'rw,exec,nosuid,nodev,size=4m,uid=65534,gid=65534' })
    expect(h.Binds ?? []).toEqual([])
    expect(info.Mounts).toEqual([])
    expect(h.NetworkMode).toBe('none')
    expect(h.Init).toBe(true)
    expect(h.AutoRemove).toBe(false)
    expect(h.CgroupnsMode).toBe('private')
    expect(info.Config.User).toBe('65534:65534')
    expect(JSON.stringify(info)).not.toContain('docker.sock')
  })
})

describe('guest confinement, tried from inside', () => {
  it('runs as nobody with no capabilities, no-new-privileges and seccomp', async () => {
    const r = await execIn(guest.containerId, ['sh', '-c', 'id -u; id -g; cat /proc/self/status'])
    const [uid, gid] = r.stdout.split('\n')
    expect(uid).toBe('65534')
    expect(gid).toBe('65534')
    expect(r.stdout).toMatch(/^CapEff:\s+0000000000000000$/m)
    expect(r.stdout).toMatch(/^CapPrm:\s+0000000000000000$/m)
    expect(r.stdout).toMatch(/^CapBnd:\s+0000000000000000$/m)
    expect(r.stdout).toMatch(/^NoNewPrivs:\s+1$/m)
    expect(r.stdout).toMatch(/^Seccomp:\s+2$/m)
  })

  it('sees its memory limit in the cgroup', async () => {
    const r = await execIn(
      guest.containerId,
      readFirst('/sys/fs/cgroup/memory/memory.limit_in_bytes', '/sys/fs/cgroup/memory.max'),
    )
    expect(Number(r.stdout.trim())).toBe(32 * MiB)
  })

  it('sees its CPU quota in the cgroup', async () => {
    const v1 = await execIn(guest.containerId, [
      'sh',
      '-c',
      'cat /sys/fs/cgroup/cpu/cpu.cfs_quota_us /sys/fs/cgroup/cpu/cpu.cfs_period_us',
    ])
    if (v1.exitCode === 0) {
      const [quota, period] = v1.stdout.trim().split('\n').map(Number)
      expect(quota! / period!).toBeCloseTo(0.25)
    } else {
      const v2 = await execIn(guest.containerId, ['cat', '/sys/fs/cgroup/cpu.max'])
      const [quota, period] = v2.stdout.trim().split(' ').map(Number)
      expect(quota! / period!).toBeCloseTo(0.25)
    }
  })

  it('cannot write its root filesystem', async () => {
    const r = await execIn(guest.containerId, ['touch', '/etc/x'])
    expect(r.exitCode).not.toBe(0)
    expect(r.stderr).toMatch(/Read-only file system/)
    const bin = await execIn(guest.containerId, ['sh', '-c', 'echo x > /bin/x'])
    expect(bin.exitCode).not.toBe(0)
  })

  it('can write and run programs in /tmp, but not beyond its size', async () => {
    const ok = await execIn(guest.containerId, [
      'sh',
      '-c',
      'echo written > /tmp/ok && cat /tmp/ok && cp /bin/busybox /tmp/echo && /tmp/echo ran-from-tmp; rm -f /tmp/echo',
    ])
    expect(ok.exitCode).toBe(0)
    expect(ok.stdout).toContain('written')
    expect(ok.stdout).toContain('ran-from-tmp')
    // 4 MiB of tmpfs: 8 MiB does not fit.
    const big = await execIn(guest.containerId, [
      'dd',
      'if=/dev/zero',
      'of=/tmp/big',
      'bs=1024',
      'count=8192',
    ])
    expect(big.exitCode).not.toBe(0)
    expect(big.stderr).toMatch(/No space left on device/)
    await execIn(guest.containerId, ['rm', '-f', '/tmp/big'])
  })

  it('has no network but loopback', async () => {
    const r = await execIn(guest.containerId, ['ls', '/sys/class/net'])
    expect(r.stdout.split(/\s+/).filter(Boolean)).toEqual(['lo'])
    const dev = await execIn(guest.containerId, ['cat', '/proc/net/dev'])
    const ifaces = dev.stdout
      .split('\n')
      .slice(2)
      .map((l) => l.split(':')[0]!.trim())
      .filter(Boolean)
    expect(ifaces).toEqual(['lo'])
  })

  it('has no Docker socket', async () => {
    const r = await execIn(guest.containerId, [
      'sh',
      '-c',
      'ls /var/run/docker.sock /run/docker.sock; grep -c docker.sock /proc/mounts',
    ])
    expect(r.stdout.trim()).toBe('0')
  })

  it('cannot start more processes than its pids limit', async () => {
    // A fork bomb-ish loop in its own guest, since it leaves that guest unable to fork.
    const bomb = await runtime.start(testSpec())
    const pidsMax = await execIn(
      bomb.containerId,
      readFirst('/sys/fs/cgroup/pids/pids.max', '/sys/fs/cgroup/pids.max'),
    )
    expect(pidsMax.stdout.trim()).toBe('32')
    const r = await execIn(bomb.containerId, [
      'sh',
      '-c',
      'i=0; while [ $i -lt 100 ]; do sleep 600 & i=$((i+1)); echo $i; done; echo all-started',
    ])
    const started = r.stdout
      .trim()
      .split('\n')
      .filter((l) => /^\d+$/.test(l))
      .map(Number)
    expect(r.stdout).not.toContain('all-started')
    expect(r.stderr).toMatch(/can't fork|Resource temporarily unavailable/)
    expect(Math.max(...started)).toBeLessThan(32)
    await runtime.stop(bomb.containerId, { timeoutSec: 0 })
  })
})

describe('egress', () => {
  it('is refused unless the lender allows it, and never creates a container', async () => {
    const spec = testSpec({ network: 'egress' })
    const err = await runtime.start(spec).catch((e: unknown) => e)
    expect(err).toBeInstanceOf(PolicyError)
    expect((err as PolicyError).reason).toBe('egress-not-allowed')
    expect(await runtime.find(spec.workloadUri)).toEqual([])
  })

  it('joins a bridge (never host) where guests cannot reach each other', async () => {
    const lender = new Runtime({ meshletDid: did, docker, allowEgress: true })
    const a = await lender.start(
      testSpec({
        network: 'egress',
        command: ['nc', '-ll', '-p', '8080', '-e', 'echo', 'reachable'],
      }),
    )
    const b = await lender.start(testSpec({ network: 'egress' }))
    const info = await docker.getContainer(a.containerId).inspect()
    expect(info.HostConfig.NetworkMode).toBe(EGRESS_NETWORK)
    const ip = info.NetworkSettings.Networks[EGRESS_NETWORK]?.IPAddress
    expect(ip).toMatch(/^\d+\.\d+\.\d+\.\d+$/)
    const net = await docker.getNetwork(EGRESS_NETWORK).inspect()
    expect(net.Driver).toBe('bridge')
    expect(net.Options?.['com.docker.network.bridge.enable_icc']).toBe('false')

    const ifaces = await execIn(b.containerId, ['ls', '/sys/class/net'])
    expect(ifaces.stdout).toContain('eth0')
    // The listener answers on its own address...
    const self = await execIn(a.containerId, ['nc', '-w', '2', ip!, '8080'])
    expect(self.stdout).toContain('reachable')
    // ...but not to a neighbour on the same bridge.
    const neighbour = await execIn(b.containerId, ['nc', '-w', '2', ip!, '8080'])
    expect(neighbour.stdout).not.toContain('reachable')
    await lender.stop(a.containerId, { timeoutSec: 0 })
    await lender.stop(b.containerId, { timeoutSec: 0 })
  })
})

describe('image volumes', () => {
  const tag = `commune-test/busybox-volume:${randomBytes(4).toString('hex')}`

  afterAll(() => {
    try {
      execFileSync('docker', ['rmi', '-f', tag], { stdio: 'ignore' })
    } catch {
      // already gone
    }
  })

  it('become size-limited tmpfs, not writable host volumes', async () => {
    execFileSync('docker', ['build', '-q', '-t', tag, '-'], {
      input: `FROM ${TEST_IMAGE}\nVOLUME /data\n`,
      stdio: ['pipe', 'ignore', 'inherit'],
    })
    const replica = await runtime.start(
      testSpec({ image: tag, resources: { cpuMillis: 100, memoryMiB: 32, storageMiB: 2 } }),
    )
    const info = await docker.getContainer(replica.containerId).inspect()
    expect(info.Mounts).toEqual([])
    expect(Object.keys(info.HostConfig.Tmpfs ?? {}).sort()).toEqual(['/data', '/tmp'])
    const r = await execIn(replica.containerId, [
      'sh',
      '-c',
      'echo ok > /data/f && cat /data/f; dd if=/dev/zero of=/data/big bs=1024 count=4096',
    ])
    expect(r.stdout).toContain('ok')
    expect(r.stderr).toMatch(/No space left on device/)
    await runtime.stop(replica.containerId, { timeoutSec: 0 })
  })
})
