// Flag parsing for the `meshlet` command: node's parseArgs in strict mode, so an unknown or
// malformed flag is an error (exit code 2) and never silently ignored.
import { parseArgs, type ParseArgsConfig } from 'node:util'

export class UsageError extends Error {
  constructor(message: string) {
    super(message)
    this.name = 'UsageError'
  }
}

export type Options = NonNullable<ParseArgsConfig['options']>

export function parse<O extends Options>(argv: string[], options: O, positionals = 0) {
  let parsed
  try {
    parsed = parseArgs({ args: argv, options, strict: true, allowPositionals: true })
  } catch (err) {
    throw new UsageError((err as Error).message)
  }
  if (parsed.positionals.length > positionals && !argv.includes('--')) {
    throw new UsageError(`unexpected argument: ${parsed.positionals[positionals]}`)
  }
  return parsed
}

export function required(values: Record<string, unknown>, ...names: string[]): void {
  const missing = names.filter((n) => values[n] === undefined || values[n] === '')
  if (missing.length > 0) {
    throw new UsageError(`missing ${missing.map((n) => `--${n}`).join(', ')}`)
  }
}

/** A non-negative integer flag, within bounds. */
export function intFlag(
  values: Record<string, unknown>,
  name: string,
  fallback: number,
  min: number,
  max: number,
): number {
  const raw = values[name]
  if (raw === undefined) return fallback
  const n = Number(raw)
  if (typeof raw !== 'string' || !/^\d+$/.test(raw) || !Number.isSafeInteger(n)) {
    throw new UsageError(`--${name} must be a whole number, got ${String(raw)}`)
  }
  if (n < min || n > max) throw new UsageError(`--${name} must be between ${min} and ${max}`)
  return n
}

export function secretFromEnv(name: string, env: NodeJS.ProcessEnv): string {
  const v = env[name]
  if (!v) throw new UsageError(`set ${name} in the environment (an app password)`)
  return v
}

export function list(value: unknown): string[] {
  if (typeof value !== 'string') return []
  return value
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean)
}
