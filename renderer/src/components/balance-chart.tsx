// Balances over time as a plain SVG line chart: no chart library (none is needed for a few
// lines, and the CSP forbids the inline styles most of them write). Screen readers get a
// summary as the image's name and the numbers as a table beside it.
import {
  useEffect,
  useId,
  useMemo,
  useRef,
  useState,
  type CSSProperties,
  type PointerEvent,
  type RefObject,
} from 'react'
import type { BalancesView } from '../../../core/api.js'
import {
  formatAxisUnits,
  formatDateTime,
  formatDay,
  formatShortDateTime,
  formatSignedUnits,
  formatTime,
} from '../lib/format.js'

const HEIGHT = 240
const MARGIN = { top: 14, right: 18, bottom: 30, left: 52 }
const SERIES_COLOURS = 8

interface Series {
  did: string
  name: string
  colour: number
  /** One value per history sample; undefined where the member was not in that sample. */
  values: (number | undefined)[]
}

function niceStep(range: number, count: number): number {
  const raw = range / Math.max(1, count)
  const mag = 10 ** Math.floor(Math.log10(raw))
  const norm = raw / mag
  return (norm < 1.5 ? 1 : norm < 3 ? 2 : norm < 7 ? 5 : 10) * mag
}

const HOUR = 3_600_000
const DAY = 24 * HOUR
const TIME_STEPS = [
  5 * 60_000,
  15 * 60_000,
  30 * 60_000,
  HOUR,
  2 * HOUR,
  3 * HOUR,
  6 * HOUR,
  12 * HOUR,
  DAY,
  2 * DAY,
  7 * DAY,
  14 * DAY,
  30 * DAY,
]

/** Ticks on round local times (midnight, noon, whole hours), labelled with a date at midnight
 *  and a time otherwise, so a two-day history does not read "Nov 28, Nov 28, Nov 29". */
export function timeTicks(t0: number, t1: number, max: number): { t: number; label: string }[] {
  if (t1 <= t0) return [{ t: t0, label: formatDay(t0) }]
  const step = TIME_STEPS.find((s) => (t1 - t0) / s <= max) ?? (TIME_STEPS.at(-1) as number)
  const start = new Date(t0)
  start.setHours(0, 0, 0, 0)
  const ticks: { t: number; label: string }[] = []
  if (step >= DAY) {
    const days = step / DAY
    for (const d = start; d.getTime() <= t1; d.setDate(d.getDate() + days)) {
      if (d.getTime() >= t0) ticks.push({ t: d.getTime(), label: formatDay(d.getTime()) })
    }
  } else {
    for (let t = start.getTime(); t <= t1; t += step) {
      if (t < t0) continue
      const d = new Date(t)
      const midnight = d.getHours() === 0 && d.getMinutes() === 0
      ticks.push({ t, label: midnight ? formatDay(t) : formatTime(t) })
    }
  }
  return ticks
}

function useWidth<T extends HTMLElement>(): [RefObject<T | null>, number] {
  const ref = useRef<T>(null)
  const [width, setWidth] = useState(600)
  useEffect(() => {
    const el = ref.current
    if (!el) return
    const observer = new ResizeObserver(([entry]) => {
      if (entry) setWidth(Math.max(240, Math.floor(entry.contentRect.width)))
    })
    observer.observe(el)
    return () => observer.disconnect()
  }, [])
  return [ref, width]
}

