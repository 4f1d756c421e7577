// The budgeted writer's decisions, over a scripted inner writer: order by urgency, coalescing,
// the budget's ceilings per class, 429s waited out. The real PDS behind a 429-answering proxy is
// in budget-pds.test.ts.
import { describe, expect, it } from 'vitest'
import {
  BudgetedWriter,
  PointsLog,
  classify,
  parseRateLimit,
  type ObservableWriter,
} from '../../../core/repo/budget.js'
import { RepoWriteError } from '../../../core/repo/errors.js'
import { NSID } from '../../../core/lexicon/index.js'

class ScriptedWriter implements ObservableWriter {
  readonly did = 'did:plc:meshlet'
  observer?: (headers: Record<string, string | undefined>) => void
  readonly log: string[] = []
  /** Answers for the next calls: an error to throw, or undefined to succeed. */
  readonly failures: unknown[] = []
  private gate?: Promise<void>
  private open?: () => void

  hold(): void {
    this.gate = new Promise((r) => (this.open = r))
  }

  release(): void {
    this.open?.()
    this.gate = undefined
  }

  private async write(what: string, signal?: AbortSignal) {
    if (this.gate) {
      // A held write answers when released, or never: then only its signal ends it.
      const gate = this.gate
      await new Promise<void>((resolve, reject) => {
        void gate.then(resolve)
        signal?.addEventListener('abort', () => reject(new RepoWriteError('aborted')))
      })
    }
    const failure = this.failures.shift()
    if (failure !== undefined) throw failure
    this.log.push(what)
    return { uri: `at://${this.did}/${what}`, cid: 'bafy' }
  }

  put(
    collection: string,
    rkey: string,
    record: Record<string, unknown>,
    opts?: { signal?: AbortSignal },
  ) {
    return this.write(
      `${collection.split('.').pop()}/${rkey}:${String(record.state ?? '')}`,
      opts?.signal,
    )
  }
  create(collection: string) {
    return this.write(`${collection.split('.').pop()}/new`)
  }
  async delete(collection: string, rkey: string) {
    await this.write(`delete ${collection.split('.').pop()}/${rkey}`)
  }
}

const tick = () => new Promise((r) => setTimeout(r, 0))

describe('parseRateLimit', () => {
  it('reads the epoch a PDS sends, and delta-seconds', () => {
    const now = 1_700_000_000_000
    expect(
      parseRateLimit(
        { 'ratelimit-limit': '5000', 'ratelimit-remaining': '12', 'ratelimit-reset': '1700000060' },
        now,
      ),
    ).toEqual({ limit: 5000, remaining: 12, reset: now + 60_000 })
    expect(parseRateLimit({ 'ratelimit-reset': '30' }, now)).toEqual({ reset: now + 30_000 })
    expect(parseRateLimit({ 'ratelimit-remaining': 'lots' }, now)).toEqual({})
    expect(parseRateLimit(undefined, now)).toEqual({})
  })
})

describe('classify', () => {
  it.each([
    ['update', NSID.workloadStatus, { state: 'exited' }, 'ending'],
    ['update', NSID.workloadStatus, { state: 'draining' }, 'ending'],
    ['update', NSID.workloadStatus, { state: 'running' }, 'control'],
    ['update', NSID.bid, {}, 'bid'],
    ['update', 'commune.scheduler.presence', {}, 'heartbeat'],
    ['update', NSID.membership, {}, 'control'],
    ['delete', NSID.bid, undefined, 'hygiene'],
  ] as const)('%s %s %o is %s', (op, collection, record, cls) => {
    expect(classify(op, collection, record)).toBe(cls)
  })
})

describe('PointsLog', () => {
  it('says when spending falls to a target as entries age out', () => {
    const log = new PointsLog()
    log.add(0, 2)
    log.add(10, 3)
    log.add(20, 1)
    expect(log.spent(30, 100)).toBe(6)
    expect(log.fallsTo(6, 30, 100)).toBe(30)
    expect(log.fallsTo(4, 30, 100)).toBe(100)
    expect(log.fallsTo(1, 30, 100)).toBe(110)
    expect(log.spent(105, 100)).toBe(4)
  })
})

