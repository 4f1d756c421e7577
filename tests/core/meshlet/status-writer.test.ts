// The order of a replica's status writes: as asked for, one replica's writes one after another,
// and nothing but an ending after an ending — even one asked for while an earlier write is still
// under way, or after one that failed.
import { describe, expect, it } from 'vitest'
import {
  replicaStatus,
  StatusWriter,
  type StatusDraft,
  type StatusRecord,
} from '../../../core/meshlet/status-writer.js'
import { bidRkey } from '../../../core/scheduling/index.js'

const uri = 'at://did:plc:bob/commune.scheduler.workload/3kabc'
const draft = (state: string, cid = 'bafyv1', round = 0): StatusDraft => ({
  workload: { uri, cid },
  round,
  state,
})

/** A PDS whose writes finish when the test says so. */
function slowPds() {
  const written: [string, string][] = []
  const waiting: { release: () => void; fail: (e: Error) => void }[] = []
  const writer = new StatusWriter({
    now: () => Date.parse('2026-12-01T00:00:00Z'),
    put: (rkey: string, record: StatusRecord) =>
      new Promise<void>((resolve, reject) => {
        waiting.push({
          release: () => {
            written.push([rkey, record.state])
            resolve()
          },
          fail: reject,
        })
      }),
  })
  const tick = () => new Promise((r) => setImmediate(r))
  return { writer, written, waiting, tick }
}

describe('StatusWriter', () => {
  it('writes one replica’s statuses in the order asked, one after another, dated', async () => {
    const { writer, written, waiting, tick } = slowPds()
    const a = writer.publish(uri, 0, draft('starting'))
    const b = writer.publish(uri, 0, draft('running'))
    await tick()
    expect(waiting).toHaveLength(1)
    waiting[0]!.release()
    await a
    await tick()
    expect(waiting).toHaveLength(2)
    waiting[1]!.release()
    await b
    expect(written).toEqual([
      [bidRkey(uri, 0, 'bafyv1'), 'starting'],
      [bidRkey(uri, 0, 'bafyv1'), 'running'],
    ])
    await tick()
    expect(writer.inFlight).toBe(0)
  })

  it('drops what is not an ending once an ending is asked for, even if asked before it', async () => {
    const { writer, written, waiting, tick } = slowPds()
    const starting = writer.publish(uri, 0, draft('starting'))
    await tick()
    // `running` waits behind `starting`; the ending asked meanwhile wins over it.
    const running = writer.publish(uri, 0, draft('running'))
    const exited = writer.publish(uri, 0, draft('exited'))
    // A heartbeat that lost the race with the ending: dropped at once.
    await writer.publish(uri, 0, draft('running'))
    waiting[0]!.release()
    await starting
    await running
    await tick()
    waiting[1]!.release()
    await exited
    expect(written.map(([, s]) => s)).toEqual(['starting', 'exited'])
    // Later still: never written.
    await writer.publish(uri, 0, draft('starting'))
    await tick()
    expect(waiting).toHaveLength(2)
  })

  it('lets another ending follow an ending (a stop after an exit was seen)', async () => {
    const { writer, written, waiting, tick } = slowPds()
    const failed = writer.publish(uri, 0, draft('failed'))
    const stopped = writer.publish(uri, 0, draft('stopped'))
    await tick()
    waiting[0]!.release()
    await failed
    await tick()
    waiting[1]!.release()
    await stopped
    expect(written.map(([, s]) => s)).toEqual(['failed', 'stopped'])
  })

  it('keeps replicas apart: another round or version is not held up or ended', async () => {
    const { writer, written, waiting, tick } = slowPds()
    void writer.publish(uri, 0, draft('yielded'))
    const next = writer.publish(uri, 1, draft('running'))
    const other = writer.publish(uri, 0, draft('running', 'bafyv2'))
    await tick()
    expect(waiting).toHaveLength(3)
    waiting[1]!.release()
    waiting[2]!.release()
    await Promise.all([next, other])
    expect(written).toEqual([
      [bidRkey(uri, 1, 'bafyv1'), 'running'],
      // Another version's round 0 has a record of its own: it does not overwrite this one's.
      [bidRkey(uri, 0, 'bafyv2'), 'running'],
    ])
  })

  it('reports a failed write to its caller, and the next write still goes out', async () => {
    const { writer, written, waiting, tick } = slowPds()
    const first = writer.publish(uri, 0, draft('starting'))
    const second = writer.publish(uri, 0, draft('running'))
    await tick()
    waiting[0]!.fail(new Error('PDS away'))
    await expect(first).rejects.toThrow('PDS away')
    await tick()
    waiting[1]!.release()
    await second
    expect(written.map(([, s]) => s)).toEqual(['running'])
  })
})

describe('replicaStatus', () => {
  const replica = { workloadUri: uri, cid: 'bafyv1', round: 2 }

  it('carries the workload’s request and the usage, so peers can account for it later', () => {
    const usage = { cpuMilliSeconds: 1500, memoryPeakMiB: 40, wallMs: 3000, extra: 1 }
    expect(
      replicaStatus({ ...replica, startedAt: '2026-12-01T00:00:00.000Z' }, 'exited', usage, {
        cpuMillis: 500,
        memoryMiB: 64,
      }),
    ).toEqual({
      workload: { uri, cid: 'bafyv1' },
      round: 2,
      state: 'exited',
      resources: { cpuMillis: 500, memoryMiB: 64 },
      usage: { cpuMilliSeconds: 1500, memoryPeakMiB: 40, wallMs: 3000 },
      startedAt: '2026-12-01T00:00:00.000Z',
    })
  })

  it('leaves out what is not known (a workload gone, no usage read, not started)', () => {
    expect(replicaStatus(replica, 'stopped', undefined, undefined)).toEqual({
      workload: { uri, cid: 'bafyv1' },
      round: 2,
      state: 'stopped',
    })
  })
})
