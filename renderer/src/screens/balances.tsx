// Fair share (DESIGN §6): what each member has given and taken, as every meshlet computes it
// from the same public status records.
import { useState, type CSSProperties, type FormEvent } from 'react'
import type { DashboardState } from '../../../core/api.js'
import { BalanceChart } from '../components/balance-chart.js'
import { EmptyState, ErrorText } from '../components/feedback.js'
import { BalancesIcon } from '../components/icons.js'
import { displayName, formatHalfLife, formatSignedUnits, formatUnits } from '../lib/format.js'
import { useAction, useApi } from '../state/hooks.js'

export function Balances({ state }: { state: DashboardState }) {
  const { members, history, halfLifeMs } = state.balances
  const me = state.owner?.did
  const names = new Map<string, string>()
  for (const b of members) names.set(b.did, displayName(b))
  // History is keyed by DID; a member who left may only be known from the member list.
  for (const m of state.members) if (!names.has(m.did)) names.set(m.did, displayName(m))
  const widest = Math.max(1, ...members.map((b) => Math.abs(b.balance)))
  const rows = [...members].sort((a, b) => b.balance - a.balance)

  return (
    <div className="stack-lg">
      <section className="card explainer" aria-labelledby="units-title">
        <h2 id="units-title">How balances work</h2>
        <p>
          Compute is counted in <strong>units</strong>: one unit is <strong>one core</strong> or{' '}
          <strong>one GiB of memory</strong> for <strong>an hour</strong>. Running someone’s
          workload on your machine adds to your balance; your workloads running elsewhere take from
          it. Old history fades with a half-life of {formatHalfLife(halfLifeMs)}.
        </p>
        <p className="muted">
          When machines bid for a workload, owners whose balance is furthest below the commune’s
          average bid first — so whoever has used the most gives back first.
        </p>
      </section>

      <section className="card" aria-labelledby="ledger-title">
        <div className="card-head">
          <h2 id="ledger-title">Balances</h2>
          <p className="card-sub">
            In units, with decay applied; below one unit to a thousandth (3.6 core-seconds), so a
            short run shows.
          </p>
        </div>
        {rows.length === 0 ? (
          <EmptyState icon={<BalancesIcon size={28} />} title="No balances yet">
            Balances appear once a workload has run somewhere in the commune.
          </EmptyState>
        ) : (
          <div className="table-scroll">
            <table className="table balances-table">
              <thead>
                <tr>
                  <th scope="col">Member</th>
                  <th scope="col" className="num">
                    Contributed
                  </th>
                  <th scope="col" className="num">
                    Consumed
                  </th>
                  <th scope="col" className="num">
                    Balance
                  </th>
                  <th scope="col" className="balance-bar-col">
                    <span className="sr-only">Balance, drawn</span>
                  </th>
                </tr>
              </thead>
              <tbody>
                {rows.map((b) => {
                  const share = Math.abs(b.balance) / widest
                  const bar = { '--share': `${(share * 50).toFixed(2)}%` } as CSSProperties
                  return (
                    <tr key={b.did} data-testid="balance-row" data-did={b.did}>
                      <th scope="row">
                        <span className="cell-name">
                          {displayName(b)}
                          {b.did === me && <span className="chip chip-self">You</span>}
                        </span>
                      </th>
                      <td className="num" data-label="Contributed">
                        {formatUnits(b.contributed)}
                      </td>
                      <td className="num" data-label="Consumed">
                        {formatUnits(b.consumed)}
                      </td>
                      <td
                        className={`num balance ${b.balance > 0 ? 'pos' : b.balance < 0 ? 'neg' : ''}`}
                        data-label="Balance"
                        data-testid="balance-value"
                      >
                        {formatSignedUnits(b.balance)}
                      </td>
                      <td className="balance-bar-col" aria-hidden="true">
                        <span
                          className={`balance-bar ${b.balance < 0 ? 'neg' : 'pos'}`}
                          style={bar}
                        />
                      </td>
                    </tr>
                  )
                })}
              </tbody>
            </table>
          </div>
        )}
      </section>

      <FloorCard floor={state.settings.minBalance} />

      <section className="card" aria-labelledby="history-title">
        <div className="card-head">
          <h2 id="history-title">Over time</h2>
          <p className="card-sub">Each member’s balance, sampled as records arrive.</p>
        </div>
        {history.length === 0 ? (
          <EmptyState icon={<BalancesIcon size={28} />} title="No history yet">
            The chart fills in as workloads run and balances change.
          </EmptyState>
        ) : (
          <BalanceChart history={history} names={names} />
        )}
      </section>
    </div>
  )
}

/** The free-rider floor (DESIGN §6): this machine makes no bid for owners below it. */
function FloorCard({ floor }: { floor: number | undefined }) {
  const client = useApi()
  const [draft, setDraft] = useState(floor === undefined ? '' : String(floor / 1000))
  const save = useAction((minBalance: number | null) => client.call('settings.set', { minBalance }))
  const units = Number(draft)
  const valid = draft.trim() !== '' && Number.isFinite(units)
  const submit = (e: FormEvent) => {
    e.preventDefault()
    if (valid) void save.run(Math.round(units * 1000))
  }
  return (
    <section className="card" aria-labelledby="floor-title">
      <div className="card-head">
        <h2 id="floor-title">Free-rider floor</h2>
        <p className="card-sub" data-testid="floor-state">
          {floor === undefined
            ? 'Off: this machine bids for every member.'
            : `This machine makes no bid for members whose balance is below ${formatSignedUnits(floor)} units; they see why.`}
        </p>
      </div>
      <form className="row" onSubmit={submit}>
        <label>
          Minimum balance (units){' '}
          <input
            type="number"
            step="0.1"
            value={draft}
            onChange={(e) => setDraft(e.target.value)}
            data-testid="floor-input"
          />
        </label>
        <button type="submit" className="btn" disabled={!valid || save.pending}>
          Set floor
        </button>
        <button
          type="button"
          className="btn btn-ghost"
          disabled={floor === undefined || save.pending}
          onClick={() => {
            setDraft('')
            void save.run(null)
          }}
        >
          Turn off
        </button>
      </form>
      <ErrorText error={save.error} />
    </section>
  )
}