describe('BudgetedWriter', () => {
  it('sends endings before bids before heartbeats, whatever order they came in', async () => {
    const inner = new ScriptedWriter()
    const w = new BudgetedWriter(inner, { concurrency: 1 })
    inner.hold()
    const first = w.put(NSID.membership, 'self', {})
    await tick()
    const rest = [
      w.put('commune.scheduler.presence', 'self', { state: 'a' }),
      w.put(NSID.bid, 'b1', {}),
      w.put(NSID.workloadStatus, 's1', { state: 'exited' }),
      w.put(NSID.workloadStatus, 's2', { state: 'running' }),
    ]
    inner.release()
    await Promise.all([first, ...rest])
    expect(inner.log).toEqual([
      'membership/self:',
      'workloadStatus/s1:exited',
      'bid/b1:',
      'workloadStatus/s2:running',
      'presence/self:a',
    ])
  })

  it('coalesces puts of one record that wait: one write, every caller answered', async () => {
    const inner = new ScriptedWriter()
    const w = new BudgetedWriter(inner, { concurrency: 1 })
    inner.hold()
    const first = w.put(NSID.membership, 'self', {})
    await tick()
    const beats = [1, 2, 3].map((n) =>
      w.put('commune.scheduler.presence', 'self', { state: `n${n}` }),
    )
    inner.release()
    const results = await Promise.all([first, ...beats])
    expect(inner.log).toEqual(['membership/self:', 'presence/self:n3'])
    expect(results[1]).toEqual(results[3])
    expect(w.state.writes.heartbeat).toBe(1)
  })

  it('keeps the last share of the budget for more urgent writes', async () => {
    const inner = new ScriptedWriter()
    // 20 points an hour: heartbeats may bring it to 18 (9 updates), endings to 20.
    let now = 1_000_000
    const w = new BudgetedWriter(inner, { budget: { hourPoints: 20 }, now: () => now })
    const beats = Array.from({ length: 10 }, (_, i) =>
      w.put('commune.scheduler.presence', `p${i}`, {}),
    )
    await Promise.all(beats.slice(0, 9))
    await tick()
    expect(inner.log).toHaveLength(9)
    expect(w.state.spentHour).toBe(18)
    expect(w.state.queued).toBe(1)
    await w.put(NSID.workloadStatus, 's', { state: 'failed' })
    expect(w.state.spentHour).toBe(20)
    expect(w.state.rateLimitedUntil).toBe(1_000_000 + 3_600_000)
    w.close()
    await expect(beats[9]).rejects.toThrow(RepoWriteError)
    now += 0
  })

  it('waits out a 429 until the reset the PDS names, then sends; nothing is lost', async () => {
    const inner = new ScriptedWriter()
    const states: (number | undefined)[] = []
    const w = new BudgetedWriter(inner, { onState: (s) => states.push(s.rateLimitedUntil) })
    const reset = Date.now() + 1500
    inner.failures.push(
      Object.assign(new RepoWriteError('putRecord failed'), {
        cause: Object.assign(new Error('Rate Limit Exceeded'), {
          status: 429,
          headers: { 'ratelimit-reset': String(Math.ceil(reset / 1000)) },
        }),
      }),
    )
    const ending = w.put(NSID.workloadStatus, 's', { state: 'stopped' })
    await expect(ending).resolves.toMatchObject({
      uri: 'at://did:plc:meshlet/workloadStatus/s:stopped',
    })
    expect(Date.now()).toBeGreaterThanOrEqual(Math.ceil(reset / 1000) * 1000 - 5)
    expect(states.some((u) => u !== undefined && u >= reset - 1000)).toBe(true)
    expect(w.state.rateLimitedUntil).toBeUndefined()
  })

  it('retries an ending through a network failure, and fails a bid at once', async () => {
    const inner = new ScriptedWriter()
    const w = new BudgetedWriter(inner)
    inner.failures.push(new RepoWriteError('fetch failed'))
    await expect(w.put(NSID.workloadStatus, 's', { state: 'exited' })).resolves.toBeDefined()
    inner.failures.push(new RepoWriteError('fetch failed'))
    await expect(w.put(NSID.bid, 'b', {})).rejects.toThrow('fetch failed')
  })

  it('gives up on a write the PDS does not answer, keeps endings, and hands back what waits', async () => {
    const inner = new ScriptedWriter()
    const w = new BudgetedWriter(inner, { timeoutMs: 50, concurrency: 1 })
    inner.hold()
    await expect(w.put(NSID.presence, 'self', {})).rejects.toThrow(
      'aborted: the PDS did not answer within 0.05 s',
    )
    const since = w.state.unreachableSince
    expect(since).toBeDefined()
    const ending = w.put(NSID.workloadStatus, 's', { state: 'exited' })
    // The ending holds the only slot while it is retried: the bid is not sent, and says why.
    await expect(w.put(NSID.bid, 'b', {})).rejects.toThrow(
      `putRecord ${NSID.bid}/b as did:plc:meshlet not sent: the PDS has not answered since ${new Date(since!).toISOString()}`,
    )
    inner.release()
    await expect(ending).resolves.toBeDefined()
    expect(inner.log).toEqual(['workloadStatus/s:exited'])
    expect(w.state.unreachableSince).toBeUndefined()
  })
})
