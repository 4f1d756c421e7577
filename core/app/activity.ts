// The dashboard's activity list: what happened, in sentences, newest last in memory and first on
// screen. The meshlet's structured log is read for it too (`teeLog`), so the list and the daemon's
// log tell the same events, one for people and one for machines.
import type { ActivityItem } from '../api.js'
import type { Level, Logger } from '../log.js'

/** Items kept: enough for a session's story, few enough to push with every state. */
export const ACTIVITY_MAX = 200

export class ActivityLog {
  private readonly items: ActivityItem[] = []
  private lastId = 0

  constructor(
    private readonly opts: {
      /** Called after every note (the app pushes its state). */
      onChange?: () => void
      max?: number
      now?: () => number
    } = {},
  ) {}

  note(level: ActivityItem['level'], text: string): void {
    const at = new Date(this.opts.now?.() ?? Date.now()).toISOString()
    this.items.push({ id: ++this.lastId, at, level, text })
    if (this.items.length > (this.opts.max ?? ACTIVITY_MAX)) this.items.shift()
    this.opts.onChange?.()
  }

  /** Newest first, as the dashboard shows it; a copy. */
  list(): ActivityItem[] {
    return [...this.items].reverse()
  }
}

/** What the sentences need to know about a workload a log line names. */
export interface ActivityContext {
  workload(uri: string): { owner: string; image: string } | undefined
  /** The owner this machine lends for: their workloads are "yours". */
  ownerDid: string | undefined
  /** A handle when known, else the DID. */
  label(did: string): string
}

/**
 * The meshlet's log event said for people, or undefined for events the list does not show
 * (record traffic, timers). `fields` are the log line's own.
 */
export function describeEvent(
  event: string,
  f: Record<string, unknown>,
  ctx: ActivityContext,
): string | undefined {
  const uri = typeof f.workload === 'string' ? f.workload : typeof f.uri === 'string' ? f.uri : ''
  const w = uri ? ctx.workload(uri) : undefined
  const whose = w && w.owner === ctx.ownerDid ? 'yours' : w ? `of ${ctx.label(w.owner)}` : ''
  const what = w ? `${w.image} (${whose})` : uri ? `a workload that is gone (${shortUri(uri)})` : ''
  switch (event) {
    case 'bid':
      return `Bid on ${what} (round ${String(f.round)})`
    case 'replica.running':
      return `Started ${what}`
    case 'replica.declined':
      return `Declined ${what}: this machine's offer is held by its other wins (round ${String(f.round)})`
    case 'replica.failed':
      return `Could not start ${what}`
    case 'replica.ended':
      return `${what} ${f.state === 'exited' ? 'finished' : 'failed'} (exit ${String(f.exitCode)})`
    case 'replica.stop':
      return `Stopping ${what}: ${STOP_REASONS[String(f.reason)] ?? String(f.reason)}`
    case 'workload.seen':
      return w && w.owner === ctx.ownerDid ? `Your workload ${what} is published` : undefined
    case 'started':
      return 'This machine joined the commune'
    case 'cluster': {
      const peers = (f.peers as string[] | undefined) ?? []
      return `Commune: ${peers.length} mutual member${peers.length === 1 ? '' : 's'}`
    }
    case 'record.dropped':
      return `Ignored an invalid record: ${String(f.reason)}`
    case 'error': {
      const e = f.error as { message?: string } | undefined
      return `Error (${String(f.stage)}): ${e?.message ?? 'unknown'}`
    }
    default:
      return undefined
  }
}

/** A logger that writes to `log` and notes the lines `describe` has a sentence for. */
export function teeLog(
  log: Logger,
  activity: ActivityLog,
  describe: (event: string, fields: Record<string, unknown>) => string | undefined,
): Logger {
  return {
    log: (level: Level, event: string, fields?: Record<string, unknown>) => {
      log.log(level, event, fields)
      const text = describe(event, fields ?? {})
      if (text) activity.note(level === 'debug' ? 'info' : level, text)
    },
  }
}

/** Why a replica is stopped here, said for people (StopReason, and the lender's own stop). */
const STOP_REASONS: Record<string, string> = {
  deleted: 'its owner deleted it',
  superseded: 'its owner published a new version',
  yielded: 'a better bid won the round',
  'not-selected': 'another machine was selected',
  paused: 'lending is paused',
  'stopped-by-lender': 'you stopped it',
  'stopped-by-owner': 'its owner stopped it here',
}

/** A record key: what a person can match against the URI elsewhere. */
export function shortUri(uri: string): string {
  return uri.split('/').at(-1) ?? uri
}
