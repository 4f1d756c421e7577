// Failed look-ups on the real stack (PLC + PDS): a member's owner names meshlet DIDs that do not
// resolve. The meshlet tries them again with a growing delay, not at a fixed interval, and stops
// once the records that named them are deleted (core/lookups).
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { NSID } from '../../../core/lexicon/index.js'
import type { Logger } from '../../../core/log.js'
import { Meshlet } from '../../../core/meshlet.js'
import {
  createMember,
  eventually,
  link,
  localIdentity,
  setMembership,
  startNetwork,
  type Member,
  type Network,
} from '../../_util.js'

// Scaled down from the defaults (5 s doubling to 5 min) so the test takes seconds.
const FIRST = 400
const MAX = 3200
const BOGUS = ['did:plc:bogusbogusbogusbogus2222', 'did:plc:bogusbogusbogusbogus3333']

let net: Network
let alice: Member, bob: Member
let meshlet: Meshlet
const lines: { event: string; did?: string; retryInMs?: number; at: number }[] = []

beforeAll(async () => {
  net = await startNetwork()
  alice = await createMember(net, 'alice')
  bob = await createMember(net, 'bob')
  for (const m of [alice, bob]) await link(m)
  await setMembership(bob, [alice])
  const log: Logger = {
    log: (_level, event, fields) =>
      void lines.push({
        event,
        did: fields?.did as string | undefined,
        retryInMs: fields?.retryInMs as number | undefined,
        at: Date.now(),
      }),
  }
  meshlet = new Meshlet({
    did: alice.meshlet.did,
    owner: alice.owner.did,
    members: [bob.owner.did],
    identity: localIdentity(net),
    writer: alice.meshlet.session,
    firehose: net.pds.url,
    offer: { cpuMillis: 1000, memoryMiB: 512 },
    lookupBackoff: { firstMs: FIRST, maxMs: MAX },
    log,
  })
  await meshlet.start()
  await eventually('mutual', () => meshlet.clusterReport.peers.length === 2)
})

afterAll(async () => {
  await meshlet?.stop()
  await net?.close()
})

const retries = (did: string) => lines.filter((l) => l.event === 'lookup.retry' && l.did === did)

describe('failed look-ups', () => {
  it('back off while a record names a DID that does not resolve, and stop once it is gone', async () => {
    for (const did of BOGUS) {
      await bob.owner.session.put(NSID.meshlet, did, {
        meshlet: did,
        createdAt: new Date().toISOString(),
      })
    }
    // Five attempts each: at 0, then 0.4, 1.2, 2.8 and 6 s later (a fixed 5 s would be at 0 and 5).
    for (const did of BOGUS) {
      await eventually(`five look-ups of ${did}`, () => retries(did).length >= 5, 30_000)
    }
    for (const did of BOGUS) {
      const seen = retries(did).slice(0, 5)
      expect(seen.map((l) => l.retryInMs)).toEqual([400, 800, 1600, 3200, 3200])
      // Each attempt came no sooner than its back-off allowed.
      for (let i = 1; i < seen.length; i += 1) {
        expect(seen[i]!.at - seen[i - 1]!.at).toBeGreaterThanOrEqual(seen[i - 1]!.retryInMs! - 20)
      }
    }
    // The real member's meshlet resolved at once and is never retried.
    expect(retries(bob.meshlet.did)).toEqual([])

    for (const did of BOGUS) await bob.owner.session.delete(NSID.meshlet, did)
    for (const did of BOGUS) {
      await eventually(
        `${did} dropped`,
        () => lines.some((l) => l.event === 'lookup.dropped' && l.did === did),
        30_000,
      )
    }
    const counts = BOGUS.map((did) => retries(did).length)
    // Nothing more, for longer than the longest back-off.
    await new Promise((r) => setTimeout(r, 2 * MAX))
    expect(BOGUS.map((did) => retries(did).length)).toEqual(counts)
    console.log(
      `look-ups of 2 bogus DIDs: ${counts.join(' and ')} attempts until their records were deleted, then none`,
    )
  })
})
