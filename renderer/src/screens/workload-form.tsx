// The workload form: the whole spec (image, command, resources, replicas, environment, storage,
// architecture, restart policy, maximum run time, network, secrets). It publishes a new workload,
// or, opened from a workload's Edit action, prefilled with its spec, a new version of it.
import { useId, useState, type ChangeEvent, type FormEvent } from 'react'
import {
  LIMITS,
  RESTART_MODES,
  type RestartMode,
  type WorkloadDraft,
  type WorkloadSpecView,
} from '../../../core/api.js'
import { Switch } from '../components/switch.js'
import { ErrorText, Spinner } from '../components/feedback.js'
import { Field } from '../components/field.js'
import { formatCores, formatMemory } from '../lib/format.js'
import { joinShellWords } from '../lib/shell-words.js'
import {
  ARCHITECTURES,
  RESTART_DEFAULTS,
  checkWorkload,
  type EnvRow,
  type FormErrors,
  type WorkloadField,
  type WorkloadForm,
} from '../lib/validate.js'
import { useAction, useApi } from '../state/hooks.js'

export const EMPTY_FORM: WorkloadForm = {
  image: '',
  cpuMillis: '500',
  memoryMiB: '256',
  replicas: '1',
  command: '',
  secrets: '',
  env: [],
  storageMiB: '',
  arch: '',
  restartMode: 'never',
  restartAttempts: RESTART_DEFAULTS.attempts,
  restartDelaySeconds: RESTART_DEFAULTS.delaySeconds,
  maxRuntimeSeconds: '',
  egress: false,
}

/** The form as the user would have filled it in to publish this spec. */
export function formFromSpec(spec: WorkloadSpecView): WorkloadForm {
  return {
    image: spec.image,
    cpuMillis: String(spec.cpuMillis),
    memoryMiB: String(spec.memoryMiB),
    replicas: String(spec.replicas),
    command: joinShellWords(spec.command),
    secrets: '',
    env: (spec.env ?? []).map((e) => ({ name: e.name, value: e.value })),
    storageMiB: spec.storageMiB !== undefined ? String(spec.storageMiB) : '',
    arch: spec.arch?.[0] ?? '',
    restartMode: spec.restart?.mode ?? 'never',
    restartAttempts: String(spec.restart?.maxAttempts ?? RESTART_DEFAULTS.attempts),
    restartDelaySeconds:
      spec.restart?.delayMs !== undefined
        ? String(Math.round(spec.restart.delayMs / 1000))
        : RESTART_DEFAULTS.delaySeconds,
    maxRuntimeSeconds: spec.maxRuntimeSeconds !== undefined ? String(spec.maxRuntimeSeconds) : '',
    egress: spec.egress ?? false,
  }
}

const RESTART_LABELS: Record<RestartMode, string> = {
  never: 'Never',
  'on-failure': 'On failure',
  always: 'Always',
}

/** What the form is for: a new workload, or a new version of a published one. */
export type FormTarget = { kind: 'new' } | { kind: 'edit'; uri: string; spec: WorkloadSpecView }

