// The owner's own workloads: publish one, see where its replicas landed, delete it (which stops
// it everywhere: DESIGN §1).
import { useState } from 'react'
import {
  type DashboardState,
  type ReplicaView,
  type WorkloadLogsView,
  type WorkloadView,
} from '../../../core/api.js'
import { ConfirmAction } from '../components/confirm.js'
import { EmptyState, ErrorText, Spinner } from '../components/feedback.js'
import { TrashIcon, WorkloadsIcon } from '../components/icons.js'
import {
  formatCores,
  formatDateTime,
  formatMemory,
  formatRelative,
  shortDid,
} from '../lib/format.js'
import { joinShellWords } from '../lib/shell-words.js'
import { useAction, useApi, useNow } from '../state/hooks.js'
import { WorkloadEditor, type FormTarget } from './workload-form.js'

const TONE: Record<string, string> = {
  running: 'ok',
  starting: 'info',
  pending: 'info',
  bidding: 'info',
  pulling: 'info',
  draining: 'warn',
  yielded: 'muted',
  declined: 'muted',
  exited: 'muted',
  stopped: 'muted',
  failed: 'error',
  lost: 'error',
}

/** A replica's or guest's state as the core names it; colour by what it means. */
export function StateChip({ state }: { state: string }) {
  return (
    <span
      className={`chip chip-${TONE[state] ?? 'muted'}`}
      data-testid="state-chip"
      data-state={state}
    >
      {state.charAt(0).toUpperCase() + state.slice(1)}
    </span>
  )
}

export function Workloads({ state }: { state: DashboardState }) {
  const workloads = [...state.workloads].sort((a, b) => b.createdAt.localeCompare(a.createdAt))
  const [target, setTarget] = useState<FormTarget>({ kind: 'new' })
  // An edit of a workload that is gone (deleted elsewhere) falls back to a new one.
  const editing =
    target.kind === 'edit' && workloads.some((w) => w.uri === target.uri)
      ? target
      : ({ kind: 'new' } as const)
  return (
    <div className="stack-lg">
      <WorkloadEditor
        key={editing.kind === 'edit' ? editing.uri : 'new'}
        target={editing}
        onDone={() => setTarget({ kind: 'new' })}
      />
      <section className="card" aria-labelledby="workloads-title">
        <div className="card-head">
          <h2 id="workloads-title">Published</h2>
          <p className="card-sub">Deleting a workload stops it on every machine that runs it.</p>
        </div>
        {workloads.length === 0 ? (
          <EmptyState icon={<WorkloadsIcon size={28} />} title="No workloads yet">
            Submit one above; machines in your cluster bid for it within seconds.
          </EmptyState>
        ) : (
          <ul className="list" aria-label="Workloads">
            {workloads.map((w) => (
              <WorkloadRow
                key={w.uri}
                workload={w}
                onEdit={() => {
                  setTarget({ kind: 'edit', uri: w.uri, spec: w.spec })
                  window.scrollTo({ top: 0, behavior: 'smooth' })
                }}
              />
            ))}
          </ul>
        )}
      </section>
    </div>
  )
}

function WorkloadRow({ workload: w, onEdit }: { workload: WorkloadView; onEdit: () => void }) {
  const client = useApi()
  const now = useNow(15_000)
  const running = w.placements.filter((p) => p.state === 'running').length
  return (
    <li className="list-row workload" data-testid="workload-row" data-uri={w.uri}>
      <div className="list-main">
        <div className="list-title">
          <span className="mono image-ref" title={w.image}>
            {w.image}
          </span>
          <span className="chip chip-muted">
            {running}/{w.replicas} running
          </span>
        </div>
        <p className="list-sub" data-testid="workload-headline">
          {w.headline}
        </p>
        <p className="list-meta">
          <span>{formatCores(w.cpuMillis)}</span>
          <span>{formatMemory(w.memoryMiB)}</span>
          <span>
            {w.replicas} {w.replicas === 1 ? 'replica' : 'replicas'}
          </span>
          {w.spec.storageMiB !== undefined && (
            <span>{formatMemory(w.spec.storageMiB)} storage</span>
          )}
          {w.spec.arch && <span>{w.spec.arch.join(', ')} only</span>}
          {w.spec.restart && w.spec.restart.mode !== 'never' && (
            <span>restart {w.spec.restart.mode}</span>
          )}
          {w.spec.maxRuntimeSeconds !== undefined && (
            <span>at most {w.spec.maxRuntimeSeconds} s</span>
          )}
          {w.spec.egress && <span>network</span>}
          {w.spec.env && (
            <span title={w.spec.env.map((e) => e.name).join(', ')}>
              {w.spec.env.length} {w.spec.env.length === 1 ? 'variable' : 'variables'}
            </span>
          )}
          <span title={formatDateTime(w.createdAt)}>
            published {formatRelative(w.createdAt, now)}
          </span>
          {w.updatedAt && (
            <span title={formatDateTime(w.updatedAt)} data-testid="workload-updated">
              edited {formatRelative(w.updatedAt, now)}
            </span>
          )}
        </p>
        {w.command && w.command.length > 0 && (
          <p className="command">
            <span className="sr-only">Command: </span>
            <code>{joinShellWords(w.command)}</code>
          </p>
        )}
      </div>
      <div className="list-actions">
        <button
          type="button"
          className="btn btn-secondary btn-sm"
          aria-label={`Edit ${w.image}`}
          onClick={onEdit}
        >
          Edit
        </button>
        <ConfirmAction
          label={`Delete ${w.image}`}
          trigger={
            <>
              <TrashIcon size={16} />
              <span className="hide-narrow">Delete</span>
            </>
          }
          title={`Delete ${w.image}?`}
          confirmLabel="Delete"
          onConfirm={() => client.call('workloads.delete', { uri: w.uri })}
        >
          The workload record is deleted from your account, and every machine running a replica
          stops it.
        </ConfirmAction>
      </div>
      {/* Beside the title the Delete button; below, the placements take the full width. */}
      {w.placements.length > 0 && <Placements uri={w.uri} placements={w.placements} now={now} />}
      {w.voidBids && w.voidBids.length > 0 && (
        <ul className="list-sub why-not" aria-label="Bids that do not count">
          {w.voidBids.map((b) => (
            <li
              key={b.meshlet}
              data-testid="void-bid"
              data-meshlet={b.meshlet}
              data-reason={b.reason}
            >
              <span className="cell-name" title={b.meshlet}>
                {b.ownerHandle ?? shortDid(b.meshlet)}
              </span>
              : bid void — {b.sentence}
            </li>
          ))}
        </ul>
      )}
      {w.noBid && w.noBid.length > 0 && running < w.replicas && (
        <ul className="list-sub why-not" aria-label="Why other machines did not bid">
          {w.noBid.map((n) => (
            <li
              key={n.meshlet}
              data-testid="no-bid"
              data-meshlet={n.meshlet}
              data-reason={n.reason ?? 'unknown'}
            >
              <span className="cell-name" title={n.meshlet}>
                {n.ownerHandle ?? shortDid(n.meshlet)}
              </span>
              : no bid — {n.sentence}
            </li>
          ))}
        </ul>
      )}
    </li>
  )
}

