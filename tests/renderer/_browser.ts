// The browser globals the renderer's transports use — window (location, history,
// sessionStorage, timers, events) and document (visibility) — as small working
// implementations, so token.ts and ws-client.ts run under Node against the real bridge. They
// stand in for the browser, not for any part of ours. One addition: the window keeps the
// timers it has running, so a test can see whether a retry is scheduled.
import { vi } from 'vitest'

/** sessionStorage over a Map, with the Storage interface's string coercions. */
export class MemoryStorage {
  private readonly items = new Map<string, string>()

  get length(): number {
    return this.items.size
  }

  key(index: number): string | null {
    return [...this.items.keys()][index] ?? null
  }

  getItem(key: string): string | null {
    return this.items.get(String(key)) ?? null
  }

  setItem(key: string, value: string): void {
    this.items.set(String(key), String(value))
  }

  removeItem(key: string): void {
    this.items.delete(String(key))
  }

  clear(): void {
    this.items.clear()
  }
}

export class BrowserHistory {
  state: unknown = null
  readonly entries: string[] = []

  constructor(private readonly win: BrowserWindow) {
    this.entries.push(win.location.href)
  }

  /** Like the browser's: same-origin URLs only, the entry is replaced, nothing is loaded. */
  replaceState(state: unknown, _unused: string, url?: string | URL | null): void {
    if (url !== undefined && url !== null) {
      const next = new URL(url, this.win.location.href)
      if (next.origin !== this.win.location.origin) {
        throw new DOMException('replaceState to another origin', 'SecurityError')
      }
      this.win.location = next
      this.entries[this.entries.length - 1] = next.href
    }
    this.state = structuredClone(state)
  }
}

export class BrowserWindow extends EventTarget {
  location: URL
  readonly history: BrowserHistory
  /** As when the user has blocked site data: touching sessionStorage throws. */
  storageBlocked = false
  readonly timers = new Set<ReturnType<typeof setTimeout>>()
  private readonly storage: MemoryStorage

  constructor(href: string, storage = new MemoryStorage()) {
    super()
    this.location = new URL(href)
    this.history = new BrowserHistory(this)
    this.storage = storage
  }

  get sessionStorage(): MemoryStorage {
    if (this.storageBlocked) {
      throw new DOMException('Access is denied for this document.', 'SecurityError')
    }
    return this.storage
  }

  setTimeout(fn: () => void, ms?: number): ReturnType<typeof setTimeout> {
    const t = setTimeout(() => {
      this.timers.delete(t)
      fn()
    }, ms)
    this.timers.add(t)
    return t
  }

  clearTimeout(t: ReturnType<typeof setTimeout> | undefined): void {
    if (t === undefined) return
    clearTimeout(t)
    this.timers.delete(t)
  }
}

export class BrowserDocument extends EventTarget {
  visibilityState: 'visible' | 'hidden' = 'visible'

  /** What the browser does when the tab is hidden or shown. */
  setVisibility(state: 'visible' | 'hidden'): void {
    this.visibilityState = state
    this.dispatchEvent(new Event('visibilitychange'))
  }
}

export interface Browser {
  window: BrowserWindow
  document: BrowserDocument
}

/** Installs a fresh window and document as globals; undo with vi.unstubAllGlobals(). A tab
 *  reloaded keeps its sessionStorage: pass the previous window's to model that. */
export function openTab(href: string, storage?: MemoryStorage): Browser {
  const window = new BrowserWindow(href, storage)
  const document = new BrowserDocument()
  vi.stubGlobal('window', window)
  vi.stubGlobal('document', document)
  return { window, document }
}
