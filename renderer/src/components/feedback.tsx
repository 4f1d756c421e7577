// The small pieces every screen uses to say how things stand: banners, inline errors, empty
// states, spinners.
import type { ReactNode } from 'react'
import type { ApiError } from '../api/errors.js'
import { ErrorIcon, InfoIcon, WarnIcon } from './icons.js'

type Tone = 'info' | 'warn' | 'error'

const TONE_ICON = { info: InfoIcon, warn: WarnIcon, error: ErrorIcon }

export function Banner({
  tone,
  title,
  children,
  action,
  testId,
}: {
  tone: Tone
  title: ReactNode
  children?: ReactNode
  action?: ReactNode
  testId?: string
}) {
  const Icon = TONE_ICON[tone]
  // Errors interrupt (alert); everything else is announced when the reader is idle (status).
  return (
    <div
      className={`banner banner-${tone}`}
      role={tone === 'error' ? 'alert' : 'status'}
      data-testid={testId}
    >
      <Icon size={18} />
      <div className="banner-body">
        <strong className="banner-title">{title}</strong>
        {children && <div className="banner-text">{children}</div>}
      </div>
      {action && <div className="banner-action">{action}</div>}
    </div>
  )
}

/** A failed call, inline where it was made: the core's sentence, and its code for support. */
export function ErrorText({ error, id }: { error: ApiError | undefined; id?: string }) {
  if (!error) return null
  return (
    <p className="error-text" role="alert" id={id} data-testid="api-error" data-code={error.code}>
      <ErrorIcon size={16} />
      <span>
        {error.message} <span className="error-code">({error.code})</span>
      </span>
    </p>
  )
}

export function EmptyState({
  icon,
  title,
  children,
}: {
  icon: ReactNode
  title: string
  children?: ReactNode
}) {
  return (
    <div className="empty" data-testid="empty-state">
      <div className="empty-icon">{icon}</div>
      <p className="empty-title">{title}</p>
      {children && <div className="empty-text">{children}</div>}
    </div>
  )
}

export function Spinner({ label }: { label?: string }) {
  return (
    <span className="spinner" role={label ? 'status' : undefined} aria-label={label}>
      <span className="spinner-ring" aria-hidden="true" />
    </span>
  )
}
