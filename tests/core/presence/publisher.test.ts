// The presence loop's timing under each liveness: real timers at short intervals, the write
// itself a function that records what it was given.
import { setTimeout as sleep } from 'node:timers/promises'
import { afterEach, describe, expect, it } from 'vitest'
import {
  PresencePublisher,
  type PresenceRecordDraft,
  type VouchedReplica,
} from '../../../core/presence/index.js'

const replica = (n: number): VouchedReplica => ({
  workload: { uri: `at://did:plc:alice/commune.scheduler.workload/w${n}`, cid: 'bafyw' },
  round: 0,
})

let publisher: PresencePublisher | undefined
afterEach(async () => {
  await publisher?.stop()
})

function loop(list: VouchedReplica[], now?: () => number) {
  const written: PresenceRecordDraft[] = []
  publisher = new PresencePublisher({
    intervalMs: 20,
    challengeIntervalMs: 60_000,
    replicas: () => Promise.resolve([...list]),
    state: () => 'lending',
    publish: (r) => {
      written.push(r)
      return Promise.resolve()
    },
    onError: (err) => {
      throw err
    },
    ...(now ? { now } : {}),
  })
  return { written, publisher }
}

describe('the presence loop', () => {
  it('under interval liveness writes every turn and declares nothing new', async () => {
    const { written, publisher } = loop([replica(1)])
    publisher.start()
    await sleep(150)
    expect(written.length).toBeGreaterThanOrEqual(2)
    expect(written.every((r) => r.liveness === undefined && r.intervalMs === 20)).toBe(true)
  })

  it('under challenge liveness writes the change at once, then only when a replica joins', async () => {
    const list = [replica(1)]
    const { written, publisher } = loop(list)
    publisher.start()
    await publisher.setLiveness('challenge')
    await sleep(150)
    expect(written).toHaveLength(1)
    expect(written[0]).toMatchObject({ liveness: 'challenge', intervalMs: 60_000 })
    list.push(replica(2))
    await sleep(100)
    expect(written).toHaveLength(2)
    expect(written[1]!.replicas).toHaveLength(2)
    // Back to the interval: written at once, and every turn from then on.
    await publisher.setLiveness('interval')
    await sleep(100)
    expect(written[2]!.liveness).toBeUndefined()
    expect(written.length).toBeGreaterThan(4)
  })

  it('answers a challenge at once, dated after it even when our clock is behind', async () => {
    const behind = Date.now() - 60_000
    const { written, publisher } = loop([replica(1)], () => behind)
    publisher.start()
    await publisher.setLiveness('challenge')
    const challengedAt = Date.now()
    await publisher.answer(challengedAt)
    expect(written).toHaveLength(2)
    expect(Date.parse(written[1]!.updatedAt)).toBe(challengedAt + 1)
    await sleep(100)
    expect(written).toHaveLength(2)
  })

  it('with nothing to vouch for writes nothing, answer or not', async () => {
    const { written, publisher } = loop([])
    publisher.start()
    await publisher.setLiveness('challenge')
    await publisher.answer(Date.now())
    await sleep(60)
    expect(written).toHaveLength(0)
  })
})
