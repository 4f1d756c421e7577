import { describe, expect, it } from 'vitest'
import { formatSignedUnits, formatUnits } from '../../../core/fairshare/units.js'
import { printStatus, type StatusReport } from '../../../core/status.js'

describe('balances for people', () => {
  it('shows a short run’s thousandths, and larger amounts with two decimals', () => {
    expect(formatUnits(2)).toBe('0.002')
    expect(formatUnits(0)).toBe('0.0')
    expect(formatUnits(12_345)).toBe('12.35')
    expect(formatSignedUnits(2)).toBe('+0.002')
    expect(formatSignedUnits(-2)).toBe('\u22120.002')
    expect(formatSignedUnits(0)).toBe('0.0')
  })

  it('meshlet status prints the commune’s balances the same way', () => {
    const report: StatusReport = {
      uri: 'at://did:plc:alice/commune.scheduler.workload/3k',
      found: true,
      decided: false,
      winners: [],
      bids: [],
      noBid: [],
      statuses: [],
      headline: 'Running: 1 of 1 replicas.',
      workload: {
        uri: 'at://did:plc:alice/commune.scheduler.workload/3k',
        cid: 'bafy',
        owner: 'did:plc:alice',
        record: {
          $type: 'commune.scheduler.workload',
          image: 'busybox',
          resources: { cpuMillis: 100, memoryMiB: 32 },
          replicas: 1,
          createdAt: '2026-01-01T00:00:00.000Z',
        },
      },
      round: {
        round: 0,
        opensAt: 0,
        closesAt: 5000,
        decideAt: 7000,
        slots: 1,
        excluded: [],
        holders: [],
        exhausted: false,
        failures: 0,
      },
      balances: [
        { did: 'did:plc:bob', contributed: 3, consumed: 0, balance: 3 },
        { did: 'did:plc:alice', contributed: 0, consumed: 3, balance: -3 },
      ],
    }
    const out: string[] = []
    printStatus(report, (l) => out.push(l))
    expect(out.slice(-3)).toEqual([
      '  balances (units: a core or a GiB for an hour; to a thousandth below one):',
      '    did:plc:bob +0.003 (lent 0.003, used 0.0)',
      '    did:plc:alice \u22120.003 (lent 0.0, used 0.003)',
    ])
  })
})