export function WorkloadEditor({ target, onDone }: { target: FormTarget; onDone?: () => void }) {
  const client = useApi()
  const editing = target.kind === 'edit'
  const [form, setForm] = useState<WorkloadForm>(() =>
    target.kind === 'edit' ? formFromSpec(target.spec) : EMPTY_FORM,
  )
  const [errors, setErrors] = useState<FormErrors>({})
  const [published, setPublished] = useState<string>()
  const publish = useAction((draft: WorkloadDraft) =>
    target.kind === 'edit'
      ? client.call('workloads.update', { uri: target.uri, draft })
      : client.call('workloads.submit', draft),
  )

  const set = <K extends WorkloadField>(field: K, value: WorkloadForm[K]) => {
    setForm((f) => ({ ...f, [field]: value }))
    setErrors((es) => ({ ...es, [field]: undefined, form: undefined }))
    setPublished(undefined)
  }
  const edit = (field: WorkloadField) => (e: ChangeEvent<HTMLInputElement | HTMLSelectElement>) =>
    set(field, e.target.value as never)

  const onSubmit = async (e: FormEvent<HTMLFormElement>) => {
    e.preventDefault()
    const formEl = e.currentTarget
    const check = checkWorkload(form)
    if (!check.ok) {
      setErrors(check.errors)
      // Take the keyboard to the first field that needs fixing, once it is marked.
      window.requestAnimationFrame(() =>
        formEl.querySelector<HTMLElement>('[aria-invalid="true"]')?.focus(),
      )
      return
    }
    setErrors({})
    const r = await publish.run(check.draft)
    if (r.ok) {
      setPublished(check.draft.image)
      if (editing) onDone?.()
      else setForm(EMPTY_FORM)
    }
  }

  const cpu = Number(form.cpuMillis)
  const memory = Number(form.memoryMiB)
  const mode = form.restartMode ?? 'never'
  const secretNames = target.kind === 'edit' ? (target.spec.secretNames ?? []) : []
  return (
    <section className="card" aria-labelledby="submit-title" data-testid="workload-editor">
      <div className="card-head">
        <h2 id="submit-title">{editing ? 'Edit workload' : 'Run a workload'}</h2>
        <p className="card-sub">
          {editing
            ? 'Publishes a new version: machines bid for it again, and replicas of the old version stop once it is placed.'
            : 'Published to your account; machines in your cluster with room for it bid to run it.'}
        </p>
      </div>
      <form
        className="workload-form"
        onSubmit={onSubmit}
        noValidate
        aria-describedby="submit-title"
      >
        <Field
          className="span-2"
          label="Image"
          name="image"
          placeholder="registry.example/app:1.2"
          autoCapitalize="none"
          autoComplete="off"
          spellCheck={false}
          maxLength={LIMITS.image}
          value={form.image}
          error={errors.image}
          onChange={edit('image')}
        />
        <Field
          label="CPU"
          name="cpu"
          inputMode="numeric"
          suffix="millicores"
          value={form.cpuMillis}
          error={errors.cpuMillis}
          hint={
            Number.isFinite(cpu) && cpu > 0 ? `= ${formatCores(cpu)}` : '1000 millicores = 1 core'
          }
          onChange={edit('cpuMillis')}
        />
        <Field
          label="Memory"
          name="memory"
          inputMode="numeric"
          suffix="MiB"
          value={form.memoryMiB}
          error={errors.memoryMiB}
          hint={
            Number.isFinite(memory) && memory >= 1024
              ? `= ${formatMemory(memory)}`
              : `At least ${LIMITS.minMemoryMiB} MiB`
          }
          onChange={edit('memoryMiB')}
        />
        <Field
          label="Replicas"
          name="replicas"
          inputMode="numeric"
          value={form.replicas}
          error={errors.replicas}
          hint={`Each on a different machine; up to ${LIMITS.replicas}`}
          onChange={edit('replicas')}
        />
        <Field
          label="Storage"
          name="storage"
          inputMode="numeric"
          suffix="MiB"
          placeholder="64"
          value={form.storageMiB ?? ''}
          error={errors.storageMiB}
          hint="Optional. Scratch space for the replica; 64 MiB when empty."
          onChange={edit('storageMiB')}
        />
        <SelectField
          label="Architecture"
          name="arch"
          value={form.arch ?? ''}
          error={errors.arch}
          hint="The CPU the image is built for; only such machines bid."
          onChange={edit('arch')}
          options={[['', 'Any'], ...ARCHITECTURES.map((a) => [a, a] as [string, string])]}
        />
        <Field
          label="Maximum run time"
          name="maxRuntime"
          inputMode="numeric"
          suffix="seconds"
          placeholder="no limit"
          value={form.maxRuntimeSeconds ?? ''}
          error={errors.maxRuntimeSeconds}
          hint="Optional. A replica running longer is stopped and marked as past its limit."
          onChange={edit('maxRuntimeSeconds')}
        />
        <Field
          className="span-2"
          label="Command"
          name="command"
          placeholder={`sh -c 'echo hello from the commune'`}
          autoCapitalize="none"
          autoComplete="off"
          spellCheck={false}
          value={form.command}
          error={errors.command}
          hint="Optional. Split into words like a shell does; quotes keep spaces. Nothing is expanded."
          onChange={edit('command')}
        />
        <SelectField
          label="Restart"
          name="restart"
          value={mode}
          error={undefined}
          hint={
            mode === 'never'
              ? 'A replica that ends is not placed again.'
              : mode === 'on-failure'
                ? 'A replica that fails is placed again, after a back-off that doubles each time.'
                : 'A replica that ends for any reason is placed again, after a back-off.'
          }
          onChange={edit('restartMode')}
          options={RESTART_MODES.map((m) => [m, RESTART_LABELS[m]] as [string, string])}
        />
        {mode !== 'never' && (
          <>
            <Field
              label="Attempts"
              name="restartAttempts"
              inputMode="numeric"
              value={form.restartAttempts ?? ''}
              error={errors.restartAttempts}
              hint="New placements after failures before giving up."
              onChange={edit('restartAttempts')}
            />
            <Field
              label="Back-off delay"
              name="restartDelay"
              inputMode="numeric"
              suffix="seconds"
              value={form.restartDelaySeconds ?? ''}
              error={errors.restartDelaySeconds}
              hint="Before the first new placement; doubles after each further failure."
              onChange={edit('restartDelaySeconds')}
            />
          </>
        )}
        <EnvRows
          rows={form.env ?? []}
          error={errors.env}
          badRow={errors.envRow}
          onChange={(rows) => set('env', rows)}
        />
        {editing ? (
          secretNames.length > 0 && (
            <p className="span-2 field-hint" data-testid="secrets-kept">
              Secrets kept as published: {secretNames.join(', ')}.
            </p>
          )
        ) : (
          <SecretsField
            value={form.secrets ?? ''}
            error={errors.secrets}
            onChange={(v) => set('secrets', v)}
          />
        )}
        <div className="span-2">
          <Switch
            label="Needs network access"
            description="Only machines whose owners allow guests on the network will bid for it."
            checked={form.egress ?? false}
            onChange={(v) => set('egress', v)}
          />
        </div>
        <div className="form-footer span-2">
          {errors.form && (
            <p className="error-text" role="alert" data-testid="form-error">
              {errors.form}
            </p>
          )}
          <ErrorText error={publish.error} />
          {published && !editing && (
            <p className="success-text" role="status">
              Published {published}. Machines are bidding for it.
            </p>
          )}
          {editing && (
            <button type="button" className="btn btn-secondary" onClick={() => onDone?.()}>
              Cancel
            </button>
          )}
          <button type="submit" className="btn btn-primary" disabled={publish.pending}>
            {publish.pending && <Spinner />}
            {editing ? 'Publish new version' : 'Submit workload'}
          </button>
        </div>
      </form>
    </section>
  )
}

