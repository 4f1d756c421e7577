import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { describe, expect, it } from 'vitest'
import { FileSecretStore } from '../../core/secrets.js'
import { keychainStatus, safeStorageSealer } from '../../electron/keychain.js'

describe('keychainStatus', () => {
  it.each([
    ['darwin', true, undefined, true],
    ['darwin', false, undefined, false],
    ['win32', true, undefined, true],
    ['win32', false, undefined, false],
    ['linux', true, 'gnome_libsecret', true],
    ['linux', true, 'kwallet5', true],
    ['linux', true, 'kwallet6', true],
    // Available, but sealed with a key that is a constant in Chromium: plain text in effect.
    ['linux', true, 'basic_text', false],
    ['linux', true, 'unknown', false],
    ['linux', false, 'gnome_libsecret', false],
  ])('%s, available=%s, backend=%s → ok=%s', (platform, encryptionAvailable, linuxBackend, ok) => {
    const status = keychainStatus({ platform, encryptionAvailable, linuxBackend })
    expect(status.ok).toBe(ok)
    if (!status.ok) expect(status.reason).toMatch(/in memory only/)
  })
})

describe('safeStorageSealer', () => {
  // A stand-in for safeStorage that really transforms the bytes, so the test can tell sealed
  // from plain on disk.
  const xor = (b: Buffer) => Buffer.from(b.map((x) => x ^ 0x5a))
  const storage = {
    encryptString: (plain: string) => xor(Buffer.from(`sealed:${plain}`, 'utf8')),
    decryptString: (sealed: Buffer) => {
      const text = xor(sealed).toString('utf8')
      if (!text.startsWith('sealed:')) throw new Error('Error while decrypting the ciphertext')
      return text.slice('sealed:'.length)
    },
  }

  it('seals what the secret store writes and opens what it reads', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'meshlet-keychain-'))
    try {
      const file = path.join(dir, 'secrets.json')
      const store = new FileSecretStore(file, safeStorageSealer(storage))
      await store.set('session:did:plc:alice', '{"refresh":"r-token"}')
      // The store base64-encodes values either way; what matters is what that encodes.
      const onDisk = JSON.parse(await readFile(file, 'utf8')) as Record<string, string>
      const stored = Buffer.from(onDisk['session:did:plc:alice'] ?? '', 'base64')
      expect(stored.length).toBeGreaterThan(0)
      expect(stored.toString('utf8')).not.toContain('r-token')
      const reopened = new FileSecretStore(file, safeStorageSealer(storage))
      expect(await reopened.get('session:did:plc:alice')).toBe('{"refresh":"r-token"}')
    } finally {
      await rm(dir, { recursive: true, force: true })
    }
  })
})
