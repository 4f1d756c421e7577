import { describe, expect, it } from 'vitest'
import { checkRecord, MAX_RECORD_BYTES, NSID } from '../../../core/lexicon/index.js'

const createdAt = '2026-11-29T12:00:00.000Z'
const workload = {
  $type: NSID.workload,
  image: 'busybox',
  resources: { cpuMillis: 500, memoryMiB: 64 },
  replicas: 2,
  createdAt,
}

describe('checkRecord', () => {
  it('accepts a valid record', () => {
    expect(checkRecord(NSID.workload, workload)).toMatchObject({ ok: true })
  })

  it.each([
    ['a float where an integer belongs', { ...workload, replicas: 1.5 }, /integer/],
    ['too many replicas', { ...workload, replicas: 65 }, /replicas/],
    ['zero cpu', { ...workload, resources: { cpuMillis: 0, memoryMiB: 64 } }, /cpuMillis/],
    ['an empty image', { ...workload, image: '' }, /image/],
    ['a bad datetime', { ...workload, createdAt: 'yesterday' }, /createdAt/],
    ['a missing field', { $type: NSID.workload, image: 'x' }, /invalid/],
    ['another $type', { ...workload, $type: NSID.bid }, /wrong \$type/],
    ['no $type', { ...workload, $type: undefined }, /wrong \$type/],
    ['not an object', 'workload', /not an object/],
    ['null', null, /not an object/],
    ['a BigInt', { ...workload, replicas: 1n }, /not serialisable/],
    ['an oversized record', { ...workload, name: 'x'.repeat(MAX_RECORD_BYTES) }, /oversized/],
  ])('rejects %s', (_what, value, reason) => {
    const res = checkRecord(NSID.workload, value)
    expect(res.ok).toBe(false)
    if (!res.ok) expect(res.reason).toMatch(reason)
  })

  it('rejects members that are not DIDs', () => {
    const res = checkRecord(NSID.membership, {
      $type: NSID.membership,
      members: ['alice'],
      createdAt,
    })
    expect(res.ok).toBe(false)
  })

  it.each([
    ['a subject that is not a DID', { subject: 'bob' }],
    ['no subject', {}],
    ['a bad datetime', { subject: 'did:plc:bob', createdAt: 'soon' }],
  ])('rejects a challenge with %s', (_what, fields) => {
    const res = checkRecord(NSID.challenge, { $type: NSID.challenge, createdAt, ...fields })
    expect(res.ok).toBe(false)
  })

  it('accepts a challenge, and a presence that declares its liveness', () => {
    expect(
      checkRecord(NSID.challenge, { $type: NSID.challenge, subject: 'did:plc:bob', createdAt }).ok,
    ).toBe(true)
    const presence = {
      $type: NSID.presence,
      state: 'lending',
      replicas: [],
      seq: 0,
      liveness: 'challenge',
      updatedAt: createdAt,
    }
    expect(checkRecord(NSID.presence, presence).ok).toBe(true)
    expect(checkRecord(NSID.presence, { ...presence, liveness: 'x'.repeat(33) }).ok).toBe(false)
  })
})
