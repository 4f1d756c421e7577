// Small files the app keeps (settings, cursor, sessions, declined guests): written so that a
// crash or two writes at once never leave a torn file, and set aside rather than lost when
// they cannot be read.
import { chmod, mkdir, rename, writeFile } from 'node:fs/promises'
import { dirname } from 'node:path'

let sequence = 0

/** Writes `data` to a temporary file beside `path`, then renames it into place. The temporary
 *  name is unique per write, so writes racing each other never share one. */
export async function writeFileAtomic(
  path: string,
  data: string,
  opts: { mode?: number } = {},
): Promise<void> {
  // A private file (a mode given) gets a private directory when this creates it.
  await mkdir(dirname(path), { recursive: true, ...(opts.mode ? { mode: 0o700 } : {}) })
  const tmp = `${path}.${process.pid}.${++sequence}.tmp`
  await writeFile(tmp, data, opts.mode ? { mode: opts.mode } : {})
  // The umask may have narrowed or kept wider bits than asked for on an existing name.
  if (opts.mode) await chmod(tmp, opts.mode)
  await rename(tmp, path)
}

/** Moves an unreadable file out of the way, for the user to look at; returns where it went. */
export async function setAside(path: string): Promise<string> {
  const aside = `${path}.unreadable-${Date.now()}`
  await rename(path, aside).catch(() => undefined)
  return aside
}
