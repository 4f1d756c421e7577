// Splits a command line into arguments the way a POSIX shell would for a simple command: spaces
// separate words, single quotes keep everything literally, double quotes keep spaces and allow
// \" \\ \$ \` escapes, and a backslash outside quotes escapes the next character. No expansion —
// the container gets exactly the words the user sees.

export type ShellWords = { ok: true; words: string[] } | { ok: false; error: string }

export function splitShellWords(line: string): ShellWords {
  const words: string[] = []
  let word = ''
  let inWord = false
  let i = 0
  while (i < line.length) {
    const c = line[i] as string
    if (c === "'") {
      const end = line.indexOf("'", i + 1)
      if (end < 0) return { ok: false, error: "A single quote (') is not closed." }
      word += line.slice(i + 1, end)
      inWord = true
      i = end + 1
    } else if (c === '"') {
      i++
      let closed = false
      while (i < line.length) {
        const d = line[i] as string
        if (d === '"') {
          closed = true
          i++
          break
        }
        if (d === '\\' && i + 1 < line.length && '"\\$`\n'.includes(line[i + 1] as string)) {
          word += line[i + 1]
          i += 2
        } else {
          word += d
          i++
        }
      }
      if (!closed) return { ok: false, error: 'A double quote (") is not closed.' }
      inWord = true
    } else if (c === '\\') {
      if (i + 1 >= line.length)
        return { ok: false, error: 'The command ends with a lone backslash.' }
      word += line[i + 1]
      inWord = true
      i += 2
    } else if (/\s/.test(c)) {
      if (inWord) words.push(word)
      word = ''
      inWord = false
      i++
    } else {
      word += c
      inWord = true
      i++
    }
  }
  if (inWord) words.push(word)
  return { ok: true, words }
}

/** The inverse, for showing a command back: quotes only the words that need it. */
export function joinShellWords(words: readonly string[]): string {
  return words
    .map((w) =>
      w !== '' && /^[A-Za-z0-9_@%+=:,./-]+$/.test(w) ? w : `'${w.replaceAll("'", `'\\''`)}'`,
    )
    .join(' ')
}
