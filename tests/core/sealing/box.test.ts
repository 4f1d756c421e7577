// Sealed boxes and the secrets/results formats built on them: pure, no network.
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import {
  BOX_OVERHEAD,
  checkSecrets,
  generateKeyPair,
  open,
  OpenError,
  openResult,
  openSecrets,
  seal,
  sealResult,
  secretsRecord,
  SecretsError,
  tailOf,
} from '../../../core/sealing/index.js'
import { NSID } from '../../../core/lexicon/index.js'

const enc = (s: string) => new TextEncoder().encode(s)
const W = 'at://did:plc:alice/commune.scheduler.workload/3kabc'

describe('sealed boxes', () => {
  it('open what was sealed to the key, for the same context (any bytes)', () => {
    const keys = generateKeyPair()
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 512 }), fc.string({ maxLength: 40 }), (plain, ctx) => {
        const box = seal(plain, keys.publicKey, ctx)
        expect(box.length).toBe(plain.length + BOX_OVERHEAD)
        expect(open(box, keys, ctx)).toEqual(plain)
      }),
      { numRuns: 50 },
    )
  })

  it('refuse another key, another context, and any altered byte', () => {
    const keys = generateKeyPair()
    const other = generateKeyPair()
    const box = seal(enc('hunter2'), keys.publicKey, 'ctx')
    expect(() => open(box, other, 'ctx')).toThrow(OpenError)
    expect(() => open(box, keys, 'ctx2')).toThrow(OpenError)
    for (let i = 1; i < box.length; i += 7) {
      const bad = box.slice()
      bad[i] = bad[i]! ^ 1
      expect(() => open(bad, keys, 'ctx')).toThrow(OpenError)
    }
    expect(() => open(box.subarray(0, 20), keys, 'ctx')).toThrow(/too short/)
  })

  it('seal each time anew: the same plaintext never gives the same box', () => {
    const keys = generateKeyPair()
    const a = seal(enc('same'), keys.publicKey, 'c')
    const b = seal(enc('same'), keys.publicKey, 'c')
    expect(Buffer.from(a).equals(Buffer.from(b))).toBe(false)
  })

  it('a rotated key cannot open what was sealed to the old one', () => {
    const old = generateKeyPair()
    const box = seal(enc('v'), old.publicKey, 'c')
    const rotated = generateKeyPair()
    expect(() => open(box, rotated, 'c')).toThrow(OpenError)
  })
})

describe('workload secrets', () => {
  const meshlet = generateKeyPair()
  const owner = generateKeyPair()
  const secrets = new Map([['TOKEN', 's3cr3t-value']])
  const record = () => ({
    $type: NSID.workloadSecrets,
    ...secretsRecord(secrets, W, [
      { did: 'did:plc:alice', publicKey: owner.publicKey },
      { did: 'did:plc:m1', publicKey: meshlet.publicKey },
    ]),
  })

  it('hold no plaintext and open only for the recipient and its current key', () => {
    const r = record()
    const json = JSON.stringify(r, (_k, v: unknown) =>
      v instanceof Uint8Array ? Buffer.from(v).toString('latin1') : v,
    )
    expect(json).not.toContain('s3cr3t-value')
    const ok = openSecrets(r, W, 'did:plc:m1', meshlet, ['TOKEN'])
    expect(ok.ok && ok.secrets.get('TOKEN')).toBe('s3cr3t-value')
    expect(openSecrets(r, W, 'did:plc:alice', owner).ok).toBe(true)
    expect(openSecrets(r, W, 'did:plc:m2', meshlet)).toEqual({ ok: false, why: 'not-shared' })
    expect(openSecrets(r, W, 'did:plc:m1', generateKeyPair())).toEqual({
      ok: false,
      why: 'sealed-to-old-key',
    })
    expect(openSecrets(r, W, 'did:plc:m1', meshlet, ['OTHER'])).toEqual({
      ok: false,
      why: 'names-missing',
    })
    expect(openSecrets(undefined, W, 'did:plc:m1', meshlet)).toEqual({
      ok: false,
      why: 'no-record',
    })
  })

  it('bind each box to its workload and recipient: a copied box does not open', () => {
    const r = record()
    // The record claims another workload: refused before any box is tried.
    const moved = { ...r, workload: W.replace('3kabc', '3kxyz') }
    expect(openSecrets(moved, moved.workload, 'did:plc:m1', meshlet).ok).toBe(false)
    // A box moved to another recipient's slot (same key) fails on its context.
    const forged = {
      ...r,
      boxes: r.boxes.map((b) =>
        b.recipient === 'did:plc:m1' ? { ...b, recipient: 'did:plc:m9' } : b,
      ),
    }
    expect(openSecrets(forged, W, 'did:plc:m9', meshlet)).toEqual({ ok: false, why: 'cannot-open' })
  })

  it('refuse bad names, too many and too large, naming the secret but never its value', () => {
    expect(() => checkSecrets(new Map([['1BAD', 'x']]))).toThrow(SecretsError)
    expect(() => checkSecrets(new Map([['A=B', 'x']]))).toThrow(SecretsError)
    expect(() => checkSecrets(new Map([['NUL', 'a\0b']]))).toThrow(/NUL/)
    const many = new Map(Array.from({ length: 17 }, (_, i) => [`S${i}`, 'v']))
    expect(() => checkSecrets(many)).toThrow(/at most 16/)
    try {
      checkSecrets(new Map([['BIG', 'topsecret'.repeat(600)]]))
      expect.unreachable()
    } catch (err) {
      expect((err as Error).message).toMatch(/at most 4096/)
      expect((err as Error).message).not.toContain('topsecret')
    }
  })
})

describe('sealed results', () => {
  it('open for the owner only, and only as the replica they describe', () => {
    const owner = generateKeyPair()
    const summary = {
      workload: W,
      round: 2,
      meshlet: 'did:plc:m1',
      state: 'exited',
      exitCode: 0,
      finishedAt: new Date(0).toISOString(),
      ...tailOf('hello\n'),
    }
    const box = sealResult(summary, owner.publicKey)
    expect(openResult(box, owner, W, 2, 'did:plc:m1')).toEqual(summary)
    expect(() => openResult(box, generateKeyPair(), W, 2, 'did:plc:m1')).toThrow(OpenError)
    expect(() => openResult(box, owner, W, 3, 'did:plc:m1')).toThrow(OpenError)
  })

  it('keep the end of long output, cut on a character boundary', () => {
    const text = 'é'.repeat(100) + 'END'
    const t = tailOf(text, 51)
    expect(t.truncated).toBe(true)
    expect(t.output.endsWith('END')).toBe(true)
    expect(t.output).not.toContain('\uFFFD')
    expect(Buffer.byteLength(t.output)).toBeLessThanOrEqual(51)
    expect(tailOf('short', 51)).toEqual({ output: 'short', truncated: false })
  })
})
