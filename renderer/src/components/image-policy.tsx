// The lender's image policy in Overview → Settings: which registries guests' images may come
// from, and how large an image this machine pulls. Both are published, so an owner whose
// workload gets no bid from here sees why (`meshlet status`, My workloads).
import { useState, type FormEvent } from 'react'
import type { Settings } from '../../../core/api.js'
import { ErrorText } from './feedback.js'
import { useAction, useApi } from '../state/hooks.js'

/** "ghcr.io, 127.0.0.1:5055" or one per line → hosts; the core checks each. */
export function splitHosts(text: string): string[] {
  return text
    .split(/[\s,]+/)
    .map((h) => h.trim())
    .filter((h) => h.length > 0)
}

export function ImagePolicySettings({ settings }: { settings: Settings }) {
  const client = useApi()
  const allowed = settings.allowRegistries
  const [hosts, setHosts] = useState(allowed?.join(', ') ?? '')
  const [size, setSize] = useState(
    settings.maxImageMiB === undefined ? '' : String(settings.maxImageMiB),
  )
  const saveHosts = useAction((allowRegistries: string[] | null) =>
    client.call('settings.set', { allowRegistries }),
  )
  const saveSize = useAction((maxImageMiB: number | null) =>
    client.call('settings.set', { maxImageMiB }),
  )
  const mib = Number(size)
  const sizeValid = /^\d+$/.test(size.trim()) && mib >= 1
  const submitHosts = (e: FormEvent) => {
    e.preventDefault()
    const list = splitHosts(hosts)
    if (list.length > 0) void saveHosts.run(list)
  }
  const submitSize = (e: FormEvent) => {
    e.preventDefault()
    if (sizeValid) void saveSize.run(mib)
  }
  return (
    <div className="switch-row image-policy" data-testid="image-policy">
      <div className="switch-text">
        <span className="switch-label">Images guests may use</span>
        <span className="switch-desc" data-testid="registries-state">
          {allowed === undefined
            ? 'From any registry.'
            : allowed.length === 0
              ? 'From no registry: this machine bids for nothing.'
              : `Only from ${allowed.join(', ')}. Other workloads get no bid, and their owners see why.`}
        </span>
        <form className="row" onSubmit={submitHosts}>
          <label>
            Allowed registries{' '}
            <input
              type="text"
              value={hosts}
              placeholder="docker.io, ghcr.io"
              onChange={(e) => setHosts(e.target.value)}
              data-testid="registries-input"
            />
          </label>
          <button
            type="submit"
            className="btn"
            disabled={splitHosts(hosts).length === 0 || saveHosts.pending}
          >
            Allow only these
          </button>
          <button
            type="button"
            className="btn btn-quiet"
            disabled={allowed === undefined || saveHosts.pending}
            onClick={() => {
              setHosts('')
              void saveHosts.run(null)
            }}
          >
            Any registry
          </button>
        </form>
        <span className="switch-desc" data-testid="image-size-state">
          {settings.maxImageMiB === undefined
            ? 'Images of any size.'
            : `Images up to ${settings.maxImageMiB} MiB to download; no bid for a larger one, or for one whose registry will not say how large it is.`}
        </span>
        <form className="row" onSubmit={submitSize}>
          <label>
            Largest image (MiB){' '}
            <input
              type="number"
              min={1}
              step={1}
              value={size}
              onChange={(e) => setSize(e.target.value)}
              data-testid="image-size-input"
            />
          </label>
          <button type="submit" className="btn" disabled={!sizeValid || saveSize.pending}>
            Set limit
          </button>
          <button
            type="button"
            className="btn btn-quiet"
            disabled={settings.maxImageMiB === undefined || saveSize.pending}
            onClick={() => {
              setSize('')
              void saveSize.run(null)
            }}
          >
            No limit
          </button>
        </form>
        <ErrorText error={saveHosts.error ?? saveSize.error} />
      </div>
    </div>
  )
}
