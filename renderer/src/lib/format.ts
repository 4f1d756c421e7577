// Records count in integers (millicores, MiB, milli-units: DESIGN §1); people read cores, GiB
// and units. Every conversion for display lives here so the screens agree.
const trim = (n: number, max: number, min = 0) =>
  n.toLocaleString('en-US', { minimumFractionDigits: min, maximumFractionDigits: max })

/** 500 → "0.5 cores", 1000 → "1 core", 2250 → "2.25 cores". */
export function formatCores(millis: number): string {
  const cores = millis / 1000
  return `${trim(cores, 2)} ${trim(cores, 2) === '1' ? 'core' : 'cores'}`
}

/** Just the number, for "2.5 of 8 cores". */
export function coresNumber(millis: number): string {
  return trim(millis / 1000, 2)
}

/** Binary GiB with one decimal (two below 1 GiB, where one would round 256 MiB to 0.3). */
export function gibNumber(mib: number): string {
  const gib = mib / 1024
  return trim(gib, gib < 1 && gib > 0 ? 2 : 1)
}

export function formatGiB(mib: number): string {
  return `${gibNumber(mib)} GiB`
}

/** Small amounts read better in MiB (a guest's 256 MiB), larger ones in GiB. */
export function formatMemory(mib: number): string {
  return mib < 1024 ? `${trim(mib, 0)} MiB` : formatGiB(mib)
}

// Units are formatted where the CLI formats them too, so both say the same.
export { formatSignedUnits, formatUnits } from '../../../core/fairshare/units.js'

/** Axis labels: no padding zeros ("2", "2.5", "0.004"), and a real minus sign. */
export function formatAxisUnits(milli: number): string {
  const text = trim(Math.abs(milli) / 1000, 3)
  return milli < 0 ? `\u2212${text}` : text
}

/** 3725 s → "1h 2m 5s"; the seconds go once it runs for a day. */
export function formatDuration(ms: number): string {
  const s = Math.max(0, Math.floor(ms / 1000))
  const d = Math.floor(s / 86_400)
  const h = Math.floor((s % 86_400) / 3600)
  const m = Math.floor((s % 3600) / 60)
  const sec = s % 60
  if (d > 0) return `${d}d ${h}h ${m}m`
  if (h > 0) return `${h}h ${m}m ${sec}s`
  if (m > 0) return `${m}m ${sec}s`
  return `${sec}s`
}

const relative = new Intl.RelativeTimeFormat('en', { numeric: 'auto' })

/** "just now", "5 min. ago", "yesterday". */
export function formatRelative(iso: string, now: number): string {
  const t = Date.parse(iso)
  if (Number.isNaN(t)) return iso
  const s = Math.round((t - now) / 1000)
  const abs = Math.abs(s)
  if (abs < 10) return 'just now'
  if (abs < 60) return relative.format(s, 'second')
  if (abs < 3600) return relative.format(Math.round(s / 60), 'minute')
  if (abs < 86_400) return relative.format(Math.round(s / 3600), 'hour')
  return relative.format(Math.round(s / 86_400), 'day')
}

const full = new Intl.DateTimeFormat(undefined, { dateStyle: 'medium', timeStyle: 'medium' })
const day = new Intl.DateTimeFormat(undefined, { month: 'short', day: 'numeric' })
const time = new Intl.DateTimeFormat(undefined, { hour: 'numeric', minute: '2-digit' })
const hour = new Intl.DateTimeFormat(undefined, { hour: 'numeric' })
const shortDateTime = new Intl.DateTimeFormat(undefined, {
  month: 'short',
  day: 'numeric',
  hour: 'numeric',
  minute: '2-digit',
})

export function formatDateTime(iso: string): string {
  const t = Date.parse(iso)
  return Number.isNaN(t) ? iso : full.format(t)
}

export function formatDay(t: number): string {
  return day.format(t)
}

/** "3:30 PM", or "3 PM" on the hour (chart axes). */
export function formatTime(t: number): string {
  return new Date(t).getMinutes() === 0 ? hour.format(t) : time.format(t)
}

export function formatShortDateTime(iso: string): string {
  const t = Date.parse(iso)
  return Number.isNaN(t) ? iso : shortDateTime.format(t)
}

/** The time for something today, the date and time for anything older. */
export function formatWhen(iso: string, now: number): string {
  const t = Date.parse(iso)
  if (Number.isNaN(t)) return iso
  return new Date(t).toDateString() === new Date(now).toDateString()
    ? time.format(t)
    : shortDateTime.format(t)
}

/** A half-life in the largest whole unit that fits: "7 days", "12 hours". */
export function formatHalfLife(ms: number): string {
  const days = ms / 86_400_000
  if (days >= 1 && Number.isInteger(days)) return `${days} ${days === 1 ? 'day' : 'days'}`
  const hours = ms / 3_600_000
  if (hours >= 1) return `${trim(hours, 1)} ${hours === 1 ? 'hour' : 'hours'}`
  return `${trim(ms / 60_000, 1)} minutes`
}

/** A handle when we know one, else the DID; and a shorter DID for tight spots. */
export function displayName(x: { did: string; handle?: string }): string {
  return x.handle ?? x.did
}

export function shortDid(did: string): string {
  return did.length > 24 ? `${did.slice(0, 14)}…${did.slice(-6)}` : did
}
