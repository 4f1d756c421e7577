// Sessions rest on disk only when the OS keychain seals them. Electron's safeStorage can report
// itself available on Linux while using its `basic_text` backend, whose key is a constant in
// Chromium's source: that is plain text with extra steps, so it counts as unavailable here. Then
// the app keeps sessions in memory only (signing in works until quit) and says so, instead of
// writing tokens anyone who can read the profile could use.
import type { SafeStorage } from 'electron'
import type { Sealer } from '../core/secrets.js'

export type KeychainStatus = { ok: true } | { ok: false; reason: string }

export interface KeychainFacts {
  platform: string
  encryptionAvailable: boolean
  /** safeStorage.getSelectedStorageBackend(), Linux only. */
  linuxBackend?: string
}

export function keychainStatus(facts: KeychainFacts): KeychainStatus {
  if (facts.platform === 'linux') {
    if (facts.linuxBackend === 'basic_text' || facts.linuxBackend === 'unknown') {
      return {
        ok: false,
        reason:
          'No system keychain was found (GNOME Keyring, KWallet or another Secret Service), ' +
          'so sessions are kept in memory only and you will need to sign in again after a restart.',
      }
    }
  }
  if (!facts.encryptionAvailable) {
    return {
      ok: false,
      reason:
        'The system keychain is not available, so sessions are kept in memory only and you ' +
        'will need to sign in again after a restart.',
    }
  }
  return { ok: true }
}

/** Notice for the tray when sessions are not kept. */
export const NO_KEYCHAIN_NOTICE = 'Sessions are not saved: no system keychain'

export function safeStorageSealer(
  storage: Pick<SafeStorage, 'encryptString' | 'decryptString'>,
): Sealer {
  // The synchronous calls, because Sealer is synchronous; safeStorage's async pair is the
  // newer API and needs an async Sealer in core/secrets.ts to use.
  return {
    seal: (plain) => storage.encryptString(plain),
    open: (sealed) => storage.decryptString(sealed),
  }
}
