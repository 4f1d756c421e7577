// The lending rules in the Overview (core/policy): each rule's setting, its state now, and while
// lending is held back, which rule holds it and why.
import type { DashboardState, LendingRules, RuleName } from '../../../core/api.js'
import { ErrorText } from './feedback.js'
import { useApi, useConfirmed } from '../state/hooks.js'

const RULE_LABEL: Record<RuleName, string> = {
  idle: 'Only when idle',
  'quiet-hours': 'Quiet hours',
  battery: 'Battery',
  'host-load': 'When this computer is busy',
}

const STATUS_LABEL: Record<string, string> = {
  off: 'off',
  clear: 'lending',
  pending: 'watching',
  holding: 'holding back',
  releasing: 'letting go',
  unknown: 'cannot read',
}

function whole(text: string): number | undefined {
  return /^\d+$/.test(text.trim()) ? Number(text.trim()) : undefined
}

export function LendingRulesCard({ state }: { state: DashboardState }) {
  const client = useApi()
  const rules = state.settings.rules
  const send = (patch: Partial<LendingRules>) => client.call('settings.set', { rules: patch })
  const idle = useConfirmed(rules.idleMinutes, (v: number) => send({ idleMinutes: v }))
  const inUse = useConfirmed(rules.whenInUse, (v: LendingRules['whenInUse']) =>
    send({ whenInUse: v }),
  )
  const battery = useConfirmed(state.settings.pauseOnBattery, (v: boolean) =>
    client.call('settings.set', { pauseOnBattery: v }),
  )
  const level = useConfirmed(rules.minBatteryPercent, (v: number) => send({ minBatteryPercent: v }))
  const quiet = useConfirmed(rules.quietHours, (v: LendingRules['quietHours']) =>
    send({ quietHours: v }),
  )
  const load = useConfirmed(rules.maxHostLoadPercent, (v: number) =>
    send({ maxHostLoadPercent: v }),
  )
  const { policy } = state
  const error =
    idle.error ?? inUse.error ?? battery.error ?? level.error ?? quiet.error ?? load.error
  const q = quiet.value
  return (
    <section className="card" aria-labelledby="rules-title" data-testid="lending-rules">
      <div className="card-head">
        <h2 id="rules-title">When to lend</h2>
        <p className="card-sub" data-testid="rules-why">
          {policy.action === 'pause' && policy.because
            ? `Lending is paused: ${policy.because}.`
            : policy.action === 'throttle' && policy.because
              ? `Guests are throttled to ${Math.round(policy.cpuShare * 100)} % CPU: ${policy.because}.`
              : 'No rule holds lending back now.'}
        </p>
      </div>
      <div className="settings">
        <label className="field">
          <span>Lend only when idle for (minutes, 0: always)</span>
          <input
            type="number"
            min={0}
            max={1440}
            aria-label="Idle minutes before lending"
            value={idle.value}
            disabled={!policy.idleReadable && idle.value === 0}
            onChange={(e) => {
              const v = whole(e.target.value)
              if (v !== undefined) idle.set(v)
            }}
          />
        </label>
        <label className="field">
          <span>While you use this computer</span>
          <select
            aria-label="While in use"
            value={inUse.value}
            onChange={(e) => inUse.set(e.target.value as LendingRules['whenInUse'])}
          >
            <option value="pause">pause (guests move elsewhere)</option>
            <option value="throttle">throttle guests to {rules.throttlePercent} % CPU</option>
          </select>
        </label>
        <label className="field">
          <input
            type="checkbox"
            aria-label="Pause on battery"
            checked={battery.value}
            onChange={(e) => battery.set(e.target.checked)}
          />
          <span>Pause on battery, unless above (%, 0: always pause)</span>
          <input
            type="number"
            min={0}
            max={100}
            aria-label="Battery level to keep lending above"
            value={level.value}
            onChange={(e) => {
              const v = whole(e.target.value)
              if (v !== undefined && v <= 100) level.set(v)
            }}
          />
        </label>
        <label className="field">
          <span>Quiet hours</span>
          <select
            aria-label="Quiet hours"
            value={q ? q.mode : 'off'}
            onChange={(e) => {
              const mode = e.target.value
              quiet.set(
                mode === 'off'
                  ? null
                  : {
                      from: q?.from ?? '09:00',
                      to: q?.to ?? '18:00',
                      mode: mode as 'quiet' | 'only',
                    },
              )
            }}
          >
            <option value="off">none</option>
            <option value="quiet">never lend from … to …</option>
            <option value="only">lend only from … to …</option>
          </select>
          {q && (
            <>
              <input
                type="time"
                aria-label="From"
                value={q.from}
                onChange={(e) => e.target.value && quiet.set({ ...q, from: e.target.value })}
              />
              <input
                type="time"
                aria-label="To"
                value={q.to}
                onChange={(e) => e.target.value && quiet.set({ ...q, to: e.target.value })}
              />
            </>
          )}
        </label>
        <label className="field">
          <span>Pause while this computer’s own CPU load is above (%, 0: never)</span>
          <input
            type="number"
            min={0}
            max={100}
            aria-label="Host load limit"
            value={load.value}
            onChange={(e) => {
              const v = whole(e.target.value)
              if (v !== undefined && v <= 100) load.set(v)
            }}
          />
        </label>
      </div>
      <ul className="rules" aria-label="Rules now">
        {policy.rules.map((r) => (
          <li key={r.rule} data-testid="rule-state" data-rule={r.rule} data-status={r.status}>
            <strong>{RULE_LABEL[r.rule]}</strong> — {STATUS_LABEL[r.status] ?? r.status}:{' '}
            <span className="muted">{r.text}</span>
          </li>
        ))}
      </ul>
      <ErrorText error={error} />
    </section>
  )
}
