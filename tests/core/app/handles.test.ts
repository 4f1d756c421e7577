// When the dashboard shows a handle: resolved once per DID in the background, the DID meanwhile,
// and a handle the user typed at once.
import { describe, expect, it } from 'vitest'
import { HandleBook } from '../../../core/app/handles.js'

function book(answers: Record<string, string | Error | undefined>) {
  const asked: string[] = []
  let changes = 0
  const handles = new HandleBook({
    resolve: async (did) => {
      asked.push(did)
      const a = answers[did]
      if (a instanceof Error) throw a
      return a ? { handle: a } : {}
    },
    onChange: () => changes++,
  })
  return { handles, asked, changes: () => changes }
}

const settle = () => new Promise((r) => setImmediate(r))

describe('HandleBook', () => {
  it('shows the DID until the handle arrives, then the handle; asks once per DID', async () => {
    const { handles, asked, changes } = book({ 'did:plc:bob': 'bob.test' })
    expect(handles.label('did:plc:bob')).toBe('did:plc:bob')
    expect(handles.named('did:plc:bob')).toEqual({})
    await settle()
    expect(changes()).toBe(1)
    expect(handles.label('did:plc:bob')).toBe('bob.test')
    expect(handles.named('did:plc:bob')).toEqual({ handle: 'bob.test' })
    handles.handleOf('did:plc:bob')
    expect(asked).toEqual(['did:plc:bob'])
  })

  it('keeps the DID for one that has no handle or does not resolve, and does not ask again', async () => {
    const { handles, asked, changes } = book({ 'did:plc:x': new Error('gone') })
    handles.label('did:plc:x')
    handles.label('did:plc:none')
    await settle()
    expect(handles.label('did:plc:x')).toBe('did:plc:x')
    expect(handles.label('did:plc:none')).toBe('did:plc:none')
    expect(asked).toEqual(['did:plc:x', 'did:plc:none'])
    expect(changes()).toBe(0)
  })

  it('knows a handle the user typed at once, and `known` never asks', async () => {
    const { handles, asked } = book({ 'did:plc:carol': 'carol.resolved' })
    expect(handles.known('did:plc:carol')).toBeUndefined()
    handles.learn('did:plc:carol', 'carol.typed')
    expect(handles.label('did:plc:carol')).toBe('carol.typed')
    expect(handles.known('did:plc:carol')).toBe('carol.typed')
    expect(asked).toEqual([])
    // A handle known already is not replaced by one typed later.
    handles.learn('did:plc:carol', 'other.typed')
    expect(handles.known('did:plc:carol')).toBe('carol.typed')
  })
})
