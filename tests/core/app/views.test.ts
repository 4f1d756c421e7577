// How the dashboard states members and placements, from a cluster report and status records:
// who is mutual, waiting, broken or a stranger, and why; which status of a meshlet counts.
import { describe, expect, it } from 'vitest'
import {
  latestPerMeshlet,
  memberSentence,
  memberViews,
  type ViewNames,
} from '../../../core/app/views.js'
import { RejectReason, type ClusterReport, type Rejection } from '../../../core/identity/cluster.js'
import type { StatusView } from '../../../core/scheduling/index.js'

const names: ViewNames = {
  named: (did) => (did === 'did:plc:bob' ? { handle: 'bob.test' } : {}),
  label: (did) => (did === 'did:plc:bob' ? 'bob.test' : did),
}
const me = 'did:plc:alice'

function rejected(owner: string, reason: RejectReason): Rejection {
  return { owner, reason, message: reason }
}

describe('memberViews', () => {
  it('says nothing is checked while no meshlet runs', () => {
    const views = memberViews({ report: undefined, ownerDid: me, members: ['did:plc:bob'], names })
    expect(views).toEqual([
      { did: me, state: 'self', meshlets: [] },
      {
        did: 'did:plc:bob',
        handle: 'bob.test',
        state: 'waiting',
        meshlets: [],
        reason: 'Not checked yet: this machine is not running.',
      },
    ])
  })

  it('marks mutual peers with their meshlets, and the owner unlinked when it is', () => {
    const report: ClusterReport = {
      peers: [{ owner: 'did:plc:bob', meshlets: ['did:plc:bobm'] }],
      rejected: [rejected(me, RejectReason.selfUnlinked)],
    }
    const views = memberViews({ report, ownerDid: me, members: ['did:plc:bob'], names })
    expect(views[0]).toEqual({
      did: me,
      state: 'self',
      meshlets: [],
      reason: 'This machine is not linked both ways to you yet.',
    })
    expect(views[1]).toEqual({
      did: 'did:plc:bob',
      handle: 'bob.test',
      state: 'mutual',
      meshlets: ['did:plc:bobm'],
    })
  })

  it('prefers a broken linkage over an unfinished one as the reason', () => {
    const carol = 'did:plc:carol'
    const report: ClusterReport = {
      peers: [],
      rejected: [
        rejected(carol, RejectReason.doesNotListUs),
        rejected(carol, RejectReason.meshletNamesOtherOwner),
      ],
    }
    const [, view] = memberViews({ report, ownerDid: me, members: [carol], names })
    expect(view).toMatchObject({
      state: 'broken',
      reason: `${carol} lists a machine that names someone else as its owner.`,
    })
    const waiting = memberViews({
      report: { peers: [], rejected: [rejected(carol, RejectReason.doesNotListUs)] },
      ownerDid: me,
      members: [carol],
      names,
    })[1]
    expect(waiting).toMatchObject({ state: 'waiting', reason: `Waiting for ${carol} to add you.` })
  })

  it('lists strangers who list us once, after the members, and not a member twice', () => {
    const report: ClusterReport = {
      peers: [],
      rejected: [
        rejected('did:plc:bob', RejectReason.notOurMember),
        rejected('did:plc:dave', RejectReason.notOurMember),
        rejected('did:plc:dave', RejectReason.notOurMember),
      ],
    }
    const views = memberViews({ report, ownerDid: undefined, members: ['did:plc:bob'], names })
    expect(views.map((v) => [v.did, v.state])).toEqual([
      ['did:plc:bob', 'waiting'],
      ['did:plc:dave', 'stranger'],
    ])
    expect(views[1]!.reason).toBe('did:plc:dave lists you; add them to lend to each other.')
  })
})

describe('memberSentence', () => {
  it.each([
    [RejectReason.ownerListsNoMeshlet, 'Waiting for bob to link a machine.'],
    [RejectReason.meshletMissingMembership, 'Waiting for bob’s machine to come online.'],
    [RejectReason.doesNotListUs, 'Waiting for bob to add you.'],
    [
      RejectReason.meshletMissingOwnerRecord,
      'bob lists a machine that does not name them as its owner.',
    ],
    [
      RejectReason.meshletNamesOtherOwner,
      'bob lists a machine that names someone else as its owner.',
    ],
    [RejectReason.notListedByOwner, 'A machine claims to be bob’s, but bob does not list it.'],
    [undefined, 'Waiting for bob’s records.'],
  ])('%s', (reason, text) => {
    expect(memberSentence('bob', reason)).toBe(text)
  })
})

describe('latestPerMeshlet', () => {
  const status = (meshlet: string, round: number, updatedAt: string, state = 'running') =>
    ({
      uri: `at://${meshlet}/commune.scheduler.workloadStatus/${round}`,
      cid: 'c',
      meshlet,
      record: { round, updatedAt, state },
    }) as unknown as StatusView

  it('keeps each meshlet’s highest round, then its latest update, ordered by meshlet', () => {
    const out = latestPerMeshlet([
      status('did:plc:m2', 0, '2026-01-01T00:00:05Z', 'failed'),
      status('did:plc:m1', 1, '2026-01-01T00:00:01Z', 'starting'),
      status('did:plc:m1', 1, '2026-01-01T00:00:03Z', 'running'),
      status('did:plc:m1', 0, '2026-01-01T00:00:09Z', 'yielded'),
      status('did:plc:m2', 1, '2026-01-01T00:00:02Z', 'running'),
    ])
    expect(out.map((s) => [s.meshlet, s.record.round, s.record.state])).toEqual([
      ['did:plc:m1', 1, 'running'],
      ['did:plc:m2', 1, 'running'],
    ])
  })
})
