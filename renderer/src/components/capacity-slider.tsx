// One resource the owner lends. The thumb follows the pointer at once; the core hears about a
// drag only when it pauses or ends (a PDS-backed offer should not be rewritten 60 times a
// second), and about a key press immediately, since each press is a deliberate step.
import { useEffect, useId, useRef, useState, type CSSProperties, type ReactNode } from 'react'

interface CapacitySliderProps {
  /** Visible heading, e.g. "CPU". */
  label: string
  /** The range input's accessible name, e.g. "CPU to lend". */
  ariaLabel: string
  icon: ReactNode
  testId: string
  /** What the core confirmed (or the user's choice still on its way). */
  value: number
  min: number
  max: number
  step: number
  /** Everything on the machine uses this much right now, guests included. */
  used: number
  /** Guests and open bids hold this much of the offer. */
  committed: number
  /** The number alone in display units ("2.5"), and the unit ("cores"). */
  format: (v: number) => string
  unit: string
  onCommit: (value: number) => void
  disabled?: boolean
  busy?: boolean
  children?: ReactNode
}

const DRAG_SETTLE_MS = 250

export function CapacitySlider({
  label,
  ariaLabel,
  icon,
  testId,
  value,
  min,
  max,
  step,
  used,
  committed,
  format,
  unit,
  onCommit,
  disabled,
  busy,
  children,
}: CapacitySliderProps) {
  const id = useId()
  const [local, setLocal] = useState<number>()
  const dragging = useRef(false)
  const timer = useRef<number | undefined>(undefined)
  const latest = useRef<number | undefined>(undefined)
  const commitRef = useRef(onCommit)
  useEffect(() => {
    commitRef.current = onCommit
  })

  const flush = () => {
    window.clearTimeout(timer.current)
    timer.current = undefined
    if (latest.current !== undefined) commitRef.current(latest.current)
    latest.current = undefined
  }

  // The pointer may be released anywhere on the page, not only over the slider.
  useEffect(() => {
    const up = () => {
      if (!dragging.current) return
      dragging.current = false
      flush()
      setLocal(undefined)
    }
    window.addEventListener('pointerup', up)
    window.addEventListener('pointercancel', up)
    return () => {
      window.removeEventListener('pointerup', up)
      window.removeEventListener('pointercancel', up)
      window.clearTimeout(timer.current)
    }
  }, [])

  const change = (v: number) => {
    if (dragging.current) {
      setLocal(v)
      latest.current = v
      window.clearTimeout(timer.current)
      timer.current = window.setTimeout(flush, DRAG_SETTLE_MS)
    } else {
      setLocal(undefined)
      commitRef.current(v)
    }
  }

  const usable = max >= min && max > 0
  const shown = Math.min(max, Math.max(min, local ?? value))
  const span = Math.max(1, max)
  const pct = (n: number) => `${Math.min(100, Math.max(0, (n / span) * 100))}%`
  // Where the thumb sits: the range runs from min, not from zero.
  const fill = usable && max > min ? (shown - min) / (max - min) : 0

  return (
    <div className="slider" data-busy={busy || undefined}>
      <div className="slider-head">
        <span className="slider-icon" aria-hidden="true">
          {icon}
        </span>
        <label htmlFor={id} className="slider-label">
          {label}
        </label>
        <output htmlFor={id} className="slider-value" aria-live="off">
          <strong>{format(shown)}</strong>
          <span className="muted">
            {' '}
            of {format(max)} {unit}
          </span>
        </output>
      </div>
      <div className="range-wrap" style={{ '--fill': fill.toFixed(4) } as CSSProperties}>
        <input
          id={id}
          type="range"
          className="range"
          aria-label={ariaLabel}
          aria-valuetext={`${format(shown)} of ${format(max)} ${unit}`}
          aria-describedby={`${id}-usage`}
          data-testid={testId}
          min={min}
          max={usable ? max : min}
          step={step}
          value={shown}
          disabled={disabled || !usable}
          onPointerDown={() => {
            dragging.current = true
          }}
          onChange={(e) => change(Number(e.target.value))}
          onBlur={() => {
            if (!dragging.current) flush()
          }}
        />
      </div>
      <div className="usage" aria-hidden="true">
        <span className="usage-used" style={{ width: pct(used) }} />
        <span className="usage-committed" style={{ width: pct(Math.min(committed, shown)) }} />
      </div>
      <p id={`${id}-usage`} className="usage-legend">
        <span className="legend-item">
          <span className="swatch swatch-used" aria-hidden="true" />
          In use on this machine: {format(used)} {unit}
        </span>
        <span className="legend-item">
          <span className="swatch swatch-committed" aria-hidden="true" />
          Held by guests: {format(committed)} {unit}
        </span>
      </p>
      {children}
    </div>
  )
}
