// Generates core/lexicon/generated from lexicons/ with @atproto/lex. `--check` fails when the
// committed output is stale, so CI catches a lexicon edited without regenerating.
import { execFileSync } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

const check = process.argv.includes('--check')
const out = check ? mkdtempSync(join(tmpdir(), 'lex-')) : 'core/lexicon/generated'
const args = ['lex', 'build', '--lexicons', './lexicons', '--out', out, '--clear', '--index-file']
execFileSync('npx', ['--no-install', ...args], { stdio: 'inherit' })
if (check) {
  try {
    execFileSync('diff', ['-r', out, 'core/lexicon/generated'], { stdio: 'inherit' })
  } catch {
    console.error('core/lexicon/generated is stale: run `npm run lex` and commit the result')
    process.exitCode = 1
  } finally {
    rmSync(out, { recursive: true, force: true })
  }
}
