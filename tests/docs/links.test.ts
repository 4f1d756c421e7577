// The repository is self-contained: every relative link in its Markdown resolves to a file in
// it, nothing points at a design kept elsewhere, and every "DESIGN §N" a comment cites is a
// section of docs/design.md.
import { readdirSync, readFileSync, existsSync } from 'node:fs'
import path from 'node:path'
import { describe, expect, it } from 'vitest'

const root = path.resolve(import.meta.dirname, '../..')
const SKIP = new Set(['node_modules', 'dist', 'release', 'artifacts', '.git', '.tools', 'coverage'])
const TEXT = /\.(md|ts|tsx|js|cjs|mjs|json|ya?ml|sh|html|css)$/

function walk(dir: string, out: string[] = []): string[] {
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    if (SKIP.has(e.name) || e.name.startsWith('.meshlet')) continue
    const p = path.join(dir, e.name)
    if (e.isDirectory()) walk(p, out)
    else if (TEXT.test(e.name) || e.name === 'dev') out.push(p)
  }
  return out
}

const files = walk(root)
const rel = (p: string) => path.relative(root, p).split(path.sep).join('/')
const markdown = files.filter((f) => f.endsWith('.md'))

/** Markdown link targets: [text](target) and <a href="target">, code spans removed. */
function linkTargets(text: string): string[] {
  const prose = text.replace(/```[\s\S]*?```/g, '').replace(/`[^`\n]*`/g, '')
  const out: string[] = []
  for (const m of prose.matchAll(/\]\(([^)\s]+)(?:\s+"[^"]*")?\)/g)) out.push(m[1]!)
  for (const m of prose.matchAll(/href="([^"]+)"/g)) out.push(m[1]!)
  return out
}

describe('the repository is self-contained', () => {
  it('finds the docs', () => {
    expect(markdown.map(rel)).toEqual(
      expect.arrayContaining(['README.md', 'CONTRIBUTING.md', 'docs/README.md']),
    )
  })

  it.each(markdown.map((f) => [rel(f), f]))('%s links only to files in the repository', (_, f) => {
    const broken: string[] = []
    for (const target of linkTargets(readFileSync(f, 'utf8'))) {
      if (/^(https?:|mailto:|#)/.test(target)) continue
      const file = decodeURIComponent(target.split('#')[0]!)
      const resolved = path.resolve(path.dirname(f), file)
      const inside = !path.relative(root, resolved).startsWith('..')
      if (!inside || !existsSync(resolved)) broken.push(target)
    }
    expect(broken).toEqual([])
  })

  it('names no design or path outside the repository', () => {
    const outside =
      /\.\.\/shared\/|shared\/(DESIGN|STYLE)\.md|\/work\/(shared|main|wt)\b|seeds\/000_/
    const offenders = files
      .filter((f) => !f.endsWith('links.test.ts'))
      .filter((f) => outside.test(readFileSync(f, 'utf8')))
      .map(rel)
    expect(offenders).toEqual([])
  })

  it('cites only sections that docs/design.md has', () => {
    const design = readFileSync(path.join(root, 'docs/design.md'), 'utf8')
    const sections = new Set([...design.matchAll(/^## (\d+)\./gm)].map((m) => m[1]))
    const missing: string[] = []
    for (const f of files) {
      for (const m of readFileSync(f, 'utf8').matchAll(/DESIGN §(\d+)/g)) {
        if (!sections.has(m[1])) missing.push(`${rel(f)}: DESIGN §${m[1]}`)
      }
    }
    expect(missing).toEqual([])
  })
})
