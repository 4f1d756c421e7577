// One interface for where live records come from. A source only delivers commit operations on
// commune.scheduler.* records, already authenticated (a signed commit, or a record its PDS
// confirmed); RecordSync (index.ts) does the rest: backfill, ordering, lexicon checks.

export type SourceKind = 'jetstream' | 'pds' | 'relay'

export const SOURCE_KINDS: readonly SourceKind[] = ['jetstream', 'pds', 'relay']

/** What each source costs, in one sentence: for `--help`, the README and the app's settings. */
export const SOURCE_COSTS: Record<SourceKind, string> = {
  jetstream:
    'Bluesky’s Jetstream, filtered on the server to your commune’s records: a few MB a day and ' +
    'almost no CPU; each record is confirmed with its author’s PDS before it counts.',
  pds:
    'One signed stream per member PDS: cheap where members self-host, but a big shared PDS ' +
    'sends all of its accounts’ changes.',
  relay:
    'The whole network’s relay, every record signed and checked here: tens to hundreds of GB ' +
    'a day and a large share of a core. For servers and tests.',
}

/** The public Jetstream instances, tried in turn. */
export const PUBLIC_JETSTREAMS = [
  'wss://jetstream2.us-east.bsky.network/subscribe',
  'wss://jetstream1.us-east.bsky.network/subscribe',
  'wss://jetstream2.us-west.bsky.network/subscribe',
  'wss://jetstream1.us-west.bsky.network/subscribe',
]

export type SourceConfig =
  | { kind: 'relay'; url: string }
  | { kind: 'pds' }
  | {
      kind: 'jetstream'
      urls: readonly string[]
      /** First wait before trying the next instance (doubles up to 5 s); default 1 s. */
      backoffMs?: number
      /** How often a silent connection is pinged before it is judged dead; default 30 s. */
      pingMs?: number
    }

/** A change to one record, authenticated by the source. */
export interface SourceCommit {
  event: 'create' | 'update' | 'delete'
  did: string
  collection: string
  rkey: string
  uri: string
  /** The repo revision of the commit; orders live events against a backfill listing. */
  rev: string
  cid?: string
  record?: unknown
}

export interface SourceDrop {
  did: string
  collection: string
  rkey: string
  uri: string
  reason: string
}

export interface SourceHooks {
  onCommit: (op: SourceCommit) => void
  /** A record the source delivered but could not authenticate: it never acts. */
  onDropped: (drop: SourceDrop) => void
  /** The saved cursor is older than the source keeps: the caller backfills instead. */
  onOutdated: (detail: string) => void
  /** The stream came back but there was no cursor to resume from (no frame had been seen
   *  since it connected): what was published meanwhile is listed from the repos. */
  onGap: (detail: string) => void
  onError: (err: Error) => void
}

export interface EventSource {
  readonly kind: SourceKind
  /** Connects (in the background; reconnects on its own until stopped). */
  start(): Promise<void>
  /** The DIDs being followed changed. Filtered sources narrow to them (without reconnecting
   *  where the protocol allows); the relay ignores it. Resolves once the change applies. */
  setDids(dids: ReadonlySet<string>): Promise<void>
  /** This meshlet wrote `cid` at `uri` and applied it already: a source that must confirm
   *  records (Jetstream) need not confirm its echo. */
  wrote?(uri: string, cid: string): void
  stop(): Promise<void>
}

export class SourceError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options)
    this.name = 'SourceError'
  }
}

/** ws(s):// for a service given as http(s)://, and no trailing slash. */
export function wsUrl(service: string): string {
  return service.replace(/^http(s?):\/\//, 'ws$1://').replace(/\/+$/, '')
}
