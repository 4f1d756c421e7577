import { describe, expect, it } from 'vitest'
import { ApiError } from '../../core/api.js'
import { openingSignInPages } from '../../electron/sign-in.js'
import { FakeHost, RecordingLogger } from './_host.js'

function setup(url: string, opts: { allowLoopback?: boolean; openFails?: boolean } = {}) {
  const host = new FakeHost()
    .on('auth.signIn', () => ({ url }))
    .on('auth.cancelSignIn', () => undefined)
    .on('lending.set', () => undefined)
  const opened: string[] = []
  const log = new RecordingLogger()
  const ui = openingSignInPages(host, {
    policy: { allowLoopback: opts.allowLoopback ?? false },
    open: async (u) => {
      if (opts.openFails) throw new Error('no browser')
      opened.push(u)
    },
    log,
  })
  return { host, ui, opened, log }
}

const signIn = { role: 'owner', handle: 'alice.test' } as const

describe('openingSignInPages', () => {
  it('opens the sign-in page in the browser and returns it', async () => {
    const url = 'https://bsky.social/oauth/authorize?client_id=x&request_uri=urn%3Aietf%3A1'
    const { ui, opened } = setup(url)
    expect(await ui.call('auth.signIn', signIn)).toEqual({ url })
    expect(opened).toEqual([url])
  })

  it('opens the parsed URL, not the raw string', async () => {
    const { ui, opened } = setup('HTTPS://PDS.Example.ORG/oauth/authorize')
    await ui.call('auth.signIn', signIn)
    expect(opened).toEqual(['https://pds.example.org/oauth/authorize'])
  })

  it.each([
    'http://pds.example.org/oauth/authorize',
    'http://127.0.0.1:2583/oauth/authorize',
    'https://bsky.social@evil.com/oauth',
    'javascript:alert(1)',
    'file:///etc/passwd',
  ])('refuses to open %j, and cancels the sign-in', async (url) => {
    const { ui, host, opened, log } = setup(url)
    const err = await ui.call('auth.signIn', signIn).catch((e: unknown) => e)
    expect(err).toBeInstanceOf(ApiError)
    expect((err as ApiError).code).toBe('unavailable')
    expect(opened).toEqual([])
    expect(host.calls.map((c) => c.method)).toEqual(['auth.signIn', 'auth.cancelSignIn'])
    expect(log.events()).toEqual(['signin.untrusted-url'])
  })

  it('opens loopback pages on a local network', async () => {
    const url = 'http://127.0.0.1:2583/oauth/authorize?request_uri=x'
    const { ui, opened } = setup(url, { allowLoopback: true })
    await ui.call('auth.signIn', signIn)
    expect(opened).toEqual([url])
  })

  it('keeps the sign-in pending when no browser opens', async () => {
    const url = 'https://bsky.social/oauth/authorize'
    const { ui, host, log } = setup(url, { openFails: true })
    expect(await ui.call('auth.signIn', signIn)).toEqual({ url })
    expect(host.calls.map((c) => c.method)).toEqual(['auth.signIn'])
    expect(log.events()).toEqual(['signin.open-failed'])
  })

  it('passes every other call and subscription through untouched', async () => {
    const { ui, host, opened } = setup('https://bsky.social/')
    await ui.call('lending.set', { lending: false })
    expect(host.calls).toEqual([{ method: 'lending.set', args: { lending: false } }])
    expect(opened).toEqual([])
    const got: unknown[] = []
    const off = ui.subscribe('signIn', (p) => got.push(p))
    host.emit('signIn', { role: 'owner', ok: true })
    off()
    host.emit('signIn', { role: 'owner', ok: true })
    expect(got).toEqual([{ role: 'owner', ok: true }])
  })
})
