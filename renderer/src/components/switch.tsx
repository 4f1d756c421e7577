import { useId, type ReactNode } from 'react'

interface SwitchProps {
  checked: boolean
  onChange: (checked: boolean) => void
  /** The accessible name, and the visible label beside the switch. */
  label: string
  description?: ReactNode
  disabled?: boolean
  busy?: boolean
  size?: 'md' | 'lg'
  testId?: string
}

/** An on/off setting (role=switch): Space or Enter flips it, like any button. */
export function Switch({
  checked,
  onChange,
  label,
  description,
  disabled,
  busy,
  size = 'md',
  testId,
}: SwitchProps) {
  const id = useId()
  return (
    <div className={`switch-row switch-${size}`}>
      <div className="switch-text">
        <span id={`${id}-label`} className="switch-label">
          {label}
        </span>
        {description && (
          <span id={`${id}-desc`} className="switch-desc">
            {description}
          </span>
        )}
      </div>
      <button
        type="button"
        role="switch"
        className="switch"
        aria-checked={checked}
        aria-labelledby={`${id}-label`}
        aria-describedby={description ? `${id}-desc` : undefined}
        aria-busy={busy || undefined}
        disabled={disabled}
        data-testid={testId}
        onClick={() => onChange(!checked)}
      >
        <span className="switch-thumb" />
      </button>
    </div>
  )
}
