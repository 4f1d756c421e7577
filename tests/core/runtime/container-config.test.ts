// The hardening as data: what containerConfig asks of Docker, without Docker. The confinement
// tests check the same limits from inside real containers.
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import {
  EGRESS_NETWORK,
  InvalidImageError,
  InvalidSpecError,
  LABELS,
  PolicyError,
  containerConfig,
  replicaName,
  type ReplicaSpec,
} from '../../../core/runtime/index.js'

const did = 'did:plc:meshlet1'

function spec(overrides: Partial<ReplicaSpec> = {}): ReplicaSpec {
  return {
    workloadUri: 'at://did:plc:alice/commune.scheduler.workload/3kabc',
    cid: 'bafyreiabc',
    round: 2,
    image: 'commune-test/busybox:1',
    command: ['sleep', '60'],
    env: [{ name: 'A', value: 'b=c' }],
    resources: { cpuMillis: 1500, memoryMiB: 256, storageMiB: 32 },
    network: 'none',
    ...overrides,
  }
}

describe('containerConfig', () => {
  it('hardens every guest as DESIGN §8 asks', () => {
    const c = containerConfig(spec(), { meshletDid: did })
    const h = c.HostConfig
    expect(h.NanoCpus).toBe(1_500_000_000)
    expect(h.CpuQuota).toBeUndefined() // NanoCpus and CpuQuota are mutually exclusive in Docker
    expect(h.Memory).toBe(256 * 1024 * 1024)
    expect(h.MemorySwap).toBe(h.Memory)
    expect(h.PidsLimit).toBe(256)
    expect(h.Privileged).toBe(false)
    expect(h.CapDrop).toEqual(['ALL'])
    expect(h.CapAdd).toEqual([])
    expect(h.SecurityOpt).toEqual(['no-new-privileges'])
    expect(h.ReadonlyRootfs).toBe(true)
    expect(h.Tmpfs).toEqual({
      '/tmp': 'rw,exec,nosuid,nodev,size=32m,uid=65534,gid=65534',
    })
    expect(h.Binds).toEqual([])
    expect(h.Mounts).toEqual([])
    expect(h.VolumesFrom).toEqual([])
    expect(h.Devices).toEqual([])
    expect(h.NetworkMode).toBe('none')
    expect(h.Init).toBe(true)
    expect(h.AutoRemove).toBe(false)
    expect(h.RestartPolicy).toEqual({ Name: 'no', MaximumRetryCount: 0 })
    expect(h.IpcMode).toBe('private')
    expect(h.CgroupnsMode).toBe('private')
    expect(h.OomScoreAdj).toBe(1000)
    expect(h.Ulimits).toContainEqual({ Name: 'core', Soft: 0, Hard: 0 })
    expect(h.LogConfig?.Config).toMatchObject({ 'max-size': '8m' })
    expect(c.User).toBe('65534:65534')
    expect(c.Labels).toEqual({
      [LABELS.workload]: 'at://did:plc:alice/commune.scheduler.workload/3kabc',
      [LABELS.meshlet]: did,
      [LABELS.round]: '2',
      [LABELS.cid]: 'bafyreiabc',
    })
    expect(c.Env).toEqual(['A=b=c'])
    expect(c.Cmd).toEqual(['sleep', '60'])
    expect(c.Image).toBe('commune-test/busybox:1')
    expect(c.name).toBe(replicaName(did, 'at://did:plc:alice/commune.scheduler.workload/3kabc', 2))
    // Nothing anywhere in the config points at the Docker socket or the host's namespaces.
    const text = JSON.stringify(c)
    expect(text).not.toContain('docker.sock')
    expect(text).not.toMatch(/"host"/)
  })

  it('uses the image default command when none is given, and for an empty one', () => {
    expect(containerConfig(spec({ command: undefined }), { meshletDid: did }).Cmd).toBeUndefined()
    expect(containerConfig(spec({ command: [] }), { meshletDid: did }).Cmd).toBeUndefined()
  })

  it('defaults /tmp to 64 MiB and honours pidsLimit', () => {
    const c = containerConfig(spec({ resources: { cpuMillis: 10, memoryMiB: 6 } }), {
      meshletDid: did,
      pidsLimit: 32,
    })
    expect(c.HostConfig.Tmpfs?.['/tmp']).toContain('size=64m')
    expect(c.HostConfig.PidsLimit).toBe(32)
    expect(c.HostConfig.NanoCpus).toBe(10_000_000)
    expect(c.HostConfig.Memory).toBe(6 * 1024 * 1024)
  })

  it('covers the image’s VOLUMEs with tmpfs so Docker creates no host volume', () => {
    const c = containerConfig(spec(), { meshletDid: did, imageVolumes: ['/data/', '/var/lib/x'] })
    expect(Object.keys(c.HostConfig.Tmpfs ?? {}).sort()).toEqual(['/data', '/tmp', '/var/lib/x'])
  })

  it('puts egress workloads on the ICC-less bridge only when the lender allows it', () => {
    expect(() => containerConfig(spec({ network: 'egress' }), { meshletDid: did })).toThrow(
      PolicyError,
    )
    try {
      containerConfig(spec({ network: 'egress' }), { meshletDid: did })
    } catch (err) {
      expect((err as PolicyError).reason).toBe('egress-not-allowed')
    }
    const c = containerConfig(spec({ network: 'egress' }), { meshletDid: did, allowEgress: true })
    expect(c.HostConfig.NetworkMode).toBe(EGRESS_NETWORK)
    expect(c.HostConfig.NetworkMode).not.toBe('host')
  })

  it('applies the registry allow-list', () => {
    const allow = { meshletDid: did, registryAllowList: ['127.0.0.1:5055'] }
    expect(() =>
      containerConfig(spec({ image: '127.0.0.1:5055/commune/busybox:1' }), allow),
    ).not.toThrow()
    for (const image of ['busybox', 'docker.io/library/busybox', 'ghcr.io/a/b:1']) {
      expect(() => containerConfig(spec({ image }), allow)).toThrow(PolicyError)
    }
    const hub = { meshletDid: did, registryAllowList: ['docker.io'] }
    expect(() => containerConfig(spec({ image: 'busybox:1' }), hub)).not.toThrow()
    expect(() => containerConfig(spec({ image: 'index.docker.io/x/y' }), hub)).not.toThrow()
  })

  it('refuses bad image references', () => {
    expect(() => containerConfig(spec({ image: 'UPPER/Case' }), { meshletDid: did })).toThrow(
      InvalidImageError,
    )
    expect(() => containerConfig(spec({ image: 'a b' }), { meshletDid: did })).toThrow(
      InvalidImageError,
    )
  })

  const impossible: [string, Partial<ReplicaSpec>][] = [
    ['zero CPU', { resources: { cpuMillis: 0, memoryMiB: 64 } }],
    ['CPU under Docker’s 10 millicore floor', { resources: { cpuMillis: 5, memoryMiB: 64 } }],
    ['fractional CPU', { resources: { cpuMillis: 100.5, memoryMiB: 64 } }],
    ['negative CPU', { resources: { cpuMillis: -100, memoryMiB: 64 } }],
    ['memory under 6 MiB', { resources: { cpuMillis: 100, memoryMiB: 5 } }],
    ['fractional memory', { resources: { cpuMillis: 100, memoryMiB: 64.5 } }],
    ['NaN memory', { resources: { cpuMillis: 100, memoryMiB: Number.NaN } }],
    ['zero storage', { resources: { cpuMillis: 100, memoryMiB: 64, storageMiB: 0 } }],
    ['fractional storage', { resources: { cpuMillis: 100, memoryMiB: 64, storageMiB: 1.5 } }],
    ['negative round', { round: -1 }],
    ['fractional round', { round: 1.5 }],
    ['non-at workload uri', { workloadUri: 'https://example.com' }],
    ['empty cid', { cid: '' }],
    ['command with a number', { command: ['sleep', 5 as unknown as string] }],
    ['env name with =', { env: [{ name: 'A=B', value: 'x' }] }],
    ['unknown network', { network: 'host' as unknown as 'none' }],
  ]
  it.each(impossible)('refuses %s with InvalidSpecError', (_what, overrides) => {
    expect(() => containerConfig(spec(overrides), { meshletDid: did })).toThrow(InvalidSpecError)
  })

  it('lists every problem at once', () => {
    try {
      containerConfig(spec({ round: -1, resources: { cpuMillis: 0, memoryMiB: 1 } }), {
        meshletDid: did,
      })
      expect.unreachable()
    } catch (err) {
      expect(err).toBeInstanceOf(InvalidSpecError)
      expect((err as InvalidSpecError).problems).toHaveLength(3)
    }
  })

  it('refuses options no runtime can use', () => {
    expect(() => containerConfig(spec(), { meshletDid: 'meshlet1' })).toThrow(TypeError)
    expect(() => containerConfig(spec(), { meshletDid: did, pidsLimit: 1 })).toThrow(TypeError)
  })
})

describe('replicaName', () => {
  it('is deterministic, Docker-safe, and distinct per meshlet, workload and round', () => {
    const dockerName = /^[a-zA-Z0-9][a-zA-Z0-9_.-]+$/
    fc.assert(
      fc.property(fc.string(), fc.string(), fc.nat(), fc.string(), (m, w, r, m2) => {
        const name = replicaName(m, w, r)
        expect(name).toMatch(dockerName)
        expect(name.length).toBeLessThanOrEqual(64)
        expect(replicaName(m, w, r)).toBe(name)
        expect(replicaName(m, w, r + 1)).not.toBe(name)
        if (m2 !== m) expect(replicaName(m2, w, r)).not.toBe(name)
      }),
    )
  })
})
