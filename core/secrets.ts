// Where sessions and tokens rest: a small key → value file. The desktop shell seals every value
// with the OS keychain (Electron's safeStorage) before it reaches the disk; the headless daemon,
// which has no keychain, writes the file readable by its user only. Values never reach a log.
import { readFile } from 'node:fs/promises'
import { setAside, writeFileAtomic } from './files.js'

export interface SecretStore {
  get(key: string): Promise<string | undefined>
  set(key: string, value: string): Promise<void>
  delete(key: string): Promise<void>
  /** Keys starting with `prefix`. */
  keys(prefix?: string): Promise<string[]>
}

/** Seals values at rest; Electron's safeStorage in the desktop app. */
export interface Sealer {
  seal(plain: string): Buffer
  open(sealed: Buffer): string
}

export class SecretStoreError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options)
    this.name = 'SecretStoreError'
  }
}

/** A JSON file of base64 values (sealed when a Sealer is given), mode 0600, replaced atomically. */
export class FileSecretStore implements SecretStore {
  private cache?: Promise<Map<string, string>>
  private writing: Promise<void> = Promise.resolve()

  constructor(
    readonly path: string,
    private readonly sealer?: Sealer,
  ) {}

  /** One read, shared by every caller: two first calls at once must not build two maps. */
  private load(): Promise<Map<string, string>> {
    this.cache ??= this.read()
    return this.cache
  }

  private async read(): Promise<Map<string, string>> {
    let raw: string
    try {
      raw = await readFile(this.path, 'utf8')
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') {
        throw new SecretStoreError(`cannot read ${this.path}`, { cause: err })
      }
      raw = '{}'
    }
    let parsed: unknown
    try {
      parsed = JSON.parse(raw)
    } catch {
      // Damaged: set aside (not deleted, not overwritten unseen) and start empty, so signing
      // in again works.
      await setAside(this.path)
      parsed = {}
    }
    const map = new Map<string, string>()
    if (typeof parsed === 'object' && parsed !== null) {
      for (const [k, v] of Object.entries(parsed)) if (typeof v === 'string') map.set(k, v)
    }
    return map
  }

  async get(key: string): Promise<string | undefined> {
    const stored = (await this.load()).get(key)
    if (stored === undefined) return undefined
    const bytes = Buffer.from(stored, 'base64')
    try {
      return this.sealer ? this.sealer.open(bytes) : bytes.toString('utf8')
    } catch {
      // Sealed by another keychain (a copied profile, a changed keyring): it can never be read
      // here, so it is dropped and the account signs in again.
      await this.delete(key)
      return undefined
    }
  }

  async set(key: string, value: string): Promise<void> {
    const map = await this.load()
    const bytes = this.sealer ? this.sealer.seal(value) : Buffer.from(value, 'utf8')
    map.set(key, bytes.toString('base64'))
    await this.flush()
  }

  async delete(key: string): Promise<void> {
    const map = await this.load()
    if (map.delete(key)) await this.flush()
  }

  async keys(prefix = ''): Promise<string[]> {
    return [...(await this.load()).keys()].filter((k) => k.startsWith(prefix))
  }

  private async flush(): Promise<void> {
    const snapshot = JSON.stringify(Object.fromEntries(await this.load()))
    const next = this.writing.then(async () => {
      await writeFileAtomic(this.path, snapshot, { mode: 0o600 })
    })
    // One failed write must not fail every later one.
    this.writing = next.catch(() => undefined)
    return next.catch((err: unknown) => {
      throw new SecretStoreError(`cannot write ${this.path}`, { cause: err })
    })
  }
}

/** Kept in memory only: tests, and a daemon told not to keep sessions. */
export class MemorySecretStore implements SecretStore {
  private readonly map = new Map<string, string>()
  async get(key: string) {
    return this.map.get(key)
  }
  async set(key: string, value: string) {
    this.map.set(key, value)
  }
  async delete(key: string) {
    this.map.delete(key)
  }
  async keys(prefix = '') {
    return [...this.map.keys()].filter((k) => k.startsWith(prefix))
  }
}
