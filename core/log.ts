// Structured logs: one JSON object per line, so a daemon's output can be read by people and
// by tools alike. Secrets never reach a logger: callers pass DIDs, URIs and reasons only.

export type Level = 'debug' | 'info' | 'warn' | 'error'

export interface Logger {
  log(level: Level, event: string, fields?: Record<string, unknown>): void
}

const order: Record<Level, number> = { debug: 10, info: 20, warn: 30, error: 40 }

export function jsonLogger(
  write: (line: string) => void = (line) => process.stdout.write(line + '\n'),
  opts: { level?: Level; base?: Record<string, unknown> } = {},
): Logger {
  const min = order[opts.level ?? 'info']
  return {
    log(level, event, fields) {
      if (order[level] < min) return
      write(
        JSON.stringify(
          { t: new Date().toISOString(), level, event, ...opts.base, ...fields },
          (_k, v: unknown) => (v instanceof Error ? errorFields(v) : v),
        ),
      )
    },
  }
}

export const silentLogger: Logger = { log: () => undefined }

/** An error with its chain of causes, for a log line. */
export function errorFields(err: Error): Record<string, unknown> {
  const out: Record<string, unknown> = { name: err.name, message: err.message }
  if (err.cause instanceof Error) out.cause = errorFields(err.cause)
  else if (err.cause !== undefined) out.cause = String(err.cause)
  return out
}
