// The workload form's command field is split like a POSIX shell splits a simple command, and the
// words are shown back joined: what the user types is exactly what the container gets.
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { joinShellWords, splitShellWords } from '../../../renderer/src/lib/shell-words.js'

const words = (line: string) => {
  const split = splitShellWords(line)
  if (!split.ok) throw new Error(`expected "${line}" to split, got: ${split.error}`)
  return split.words
}

describe('splitShellWords', () => {
  it.each<[string, string[]]>([
    ['', []],
    ['   ', []],
    ['echo', ['echo']],
    ['  sleep   60  ', ['sleep', '60']],
    ['a\tb\nc', ['a', 'b', 'c']],
    [`sh -c 'echo hi'`, ['sh', '-c', 'echo hi']],
    [`sh -c "echo hi"`, ['sh', '-c', 'echo hi']],
    [`echo '$HOME' "$HOME" *`, ['echo', '$HOME', '$HOME', '*']],
    [`a'b'"c"d`, ['abcd']],
    [`'' ""`, ['', '']],
    [`x ''`, ['x', '']],
    [`a\\ b`, ['a b']],
    [`\\'quoted\\'`, [`'quoted'`]],
    [`'back\\slash'`, ['back\\slash']],
    [`'it'\\''s'`, [`it's`]],
    [`"say \\"hi\\""`, ['say "hi"']],
    [`"\\\\ \\$ \\\` \\n"`, ['\\ $ ` \\n']],
    [`"it's"`, [`it's`]],
    [`'a "b" c'`, ['a "b" c']],
  ])('%j → %j', (line, expected) => {
    expect(words(line)).toEqual(expected)
  })

  it.each([
    [`echo 'hi`, "A single quote (') is not closed."],
    [`'`, "A single quote (') is not closed."],
    [`echo "hi`, 'A double quote (") is not closed.'],
    [`"hi\\"`, 'A double quote (") is not closed.'],
    [`echo hi\\`, 'The command ends with a lone backslash.'],
  ])('refuses %j: %s', (line, error) => {
    expect(splitShellWords(line)).toEqual({ ok: false, error })
  })

  it('never throws, and answers with words or one of its three errors', () => {
    const errors = [
      "A single quote (') is not closed.",
      'A double quote (") is not closed.',
      'The command ends with a lone backslash.',
    ]
    fc.assert(
      fc.property(fc.string({ unit: fc.constantFrom(...` ab'"\\$\`\t`) }), (line) => {
        const split = splitShellWords(line)
        if (!split.ok) expect(errors).toContain(split.error)
      }),
    )
  })

  it('splits a line without quotes or backslashes at whitespace, like String.split', () => {
    fc.assert(
      fc.property(fc.string({ unit: fc.constantFrom('a', 'b', '-', '=', ' ', '\t') }), (line) => {
        expect(words(line)).toEqual(line.split(/\s+/).filter((w) => w !== ''))
      }),
    )
  })
})

describe('joinShellWords', () => {
  it('leaves plain words alone and quotes the rest', () => {
    expect(joinShellWords(['sleep', '60'])).toBe('sleep 60')
    expect(joinShellWords(['--port=8080', 'user@host:/a,b.c%d+e'])).toBe(
      '--port=8080 user@host:/a,b.c%d+e',
    )
    expect(joinShellWords(['sh', '-c', 'echo hi'])).toBe(`sh -c 'echo hi'`)
    expect(joinShellWords(['', '*', '$HOME'])).toBe(`'' '*' '$HOME'`)
    expect(joinShellWords([`it's`])).toBe(`'it'\\''s'`)
    expect(joinShellWords([])).toBe('')
  })

  it('round-trips: splitting the joined words gives back the same words', () => {
    const anyWord = fc.string({ unit: 'binary', maxLength: 20 })
    const shellyWord = fc.string({
      unit: fc.constantFrom(...`ab '"\\$\`\n\t*;|&#~`),
      maxLength: 12,
    })
    fc.assert(
      fc.property(fc.array(fc.oneof(anyWord, shellyWord), { maxLength: 8 }), (ws) => {
        expect(splitShellWords(joinShellWords(ws))).toEqual({ ok: true, words: ws })
      }),
      { numRuns: 500 },
    )
  })

  it('round-trips the other way for lines it would write itself', () => {
    fc.assert(
      fc.property(fc.array(fc.string({ maxLength: 10 }), { maxLength: 6 }), (ws) => {
        const line = joinShellWords(ws)
        expect(joinShellWords(words(line))).toBe(line)
      }),
    )
  })
})
