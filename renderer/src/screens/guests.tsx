// Containers this machine runs for other members. They are untrusted (DESIGN §8); the owner of
// this machine can always stop one, and the workload is placed elsewhere.
import type { DashboardState, GuestView } from '../../../core/api.js'
import { ConfirmAction } from '../components/confirm.js'
import { EmptyState } from '../components/feedback.js'
import { GuestsIcon, StopIcon } from '../components/icons.js'
import { formatCores, formatDuration, formatMemory, shortDid } from '../lib/format.js'
import { useApi, useNow } from '../state/hooks.js'
import { StateChip } from './workloads.js'

export function Guests({ state }: { state: DashboardState }) {
  const now = useNow(1000)
  const { guests } = state
  return (
    <section className="card" aria-labelledby="guests-title">
      <div className="card-head">
        <h2 id="guests-title">Guest workloads</h2>
        <p className="card-sub">
          Each runs locked down: no privileges, no host files, no network unless you allow it.
        </p>
      </div>
      {guests.length === 0 ? (
        <EmptyState
          icon={<GuestsIcon size={28} />}
          title="No guest workloads are running on this machine"
        >
          {state.settings.lending
            ? 'When this machine wins a bid for a member’s workload, it shows up here.'
            : 'Turn on “Lend compute” on the overview to start taking work.'}
        </EmptyState>
      ) : (
        <div className="table-scroll">
          <table className="table guests-table">
            <thead>
              <tr>
                <th scope="col">Guest</th>
                <th scope="col" className="num">
                  CPU
                </th>
                <th scope="col" className="num">
                  Memory
                </th>
                <th scope="col" className="num">
                  Uptime
                </th>
                <th scope="col">State</th>
                <th scope="col">
                  <span className="sr-only">Actions</span>
                </th>
              </tr>
            </thead>
            <tbody>
              {guests.map((g) => (
                <GuestRow key={g.containerId} guest={g} now={now} />
              ))}
            </tbody>
          </table>
        </div>
      )}
    </section>
  )
}

function GuestRow({ guest, now }: { guest: GuestView; now: number }) {
  const client = useApi()
  const owner = guest.ownerHandle ?? shortDid(guest.owner)
  const started = guest.startedAt ? Date.parse(guest.startedAt) : NaN
  return (
    <tr
      data-testid="guest-row"
      data-container-id={guest.containerId}
      data-workload-uri={guest.workloadUri}
    >
      {/* Who and what in one cell: the owner is what the lender asks about first, and the
          table stays narrow enough for a tray window. */}
      <th scope="row">
        <span className="cell-name" title={guest.owner}>
          {owner}
        </span>
        <span className="guest-image">
          <span className="mono image-ref" title={guest.image} data-testid="guest-image">
            {guest.image}
          </span>
          <span className="muted">· round {guest.round}</span>
        </span>
      </th>
      <td className="num" data-label="CPU">
        {formatCores(guest.cpuMillis)}
      </td>
      <td className="num" data-label="Memory">
        {guest.memoryUsedMiB !== undefined ? (
          <>
            {formatMemory(guest.memoryUsedMiB)}
            <span className="muted small block">of {formatMemory(guest.memoryMiB)}</span>
          </>
        ) : (
          formatMemory(guest.memoryMiB)
        )}
      </td>
      <td className="num" data-label="Uptime" data-testid="guest-uptime">
        {Number.isNaN(started) ? '—' : formatDuration(now - started)}
      </td>
      <td data-label="State">
        <StateChip state={guest.state} />
      </td>
      <td className="actions">
        <ConfirmAction
          label={`Stop ${guest.image} for ${owner}`}
          trigger={
            <>
              <StopIcon size={14} />
              Stop
            </>
          }
          triggerClassName="btn btn-secondary btn-sm"
          title="Stop this guest?"
          confirmLabel="Stop guest"
          onConfirm={() => client.call('guests.stop', { containerId: guest.containerId })}
        >
          The container running <span className="mono">{guest.image}</span> for {owner} stops now.
          Their workload is placed on another machine in the commune.
        </ConfirmAction>
      </td>
    </tr>
  )
}
