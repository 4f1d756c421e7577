// Reading back what a guest printed, bounded. Docker keeps each guest's output in its json-file
// log (capped on disk by container-config's LogConfig); here we only bound what one read returns,
// so neither a chatty guest nor a caller asking for "everything" can make a reply large.

/** The most lines one read returns. */
export const MAX_LOG_LINES = 1000
/** The most bytes of text one read returns per replica; older lines beyond it are dropped. */
export const MAX_LOG_BYTES = 64 * 1024
/** A longer line is cut here (and marked), so one endless line cannot fill a reply alone. */
export const MAX_LOG_LINE_CHARS = 4096

export interface LogLine {
  /** When Docker received the line (RFC 3339). */
  at: string
  stream: 'stdout' | 'stderr'
  text: string
}

export interface LogTail {
  lines: LogLine[]
  /** Older output exists beyond what was returned (by count or by size). */
  truncated: boolean
}

/** One chunk of Docker's multiplexed log stream, as demuxed: one line with its timestamp. */
export interface LogFrame {
  stream: 'stdout' | 'stderr'
  data: string
}

/**
 * Turns demuxed frames of `docker logs --timestamps` into lines, newest kept: at most `limit`
 * lines and MAX_LOG_BYTES of text, each line cut at MAX_LOG_LINE_CHARS. `asked` is how many
 * lines were asked of Docker; getting that many means older ones may exist. Pure.
 */
export function tailLines(frames: LogFrame[], limit: number, asked = limit): LogTail {
  const all: LogLine[] = []
  for (const f of frames) {
    // Docker splits long lines into several frames (16 KiB each); each frame starts with its
    // timestamp, so each becomes a line of its own.
    for (const raw of f.data.split('\n')) {
      if (raw.length === 0) continue
      const space = raw.indexOf(' ')
      const stamp = space > 0 ? raw.slice(0, space) : ''
      const at = Number.isNaN(Date.parse(stamp)) ? undefined : new Date(stamp).toISOString()
      let text = at ? raw.slice(space + 1) : raw
      if (text.endsWith('\r')) text = text.slice(0, -1)
      if (text.length > MAX_LOG_LINE_CHARS) text = text.slice(0, MAX_LOG_LINE_CHARS - 1) + '…'
      all.push({ at: at ?? new Date(0).toISOString(), stream: f.stream, text })
    }
  }
  let truncated = all.length >= asked
  const keep = Math.min(limit, MAX_LOG_LINES)
  let lines = all.length > keep ? all.slice(all.length - keep) : all
  if (lines.length < all.length) truncated = true
  let bytes = 0
  let first = lines.length
  while (first > 0) {
    const size = Buffer.byteLength(lines[first - 1]!.text) + 1
    if (bytes + size > MAX_LOG_BYTES) break
    bytes += size
    first--
  }
  if (first > 0) {
    truncated = true
    lines = lines.slice(first)
  }
  return { lines, truncated }
}
