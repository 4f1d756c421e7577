import { useId, type InputHTMLAttributes, type ReactNode } from 'react'

interface FieldProps extends Omit<InputHTMLAttributes<HTMLInputElement>, 'id'> {
  label: string
  hint?: ReactNode
  error?: string
  /** Text shown inside the field's right edge, like a unit. */
  suffix?: string
}

/** A labelled input whose hint and error are wired to it (aria-describedby, aria-invalid). */
export function Field({ label, hint, error, suffix, className, ...input }: FieldProps) {
  const id = useId()
  // The error replaces the hint while there is one, so only one of them describes the input.
  const described = error ? `${id}-error` : hint ? `${id}-hint` : undefined
  return (
    <div className={`field ${className ?? ''}`}>
      <label htmlFor={id} className="field-label">
        {label}
      </label>
      <div className={`input-wrap ${suffix ? 'has-suffix' : ''}`}>
        <input
          id={id}
          className="input"
          aria-invalid={error ? true : undefined}
          aria-describedby={described}
          {...input}
        />
        {suffix && (
          <span className="input-suffix" aria-hidden="true">
            {suffix}
          </span>
        )}
      </div>
      {error ? (
        <p id={`${id}-error`} className="field-error" data-testid="field-error">
          {error}
        </p>
      ) : (
        hint && (
          <p id={`${id}-hint`} className="field-hint">
            {hint}
          </p>
        )
      )}
    </div>
  )
}
