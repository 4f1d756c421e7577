import type { Phase } from '../../../core/api.js'

export const PHASE_LABEL: Record<Phase, string> = {
  'signed-out': 'Signed out',
  'needs-meshlet': 'Setting up',
  starting: 'Starting',
  lending: 'Lending',
  paused: 'Paused',
  offline: 'Offline',
  error: 'Needs attention',
}

/** The phase as a coloured pill; the `detail` sentence sits beside it when there is one. */
export function PhaseBadge({ phase, detail }: { phase: Phase; detail?: string }) {
  return (
    <div className="phase" data-testid="phase-badge" data-phase={phase}>
      <span className={`badge badge-${phase}`}>
        <span className="badge-dot" aria-hidden="true" />
        {PHASE_LABEL[phase]}
      </span>
      {detail && (
        <span className="phase-detail" data-testid="phase-detail">
          {detail}
        </span>
      )}
    </div>
  )
}
