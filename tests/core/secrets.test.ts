// Where sessions rest. A damaged file or a value sealed by another keychain must not lock the
// user out: it is set aside or dropped, and signing in again works.
import { mkdtemp, readFile, readdir, stat, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { FileSecretStore, type Sealer } from '../../core/secrets.js'

/** Reversible sealing whose "keychain" is a byte; another byte cannot open it. */
function sealer(key: number): Sealer {
  return {
    seal: (plain) => Buffer.from([key, ...Buffer.from(plain, 'utf8').map((b) => b ^ key)]),
    open: (sealed) => {
      if (sealed[0] !== key) throw new Error('sealed by another keychain')
      return Buffer.from(sealed.subarray(1).map((b) => b ^ key)).toString('utf8')
    },
  }
}

const dir = () => mkdtemp(join(tmpdir(), 'meshlet-secrets-'))

describe('FileSecretStore', () => {
  it('keeps values sealed on disk, readable by its owner only, across instances', async () => {
    const path = join(await dir(), 'secrets.json')
    const a = new FileSecretStore(path, sealer(7))
    await a.set('session:did:plc:a', 'refresh-token-value')
    expect(await readFile(path, 'utf8')).not.toContain('refresh-token-value')
    expect((await stat(path)).mode & 0o777).toBe(0o600)
    const b = new FileSecretStore(path, sealer(7))
    expect(await b.get('session:did:plc:a')).toBe('refresh-token-value')
    expect(await b.keys('session:')).toEqual(['session:did:plc:a'])
  })

  it('drops a value another keychain sealed, and then works as before', async () => {
    const path = join(await dir(), 'secrets.json')
    await new FileSecretStore(path, sealer(1)).set('k', 'v')
    const other = new FileSecretStore(path, sealer(2))
    expect(await other.get('k')).toBeUndefined()
    expect(await other.keys()).toEqual([])
    await other.set('k', 'new')
    expect(await new FileSecretStore(path, sealer(2)).get('k')).toBe('new')
  })

  it('sets a damaged file aside and starts empty', async () => {
    const d = await dir()
    const path = join(d, 'secrets.json')
    await writeFile(path, '{ not json')
    const store = new FileSecretStore(path)
    expect(await store.get('k')).toBeUndefined()
    await store.set('k', 'v')
    expect(await new FileSecretStore(path).get('k')).toBe('v')
    expect((await readdir(d)).some((f) => f.startsWith('secrets.json.unreadable-'))).toBe(true)
  })

  it('loses no write when many land at once on a fresh store', async () => {
    const path = join(await dir(), 'secrets.json')
    const store = new FileSecretStore(path)
    await Promise.all(Array.from({ length: 20 }, (_, i) => store.set(`k${i}`, `v${i}`)))
    const again = new FileSecretStore(path)
    expect((await again.keys()).sort()).toEqual(
      Array.from({ length: 20 }, (_, i) => `k${i}`).sort(),
    )
  })
})
