import type { ActivityItem, DashboardState } from '../../../core/api.js'
import { EmptyState } from '../components/feedback.js'
import { ActivityIcon, ErrorIcon, InfoIcon, WarnIcon } from '../components/icons.js'
import { formatDateTime, formatRelative, formatWhen } from '../lib/format.js'
import { useNow } from '../state/hooks.js'

const LEVEL = {
  info: { Icon: InfoIcon, label: 'Info' },
  warn: { Icon: WarnIcon, label: 'Warning' },
  error: { Icon: ErrorIcon, label: 'Error' },
} as const

export function Activity({ state }: { state: DashboardState }) {
  const now = useNow(30_000)
  // Newest first, whatever order the core keeps them in.
  const items = [...state.activity].sort((a, b) => b.id - a.id)
  return (
    <section className="card" aria-labelledby="activity-title">
      <div className="card-head">
        <h2 id="activity-title">Recent activity</h2>
        <p className="card-sub">What this meshlet did and saw, newest first.</p>
      </div>
      {items.length === 0 ? (
        <EmptyState icon={<ActivityIcon size={28} />} title="Nothing has happened yet">
          Bids, placements and sign-ins show up here as they happen.
        </EmptyState>
      ) : (
        <ol className="activity" aria-label="Activity">
          {items.map((item) => (
            <ActivityRow key={item.id} item={item} now={now} />
          ))}
        </ol>
      )}
    </section>
  )
}

function ActivityRow({ item, now }: { item: ActivityItem; now: number }) {
  const { Icon, label } = LEVEL[item.level]
  return (
    <li
      className={`activity-row level-${item.level}`}
      data-testid="activity-row"
      data-level={item.level}
    >
      <span className="activity-icon" role="img" aria-label={label}>
        <Icon size={16} />
      </span>
      <p className="activity-text">{item.text}</p>
      <time className="activity-time" dateTime={item.at} title={formatDateTime(item.at)}>
        <span className="sr-only">{formatRelative(item.at, now)}, </span>
        {formatWhen(item.at, now)}
      </time>
    </li>
  )
}
