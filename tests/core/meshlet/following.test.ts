// Whose records a meshlet reads: the DIDs it follows, and what it keeps from strangers.
import { describe, expect, it } from 'vitest'
import { LinkageRecords } from '../../../core/identity/cluster.js'
import { NSID } from '../../../core/lexicon/index.js'
import { aboutUs, followTargets } from '../../../core/meshlet/following.js'
import type { RecordEvent } from '../../../core/sync/index.js'

const alice = 'did:plc:alice'
const aliceM = 'did:plc:alicem'
const bob = 'did:plc:bob'
const bobM = 'did:plc:bobm'
const carol = 'did:plc:carol'
const carolM = 'did:plc:carolm'
const dave = 'did:plc:dave'

/** Two-way linkage of `owner` and `meshlet`, the meshlet listing `members`. */
function linked(l: LinkageRecords, owner: string, meshlet: string, members: string[]) {
  l.setOwnerMeshlet(owner, meshlet, true)
  l.setMeshletOwner(meshlet, owner)
  l.setMembership(meshlet, [owner, ...members])
}

describe('followTargets', () => {
  it('follows our owner, our members, their meshlets, and the friends of mutual peers', () => {
    const l = new LinkageRecords()
    linked(l, alice, aliceM, [bob, carol])
    // bob is mutual with alice and also lists dave; carol does not list alice.
    linked(l, bob, bobM, [alice, dave])
    linked(l, carol, carolM, [])
    const targets = followTargets(l, { owner: alice, members: [bob, carol] })
    expect(new Set(targets)).toEqual(new Set([alice, aliceM, bob, bobM, carol, carolM, dave]))
  })

  it('does not follow the friends of a member who is not mutual', () => {
    const l = new LinkageRecords()
    linked(l, alice, aliceM, [carol])
    linked(l, carol, carolM, [dave])
    const targets = followTargets(l, { owner: alice, members: [carol] })
    expect(targets).not.toContain(dave)
    expect(targets).toContain(carolM)
  })
})

describe('aboutUs', () => {
  const put = (did: string, collection: string, record: unknown): RecordEvent =>
    ({
      event: 'put',
      source: 'firehose',
      did,
      collection,
      rkey: 'self',
      uri: `at://${did}/${collection}/self`,
      cid: 'c',
      record,
    }) as RecordEvent
  const del = (did: string, collection: string): RecordEvent =>
    ({
      event: 'delete',
      source: 'firehose',
      did,
      collection,
      rkey: 'self',
      uri: `at://${did}/${collection}/self`,
    }) as RecordEvent

  function us(followed: string[] = []) {
    const linkage = new LinkageRecords()
    return { owner: alice, members: [bob], followed: new Set(followed), linkage }
  }

  it('keeps everything a followed DID writes', () => {
    expect(aboutUs(put(bob, NSID.workload, {}), us([bob]))).toBe(true)
    expect(aboutUs(put(dave, NSID.workload, {}), us([bob]))).toBe(false)
  })

  it('keeps a stranger’s meshlet that lists our owner, or claims one of us as its owner', () => {
    expect(aboutUs(put(dave, NSID.membership, { members: [alice] }), us())).toBe(true)
    expect(aboutUs(put(dave, NSID.membership, { members: [carol] }), us())).toBe(false)
    expect(aboutUs(put(dave, NSID.meshletOwner, { owner: alice }), us())).toBe(true)
    expect(aboutUs(put(dave, NSID.meshletOwner, { owner: bob }), us())).toBe(true)
    expect(aboutUs(put(dave, NSID.meshletOwner, { owner: carol }), us())).toBe(false)
  })

  it('keeps who a meshlet that lists us claims to belong to', () => {
    const u = us()
    u.linkage.setMembership(dave, [alice])
    expect(aboutUs(put(dave, NSID.meshletOwner, { owner: carol }), u)).toBe(true)
  })

  it('keeps the deletion of a claim it kept, and no other', () => {
    const u = us()
    expect(aboutUs(del(dave, NSID.meshletOwner), u)).toBe(false)
    expect(aboutUs(del(dave, NSID.membership), u)).toBe(false)
    u.linkage.setMeshletOwner(dave, alice)
    u.linkage.setMembership(carolM, [alice])
    expect(aboutUs(del(dave, NSID.meshletOwner), u)).toBe(true)
    expect(aboutUs(del(carolM, NSID.membership), u)).toBe(true)
  })

  it('ignores everything that is not a record change', () => {
    const dropped = {
      event: 'dropped',
      source: 'firehose',
      did: bob,
      collection: NSID.workload,
      rkey: 'x',
      uri: 'at://x',
      reason: 'bad',
    } as RecordEvent
    expect(aboutUs(dropped, us([bob]))).toBe(false)
  })
})