function Placements({
  uri,
  placements,
  now,
}: {
  uri: string
  placements: ReplicaView[]
  now: number
}) {
  const client = useApi()
  const [shown, setShown] = useState<string>()
  const [logs, setLogs] = useState<WorkloadLogsView['hosts'][number]>()
  const fetchLogs = useAction(async (meshlet: string) => {
    setShown(meshlet)
    setLogs(undefined)
    const res = await client.call('workloads.logs', { uri, meshlet })
    setLogs(res.hosts.find((h) => h.meshlet === meshlet))
  })
  return (
    <div className="table-scroll placements">
      <table className="table table-compact">
        <caption className="sr-only">Where its replicas are placed</caption>
        <colgroup>
          <col />
          <col className="col-round" />
          <col className="col-state" />
          <col className="col-updated" />
        </colgroup>
        <thead>
          <tr>
            <th scope="col">Machine</th>
            <th scope="col" className="num">
              Round
            </th>
            <th scope="col">State</th>
            <th scope="col">Updated</th>
            <th scope="col">
              <span className="sr-only">Logs</span>
            </th>
          </tr>
        </thead>
        <tbody>
          {placements.map((p) => (
            <tr
              key={`${p.meshlet}-${p.round}`}
              data-testid="placement-row"
              data-meshlet={p.meshlet}
            >
              <th scope="row" data-label="Machine">
                <span className="cell-name" title={p.meshlet}>
                  {p.ownerHandle ??
                    (p.meshletOwner ? shortDid(p.meshletOwner) : shortDid(p.meshlet))}
                </span>
                {(p.ownerHandle || p.meshletOwner) && (
                  <span className="muted small block mono">{shortDid(p.meshlet)}</span>
                )}
              </th>
              <td className="num" data-label="Round">
                {p.round}
              </td>
              <td data-label="State">
                <StateChip state={p.state} />
                {p.exitCode !== undefined && (
                  <span className="muted small"> exit {p.exitCode}</span>
                )}
                {p.message && <span className="muted small block">{p.message}</span>}
              </td>
              <td data-label="Updated" title={formatDateTime(p.updatedAt)}>
                {formatRelative(p.updatedAt, now)}
              </td>
              <td data-label="Logs">
                <button
                  type="button"
                  className="btn btn-secondary btn-sm"
                  data-testid="logs-button"
                  aria-expanded={shown === p.meshlet}
                  disabled={fetchLogs.pending}
                  onClick={() => void fetchLogs.run(p.meshlet)}
                >
                  Logs
                </button>
              </td>
            </tr>
          ))}
        </tbody>
      </table>
      {shown && (
        <div className="replica-logs" data-testid="replica-logs" aria-live="polite">
          {fetchLogs.pending && <Spinner label="Asking the machine…" />}
          <ErrorText error={fetchLogs.error} />
          {logs && !logs.reachable && (
            <p className="muted" data-testid="logs-unreachable">
              This machine cannot be reached: it does not serve the meshlet API where you can reach
              it (it may be behind a home router). Its status still arrives through records.
            </p>
          )}
          {logs?.reachable && logs.replicas.length === 0 && (
            <p className="muted">{logs.reason ?? 'No output from this machine.'}</p>
          )}
          {logs?.replicas.map((r) => (
            <div key={r.round}>
              <p className="small muted">
                Round {r.round} ({r.state}){r.truncated ? ', older lines omitted' : ''}
              </p>
              <pre className="log-lines">
                {r.lines.map((l) => l.text).join('\n') || '(nothing printed yet)'}
              </pre>
            </div>
          ))}
        </div>
      )}
    </div>
  )
}
