import { describe, expect, it } from 'vitest'
import {
  computeCluster,
  clusterView,
  LinkageRecords,
  RejectReason,
} from '../../../core/identity/cluster.js'

const A = 'did:plc:alice'
const B = 'did:plc:bob'
const C = 'did:plc:carol'
const AM = 'did:plc:alicemesh'
const BM = 'did:plc:bobmesh'
const CM = 'did:plc:carolmesh'

function linked(...pairs: [string, string][]): LinkageRecords {
  const r = new LinkageRecords()
  for (const [owner, meshlet] of pairs) {
    r.setOwnerMeshlet(owner, meshlet, true)
    r.setMeshletOwner(meshlet, owner)
  }
  return r
}

describe('computeCluster', () => {
  it('admits mutual, two-way linked members only', () => {
    const r = linked([A, AM], [B, BM], [C, CM])
    r.setMembership(AM, [B, C])
    r.setMembership(BM, [A])
    r.setMembership(CM, [B])
    const report = computeCluster({ meshlet: AM, owner: A, members: [B, C] }, r)
    expect(report.peers.map((p) => p.owner)).toEqual([A, B])
    expect(report.rejected).toEqual([
      expect.objectContaining({ owner: C, meshlet: CM, reason: RejectReason.doesNotListUs }),
    ])
    const view = clusterView(r)
    expect(view.isMutual(A, B)).toBe(true)
    expect(view.isMutual(A, C)).toBe(false)
    expect(view.ownerOf(BM)).toBe(B)
    // Linked both ways, so owned, though not mutual with us.
    expect(view.ownerOf(CM)).toBe(C)
    r.setMeshletOwner(CM, A) // a meshlet naming someone else than the owner who lists it
    expect(view.ownerOf(CM)).toBeUndefined()
  })

  it('names every way linkage can be wrong', () => {
    const r = linked([A, AM])
    r.setMembership(AM, [B, C])
    r.setOwnerMeshlet(B, BM, true) // bob lists a meshlet that names carol
    r.setMeshletOwner(BM, C)
    r.setMembership(BM, [A])
    r.setMeshletOwner(CM, C) // carol's meshlet claims carol; carol lists nothing
    r.setMembership(CM, [A])
    const report = computeCluster({ meshlet: AM, owner: A, members: [B, C] }, r)
    expect(report.peers.map((p) => p.owner)).toEqual([A])
    const reasons = report.rejected.map((x) => [x.owner, x.meshlet, x.reason])
    expect(reasons).toContainEqual([B, BM, RejectReason.meshletNamesOtherOwner])
    expect(reasons).toContainEqual([C, undefined, RejectReason.ownerListsNoMeshlet])
    expect(reasons).toContainEqual([C, CM, RejectReason.notListedByOwner])
    expect(reasons).toContainEqual([C, BM, RejectReason.notListedByOwner])
  })

  it('forms nothing until our own meshlet is linked', () => {
    const r = new LinkageRecords()
    r.setOwnerMeshlet(A, AM, true)
    const report = computeCluster({ meshlet: AM, owner: A, members: [B] }, r)
    expect(report.peers).toEqual([])
    expect(report.rejected[0]?.reason).toBe(RejectReason.selfUnlinked)
  })

  it('reports a member whose meshlet has no owner record or membership yet', () => {
    const r = linked([A, AM])
    r.setMembership(AM, [B, C])
    r.setOwnerMeshlet(B, BM, true)
    r.setOwnerMeshlet(C, CM, true)
    r.setMeshletOwner(CM, C)
    const reasons = computeCluster({ meshlet: AM, owner: A, members: [B, C] }, r).rejected.map(
      (x) => x.reason,
    )
    expect(reasons).toEqual([
      RejectReason.meshletMissingOwnerRecord,
      RejectReason.meshletMissingMembership,
    ])
  })
})

describe('strangers', () => {
  it('names a meshlet that lists us while its owner is not our member', () => {
    const E = 'did:plc:eve'
    const EM = 'did:plc:evemesh'
    const r = linked([A, AM], [E, EM])
    r.setMembership(AM, [])
    r.setMembership(EM, [A])
    const report = computeCluster({ meshlet: AM, owner: A, members: [] }, r)
    expect(report.peers.map((p) => p.owner)).toEqual([A])
    expect(report.rejected).toEqual([
      expect.objectContaining({ owner: E, meshlet: EM, reason: RejectReason.notOurMember }),
    ])
    expect(clusterView(r).isMutual(A, E)).toBe(false)
  })
})