export function BalanceChart({
  history,
  names,
}: {
  history: BalancesView['history']
  /** DID → what to call them, in the order the legend lists them. */
  names: Map<string, string>
}) {
  const id = useId()
  const [wrapRef, width] = useWidth<HTMLDivElement>()
  const [hover, setHover] = useState<number>()

  const times = useMemo(() => history.map((h) => Date.parse(h.at)), [history])
  const series = useMemo<Series[]>(() => {
    const dids = [...names.keys()]
    for (const h of history)
      for (const did of Object.keys(h.balances)) {
        if (!dids.includes(did)) dids.push(did)
      }
    return dids
      .filter((did) => history.some((h) => h.balances[did] !== undefined))
      .map((did, i) => ({
        did,
        name: names.get(did) ?? did,
        colour: i % SERIES_COLOURS,
        values: history.map((h) => h.balances[did]),
      }))
  }, [history, names])

  const all = series.flatMap((s) => s.values.filter((v): v is number => v !== undefined))
  const lo = Math.min(0, ...all)
  const hi = Math.max(0, ...all)
  const step = niceStep(hi - lo || 1000, 4)
  const yMin = Math.floor(lo / step) * step
  const yMax = Math.max(Math.ceil(hi / step) * step, yMin + step)
  const yTicks: number[] = []
  for (let v = yMin; v <= yMax + step / 2; v += step) yTicks.push(v)

  const t0 = times[0] ?? 0
  const t1 = times[times.length - 1] ?? t0
  const plotW = width - MARGIN.left - MARGIN.right
  const plotH = HEIGHT - MARGIN.top - MARGIN.bottom
  const x = (t: number) => MARGIN.left + (t1 === t0 ? plotW / 2 : ((t - t0) / (t1 - t0)) * plotW)
  const y = (v: number) => MARGIN.top + plotH - ((v - yMin) / (yMax - yMin)) * plotH

  const xTicks = timeTicks(t0, t1, Math.max(2, Math.floor(plotW / 90)))

  const path = (s: Series) => {
    let d = ''
    let open = false
    s.values.forEach((v, i) => {
      if (v === undefined) {
        open = false
        return
      }
      d += `${open ? 'L' : 'M'}${x(times[i] ?? t0).toFixed(1)},${y(v).toFixed(1)}`
      open = true
    })
    return d
  }

  const last = history.length - 1
  const summary =
    `Line chart of balances over time, from ${formatDateTime(history[0]?.at ?? '')} to ` +
    `${formatDateTime(history[last]?.at ?? '')}. Latest: ` +
    series
      .map((s) => {
        const v = [...s.values].reverse().find((n) => n !== undefined)
        return `${s.name} ${v === undefined ? 'none' : `${formatSignedUnits(v)} units`}`
      })
      .join(', ') +
    '.'

  const onMove = (e: PointerEvent<SVGSVGElement>) => {
    const box = e.currentTarget.getBoundingClientRect()
    const px = ((e.clientX - box.left) / box.width) * width
    let best = 0
    for (let i = 1; i < times.length; i++) {
      if (Math.abs(x(times[i] ?? 0) - px) < Math.abs(x(times[best] ?? 0) - px)) best = i
    }
    setHover(best)
  }

  const hoverX = hover !== undefined ? x(times[hover] ?? t0) : 0
  const tipStyle = { '--tip-x': `${hoverX}px` } as CSSProperties

  return (
    <figure className="chart" data-testid="balance-chart">
      <div className="chart-plot" ref={wrapRef}>
        <svg
          role="img"
          aria-label={summary}
          width={width}
          height={HEIGHT}
          viewBox={`0 0 ${width} ${HEIGHT}`}
          onPointerMove={onMove}
          onPointerLeave={() => setHover(undefined)}
        >
          <g className="chart-grid">
            {yTicks.map((v) => (
              <g key={v}>
                <line
                  x1={MARGIN.left}
                  x2={width - MARGIN.right}
                  y1={y(v)}
                  y2={y(v)}
                  className={v === 0 ? 'chart-zero' : undefined}
                />
                <text x={MARGIN.left - 8} y={y(v)} dy="0.32em" textAnchor="end">
                  {formatAxisUnits(v)}
                </text>
              </g>
            ))}
            {xTicks.map((tick) => {
              const at = x(tick.t)
              // Labels near an edge grow inwards rather than off the chart.
              const anchor =
                at - MARGIN.left < 28 ? 'start' : width - MARGIN.right - at < 28 ? 'end' : 'middle'
              return (
                <text key={tick.t} x={at} y={HEIGHT - 8} textAnchor={anchor}>
                  {tick.label}
                </text>
              )
            })}
          </g>
          {series.map((s) => (
            <g key={s.did} className={`series series-${s.colour}`}>
              <path d={path(s)} className="series-line" />
              {s.values.map((v, i) =>
                v !== undefined && (i === last || history.length === 1 || i === hover) ? (
                  <circle
                    key={i}
                    cx={x(times[i] ?? t0)}
                    cy={y(v)}
                    r={i === hover ? 4 : 3}
                    className="series-dot"
                  />
                ) : null,
              )}
            </g>
          ))}
          {hover !== undefined && (
            <line
              className="chart-cursor"
              x1={hoverX}
              x2={hoverX}
              y1={MARGIN.top}
              y2={MARGIN.top + plotH}
            />
          )}
        </svg>
        {hover !== undefined && history[hover] && (
          <div
            className={`chart-tip ${hoverX > width / 2 ? 'flip' : ''}`}
            style={tipStyle}
            aria-hidden="true"
          >
            <p className="chart-tip-time">{formatShortDateTime(history[hover].at)}</p>
            {series.map((s) => {
              const v = s.values[hover]
              return v === undefined ? null : (
                <p key={s.did} className="chart-tip-row">
                  <span className={`swatch series-bg-${s.colour}`} />
                  <span className="chart-tip-name">{s.name}</span>
                  <span className="num">{formatSignedUnits(v)}</span>
                </p>
              )
            })}
          </div>
        )}
      </div>
      <figcaption>
        <ul className="legend" aria-label="Chart legend">
          {series.map((s) => (
            <li key={s.did}>
              <span className={`swatch series-bg-${s.colour}`} aria-hidden="true" />
              {s.name}
            </li>
          ))}
        </ul>
      </figcaption>
      <details className="disclosure chart-table">
        <summary>Show the numbers as a table</summary>
        <div className="table-scroll">
          <table className="table" aria-labelledby={`${id}-caption`}>
            <caption id={`${id}-caption`} className="sr-only">
              Balances over time, in units
            </caption>
            <thead>
              <tr>
                <th scope="col">Time</th>
                {series.map((s) => (
                  <th key={s.did} scope="col" className="num">
                    {s.name}
                  </th>
                ))}
              </tr>
            </thead>
            <tbody>
              {history.map((h, i) => (
                <tr key={`${h.at}-${i}`}>
                  <th scope="row">{formatDateTime(h.at)}</th>
                  {series.map((s) => {
                    const v = s.values[i]
                    return (
                      <td key={s.did} className="num">
                        {v === undefined ? '—' : formatSignedUnits(v)}
                      </td>
                    )
                  })}
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      </details>
    </figure>
  )
}
