// The dashboard link carries the token in the fragment (#token=…). The page must take it from
// there, keep it for reloads of the same tab, and leave no trace of it in the address bar.
import fc from 'fast-check'
import { afterEach, describe, expect, it, vi } from 'vitest'
import { takeToken } from '../../../renderer/src/api/token.js'
import { MemoryStorage, openTab } from '../_browser.js'

const KEY = 'meshlet.token'
const TOKEN = 'Zr0_hY-3kq9sT2xW8vB5nC7mL1pD4fG6jK0aE9uI2oQ'

afterEach(() => {
  vi.unstubAllGlobals()
})

describe('takeToken', () => {
  it('takes the token from the link, keeps it for the tab, and clears it from the address bar', () => {
    const { window } = openTab(`http://127.0.0.1:4321/#token=${TOKEN}`)
    expect(takeToken()).toBe(TOKEN)
    expect(window.sessionStorage.getItem(KEY)).toBe(TOKEN)
    expect(window.location.href).toBe('http://127.0.0.1:4321/')
    expect(window.history.entries).toEqual(['http://127.0.0.1:4321/'])
  })

  it('keeps the rest of the address: path, query, other fragment parameters, history state', () => {
    const { window } = openTab(`http://localhost:8080/app/?lang=en#a=1&token=${TOKEN}&b=two`)
    window.history.state = { section: 'cluster' }
    expect(takeToken()).toBe(TOKEN)
    expect(window.location.href).toBe('http://localhost:8080/app/?lang=en#a=1&b=two')
    expect(window.history.state).toEqual({ section: 'cluster' })
  })

  it('finds the token again after a reload of the same tab', () => {
    const first = openTab(`http://127.0.0.1:4321/#token=${TOKEN}`)
    takeToken()
    const reloaded = openTab(first.window.location.href, first.window.sessionStorage)
    expect(takeToken()).toBe(TOKEN)
    expect(reloaded.window.location.href).toBe('http://127.0.0.1:4321/')
  })

  it('has no token in a tab opened without the link', () => {
    const { window } = openTab('http://127.0.0.1:4321/')
    expect(takeToken()).toBeUndefined()
    expect(window.sessionStorage.length).toBe(0)
    expect(window.location.href).toBe('http://127.0.0.1:4321/')
  })

  it('lets a newer link replace the token the tab kept', () => {
    const storage = new MemoryStorage()
    storage.setItem(KEY, 'old-token')
    const { window } = openTab(`http://127.0.0.1:4321/#token=${TOKEN}`, storage)
    expect(takeToken()).toBe(TOKEN)
    expect(window.sessionStorage.getItem(KEY)).toBe(TOKEN)
  })

  it('ignores an empty token in the link and keeps what the tab had', () => {
    const storage = new MemoryStorage()
    storage.setItem(KEY, TOKEN)
    openTab('http://127.0.0.1:4321/#token=', storage)
    expect(takeToken()).toBe(TOKEN)
  })

  it('still works for this page view when the browser blocks storage', () => {
    const { window } = openTab(`http://127.0.0.1:4321/#token=${TOKEN}`)
    window.storageBlocked = true
    expect(takeToken()).toBe(TOKEN)
    expect(window.location.href).toBe('http://127.0.0.1:4321/')
    const reloaded = openTab(window.location.href)
    reloaded.window.storageBlocked = true
    expect(takeToken()).toBeUndefined()
  })

  it('takes any base64url or hex token whole, wherever it sits in the fragment', () => {
    const token = fc.stringMatching(/^[A-Za-z0-9_-]{1,64}$/)
    const param = fc.tuple(fc.stringMatching(/^[a-z]{1,5}$/), fc.stringMatching(/^[a-z0-9]{0,5}$/))
    fc.assert(
      fc.property(token, fc.array(param, { maxLength: 3 }), fc.nat(3), (t, others, at) => {
        const rest = others.filter(([k]) => k !== 'token')
        const parts = rest.map(([k, v]) => `${k}=${v}`)
        parts.splice(Math.min(at, parts.length), 0, `token=${t}`)
        const { window } = openTab(`http://127.0.0.1:4321/p?q=1#${parts.join('&')}`)
        expect(takeToken()).toBe(t)
        expect(window.sessionStorage.getItem(KEY)).toBe(t)
        expect(window.location.href).not.toContain('token')
        const kept = rest.map(([k, v]) => `${k}=${v}`).join('&')
        expect(window.location.href).toBe(`http://127.0.0.1:4321/p?q=1${kept ? `#${kept}` : ''}`)
      }),
    )
  })
})
