// Destructive actions ask first, in a modal <dialog>: the browser traps focus, closes it on
// Escape and hands focus back to the button that opened it.
import { useEffect, useId, useRef, useState, type ReactNode } from 'react'
import { useAction } from '../state/hooks.js'
import { ErrorText, Spinner } from './feedback.js'

interface ConfirmActionProps {
  /** The trigger's accessible name, e.g. "Remove alice.test". */
  label: string
  /** What the trigger shows; defaults to the label. */
  trigger?: ReactNode
  triggerClassName?: string
  /** The dialog's title (and accessible name), e.g. "Remove alice.test?". */
  title: string
  children: ReactNode
  /** The confirming button's text, e.g. "Remove". */
  confirmLabel: string
  onConfirm: () => Promise<unknown>
  disabled?: boolean
}

export function ConfirmAction({
  label,
  trigger,
  triggerClassName = 'btn btn-quiet btn-sm',
  title,
  children,
  confirmLabel,
  onConfirm,
  disabled,
}: ConfirmActionProps) {
  const [open, setOpen] = useState(false)
  const ref = useRef<HTMLDialogElement>(null)
  const id = useId()
  const action = useAction(onConfirm)
  const { clearError } = action

  useEffect(() => {
    const dialog = ref.current
    if (!dialog) return
    if (open && !dialog.open) dialog.showModal()
    if (!open && dialog.open) dialog.close()
  }, [open])

  const close = () => {
    setOpen(false)
    clearError()
  }

  const confirm = async () => {
    // On failure the dialog stays open and says why.
    if ((await action.run()).ok) setOpen(false)
  }

  return (
    <>
      <button
        type="button"
        className={triggerClassName}
        aria-label={trigger ? label : undefined}
        title={trigger ? label : undefined}
        disabled={disabled}
        onClick={() => setOpen(true)}
      >
        {trigger ?? label}
      </button>
      <dialog
        ref={ref}
        className="dialog"
        aria-labelledby={`${id}-title`}
        aria-describedby={`${id}-body`}
        onCancel={(e) => {
          e.preventDefault()
          if (!action.pending) close()
        }}
        onClick={(e) => {
          // A click on the backdrop lands on the <dialog> itself.
          if (e.target === e.currentTarget && !action.pending) close()
        }}
      >
        {open && (
          <div className="dialog-inner">
            <h2 id={`${id}-title`} className="dialog-title">
              {title}
            </h2>
            <div id={`${id}-body`} className="dialog-body">
              {children}
            </div>
            <ErrorText error={action.error} />
            <div className="dialog-actions">
              <button type="button" className="btn btn-secondary" onClick={close} autoFocus>
                Cancel
              </button>
              <button
                type="button"
                className="btn btn-danger"
                disabled={action.pending}
                onClick={confirm}
              >
                {action.pending && <Spinner />}
                {confirmLabel}
              </button>
            </div>
          </div>
        )}
      </dialog>
    </>
  )
}