function SelectField(props: {
  label: string
  name: string
  value: string
  error: string | undefined
  hint: string
  options: [string, string][]
  onChange: (e: ChangeEvent<HTMLSelectElement>) => void
}) {
  const id = useId()
  const described = props.error ? `${id}-error` : `${id}-hint`
  return (
    <div className="field">
      <label htmlFor={id} className="field-label">
        {props.label}
      </label>
      <div className="input-wrap">
        <select
          id={id}
          name={props.name}
          className="input"
          aria-invalid={props.error ? true : undefined}
          aria-describedby={described}
          value={props.value}
          onChange={props.onChange}
        >
          {props.options.map(([value, label]) => (
            <option key={value} value={value}>
              {label}
            </option>
          ))}
        </select>
      </div>
      {props.error ? (
        <p id={`${id}-error`} className="field-error" data-testid="field-error">
          {props.error}
        </p>
      ) : (
        <p id={`${id}-hint`} className="field-hint">
          {props.hint}
        </p>
      )}
    </div>
  )
}

/** Plain environment variables, one NAME / VALUE row each. They are published in the record:
 *  the hint says to use secrets for anything private. */
function EnvRows(props: {
  rows: EnvRow[]
  error: string | undefined
  badRow: number | undefined
  onChange: (rows: EnvRow[]) => void
}) {
  const id = useId()
  const { rows } = props
  const change = (i: number, key: keyof EnvRow, value: string) =>
    props.onChange(rows.map((r, j) => (j === i ? { ...r, [key]: value } : r)))
  return (
    <fieldset className="field span-2 env-rows" aria-describedby={`${id}-note`}>
      <legend className="field-label">Environment variables</legend>
      {rows.map((r, i) => (
        <div className="env-row" key={i} data-testid="env-row">
          <input
            className="input mono"
            aria-label={`Variable ${i + 1} name`}
            placeholder="NAME"
            autoCapitalize="none"
            autoComplete="off"
            spellCheck={false}
            maxLength={LIMITS.envName}
            aria-invalid={props.error && props.badRow === i ? true : undefined}
            value={r.name}
            onChange={(e) => change(i, 'name', e.target.value)}
          />
          <span aria-hidden="true">=</span>
          <input
            className="input mono"
            aria-label={`Variable ${i + 1} value`}
            placeholder="value"
            autoCapitalize="none"
            autoComplete="off"
            spellCheck={false}
            value={r.value}
            onChange={(e) => change(i, 'value', e.target.value)}
          />
          <button
            type="button"
            className="btn btn-secondary btn-sm"
            aria-label={`Remove variable ${i + 1}`}
            onClick={() => props.onChange(rows.filter((_, j) => j !== i))}
          >
            Remove
          </button>
        </div>
      ))}
      <div>
        <button
          type="button"
          className="btn btn-secondary btn-sm"
          disabled={rows.length >= LIMITS.env}
          onClick={() => props.onChange([...rows, { name: '', value: '' }])}
        >
          Add variable
        </button>
      </div>
      {props.error ? (
        <p id={`${id}-note`} className="field-error" data-testid="field-error" role="alert">
          {props.error}
        </p>
      ) : (
        <p id={`${id}-note`} className="field-hint">
          Optional. Published with the workload for anyone to read: put private values under
          secrets.
        </p>
      )}
    </fieldset>
  )
}

/** Secret environment variables: sealed to the machines that may run the workload (core/sealing),
 *  never published in plain text. A textarea: one NAME=VALUE per line. */
function SecretsField(props: {
  value: string
  error?: string | undefined
  onChange: (v: string) => void
}) {
  const id = useId()
  const described = props.error ? `${id}-error` : `${id}-hint`
  return (
    <div className="field span-2">
      <label htmlFor={id} className="field-label">
        Secrets
      </label>
      <div className="input-wrap">
        <textarea
          id={id}
          name="secrets"
          className="input"
          rows={2}
          autoCapitalize="none"
          autoComplete="off"
          spellCheck={false}
          placeholder="API_TOKEN=…"
          aria-invalid={props.error ? true : undefined}
          aria-describedby={described}
          value={props.value}
          onChange={(e) => props.onChange(e.target.value)}
        />
      </div>
      {props.error ? (
        <p id={`${id}-error`} className="field-error" data-testid="field-error">
          {props.error}
        </p>
      ) : (
        <p id={`${id}-hint`} className="field-hint">
          Optional. One NAME=VALUE per line. Sealed to the machines that may run it and passed to
          the guest as environment variables; never published in plain text.
        </p>
      )}
    </div>
  )
}
