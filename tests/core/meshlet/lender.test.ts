// What a meshlet says about itself: its membership record (lending or not, and why owners can
// see) and the planner's view of the capacity its guests hold.
import { describe, expect, it } from 'vitest'
import {
  imagePolicyOf,
  isLending,
  membershipRecord,
  selfStateOf,
  type Lender,
} from '../../../core/meshlet/lender.js'

const lender: Lender = {
  meshlet: 'did:plc:alicem',
  owner: 'did:plc:alice',
  members: ['did:plc:bob', 'did:plc:alice'],
  lending: true,
  paused: false,
  offer: { cpuMillis: 2000, memoryMiB: 2048, storageMiB: 1024 },
  allowEgress: false,
  imagePolicy: {},
  dockerAvailable: true,
  hasRuntime: true,
  arch: 'amd64',
}
const at = Date.parse('2026-12-01T00:00:00Z')

describe('isLending', () => {
  it.each<[string, Partial<Lender>, boolean]>([
    ['lending', {}, true],
    ['before Docker first answered', { dockerAvailable: undefined }, true],
    ['paused', { paused: true }, false],
    ['not lending at all', { lending: false }, false],
    ['Docker away', { dockerAvailable: false }, false],
  ])('%s → %s', (_name, change, lends) => {
    expect(isLending({ ...lender, ...change })).toBe(lends)
  })
})

describe('membershipRecord', () => {
  it('lists the owner once, first, and says whether it lends', () => {
    expect(membershipRecord(lender, at)).toEqual({
      members: ['did:plc:alice', 'did:plc:bob'],
      lending: true,
      offer: lender.offer,
      paused: false,
      arch: 'amd64',
      allowEgress: false,
      createdAt: '2026-12-01T00:00:00.000Z',
    })
  })

  it('publishes the lender’s policy, and that Docker is away only when it is', () => {
    const r = membershipRecord(
      {
        ...lender,
        paused: true,
        minBalance: -5000,
        imagePolicy: { allowRegistries: ['ghcr.io'], maxImageMiB: 512 },
        dockerAvailable: false,
      },
      at,
    )
    expect(r).toMatchObject({
      lending: false,
      paused: true,
      minBalance: -5000,
      allowRegistries: ['ghcr.io'],
      maxImageMiB: 512,
      dockerAvailable: false,
    })
    expect(membershipRecord({ ...lender, dockerAvailable: undefined }, at)).not.toHaveProperty(
      'dockerAvailable',
    )
  })
})

describe('selfStateOf', () => {
  const resources = new Map([
    ['w1', { cpuMillis: 500, memoryMiB: 256, storageMiB: 100 }],
    ['w2', { cpuMillis: 250, memoryMiB: 128 }],
  ])
  const of = (uri: string) => resources.get(uri)

  it('counts what running, created and restarting guests of known workloads hold', () => {
    const self = selfStateOf(
      lender,
      [
        { workloadUri: 'w1', state: 'running' },
        { workloadUri: 'w2', state: 'created' },
        { workloadUri: 'w2', state: 'restarting' },
        { workloadUri: 'w1', state: 'exited' },
        { workloadUri: 'gone', state: 'running' },
      ],
      of,
    )
    expect(self.committed).toEqual({ cpuMillis: 1000, memoryMiB: 512, storageMiB: 100 })
    expect(self).toMatchObject({
      meshlet: 'did:plc:alicem',
      owner: 'did:plc:alice',
      lending: true,
      dockerAvailable: true,
    })
    expect(self).not.toHaveProperty('allowRegistries')
  })

  it('does not lend without a runtime, and says when Docker is away', () => {
    expect(selfStateOf({ ...lender, hasRuntime: false }, [], of).lending).toBe(false)
    expect(selfStateOf({ ...lender, dockerAvailable: false }, [], of).dockerAvailable).toBe(false)
    const policy = { allowRegistries: ['docker.io'] }
    expect(selfStateOf({ ...lender, imagePolicy: policy }, [], of).allowRegistries).toEqual([
      'docker.io',
    ])
  })
})

it('imagePolicyOf copies only the fields set', () => {
  const list = ['ghcr.io']
  const copy = imagePolicyOf({ allowRegistries: list })
  expect(copy).toEqual({ allowRegistries: ['ghcr.io'] })
  list.push('x')
  expect(copy.allowRegistries).toEqual(['ghcr.io'])
  expect(imagePolicyOf({})).toEqual({})
})
