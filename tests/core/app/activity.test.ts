// The activity list's decisions: which log lines become sentences and what they say, the list's
// bound and order, and the tee that keeps the structured log whole.
import { describe, expect, it } from 'vitest'
import {
  ActivityLog,
  describeEvent,
  shortUri,
  teeLog,
  type ActivityContext,
} from '../../../core/app/activity.js'
import type { Level } from '../../../core/log.js'

const ours = 'at://did:plc:alice/commune.scheduler.workload/3kours'
const theirs = 'at://did:plc:bob/commune.scheduler.workload/3ktheirs'
const gone = 'at://did:plc:carol/commune.scheduler.workload/3kgone'

const ctx: ActivityContext = {
  workload: (uri) =>
    uri === ours
      ? { owner: 'did:plc:alice', image: 'busybox:1' }
      : uri === theirs
        ? { owner: 'did:plc:bob', image: 'nginx:1' }
        : undefined,
  ownerDid: 'did:plc:alice',
  label: (did) => (did === 'did:plc:bob' ? 'bob.test' : did),
}

describe('describeEvent', () => {
  it.each([
    ['bid', { workload: theirs, round: 2 }, 'Bid on nginx:1 (of bob.test) (round 2)'],
    ['replica.running', { workload: ours }, 'Started busybox:1 (yours)'],
    [
      'replica.declined',
      { workload: theirs, round: 0 },
      "Declined nginx:1 (of bob.test): this machine's offer is held by its other wins (round 0)",
    ],
    ['replica.failed', { workload: theirs }, 'Could not start nginx:1 (of bob.test)'],
    [
      'replica.ended',
      { workload: theirs, state: 'exited', exitCode: 0 },
      'nginx:1 (of bob.test) finished (exit 0)',
    ],
    [
      'replica.ended',
      { workload: theirs, state: 'failed', exitCode: 137 },
      'nginx:1 (of bob.test) failed (exit 137)',
    ],
    [
      'replica.stop',
      { workload: theirs, reason: 'superseded' },
      'Stopping nginx:1 (of bob.test): its owner published a new version',
    ],
    [
      'replica.stop',
      { workload: theirs, reason: 'stopped-by-lender' },
      'Stopping nginx:1 (of bob.test): you stopped it',
    ],
    // A reason without a sentence is shown as it is, not dropped.
    [
      'replica.stop',
      { workload: theirs, reason: 'max-runtime' },
      'Stopping nginx:1 (of bob.test): max-runtime',
    ],
    ['replica.stop', { workload: gone, reason: 'deleted' }, expect.stringContaining('(3kgone)')],
    ['workload.seen', { uri: ours }, 'Your workload busybox:1 (yours) is published'],
    ['started', {}, 'This machine joined the commune'],
    ['cluster', { peers: ['did:plc:bob'] }, 'Commune: 1 mutual member'],
    ['cluster', { peers: [] }, 'Commune: 0 mutual members'],
    ['record.dropped', { reason: 'bad date' }, 'Ignored an invalid record: bad date'],
    [
      'error',
      { stage: 'sync', error: { message: 'socket closed' } },
      'Error (sync): socket closed',
    ],
  ])('%s %j → a sentence', (event, fields, text) => {
    expect(describeEvent(event, fields, ctx)).toEqual(text)
  })

  it('names a workload it no longer knows by its record key', () => {
    expect(describeEvent('replica.running', { workload: gone }, ctx)).toBe(
      'Started a workload that is gone (3kgone)',
    )
  })

  it('says nothing of record traffic, of peers’ workloads being seen, or of unknown events', () => {
    expect(describeEvent('record', { op: 'put', uri: ours }, ctx)).toBeUndefined()
    expect(describeEvent('workload.seen', { uri: theirs }, ctx)).toBeUndefined()
    expect(describeEvent('lookup.retry', { did: 'did:plc:x' }, ctx)).toBeUndefined()
  })
})

describe('ActivityLog', () => {
  it('lists newest first, numbered, and keeps only the latest `max`', () => {
    let changes = 0
    const log = new ActivityLog({ max: 3, now: () => 0, onChange: () => changes++ })
    for (const t of ['a', 'b', 'c', 'd']) log.note('info', t)
    expect(log.list().map((i) => [i.id, i.text])).toEqual([
      [4, 'd'],
      [3, 'c'],
      [2, 'b'],
    ])
    expect(log.list()[0]!.at).toBe('1970-01-01T00:00:00.000Z')
    expect(changes).toBe(4)
  })

  it('hands out a copy', () => {
    const log = new ActivityLog()
    log.note('warn', 'x')
    log.list().pop()
    expect(log.list()).toHaveLength(1)
  })
})

describe('teeLog', () => {
  it('writes every line to the log, and notes those with a sentence (debug as info)', () => {
    const lines: [Level, string][] = []
    const activity = new ActivityLog()
    const log = teeLog({ log: (level, event) => lines.push([level, event]) }, activity, (e) =>
      e === 'record' ? undefined : `said ${e}`,
    )
    log.log('debug', 'record', { uri: ours })
    log.log('debug', 'quiet')
    log.log('warn', 'loud')
    expect(lines).toEqual([
      ['debug', 'record'],
      ['debug', 'quiet'],
      ['warn', 'loud'],
    ])
    expect(activity.list().map((i) => [i.level, i.text])).toEqual([
      ['warn', 'said loud'],
      ['info', 'said quiet'],
    ])
  })
})

it('shortUri keeps the record key', () => {
  expect(shortUri(ours)).toBe('3kours')
  expect(shortUri('plain')).toBe('plain')
})
