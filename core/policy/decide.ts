// The lending policy as a pure function: the lender's rules, what the policy remembers, and one
// set of readings (time, idle, battery, host load) in; lend, throttle or pause out, with the rule
// that decided it and the memory for the next call. No clock and no I/O: the runner (runner.ts)
// samples the readings and applies the decision.
//
// Hysteresis, so a laptop does not flap between lending and not:
// - a rule trips only when its condition persists: `tripAfterMs` for battery, quiet hours and
//   host load; for the idle rule, input that keeps coming for `inUseAfterMs` (a one-second mouse
//   touch never drains guests; a pause in input longer than `inUseGapMs` starts over);
// - a tripped rule releases only after it has held for `minHoldMs` and its condition has been
//   clear for `releaseAfterMs` (the idle rule: N idle minutes, which is its own hysteresis);
// - no rule releases while another rule's condition is building up (pending), so lending does
//   not resume only to stop again a few seconds later;
// - after any change of the action, no rule trips before its trip time has passed again.
// A rule's first reading, or a change of its settings, decides at once: there is nothing to flap
// from, and a lender who sets quiet hours expects them to apply now.
import { formatClock, inWindow, type PolicyRules } from './rules.js'

export type PolicyAction = 'lend' | 'throttle' | 'pause'
export type RuleName = 'idle' | 'battery' | 'quiet-hours' | 'host-load'
/** The order reasons are given in when several rules hold lending back. */
export const RULE_NAMES: readonly RuleName[] = ['idle', 'quiet-hours', 'battery', 'host-load']

export interface Readings {
  /** Epoch ms. */
  at: number
  /** The local clock, minutes after midnight (quiet hours are local). */
  minuteOfDay: number
  /** Seconds since the last keyboard or mouse input; undefined: cannot be read. */
  idleSeconds?: number
  onBattery?: boolean
  /** 0..100; undefined: not known. */
  batteryPercent?: number
  /** This machine's own CPU load, guests excluded, 0..100; undefined: not known. */
  hostLoadPercent?: number
}

export interface Hysteresis {
  minHoldMs: number
  tripAfterMs: number
  releaseAfterMs: number
  inUseAfterMs: number
  inUseGapMs: number
}

export const DEFAULT_HYSTERESIS: Hysteresis = {
  minHoldMs: 60_000,
  tripAfterMs: 10_000,
  releaseAfterMs: 30_000,
  inUseAfterMs: 10_000,
  inUseGapMs: 30_000,
}

/** What the policy keeps about one rule between calls. */
export interface RuleMemory {
  /** The rule's settings when last seen: a change decides afresh. */
  key: string
  tripped: boolean
  /** When it last tripped or released. */
  since: number
  /** Not tripped: since when its condition has held (idle rule: the first input of an episode
   *  of use). */
  pendingSince?: number
  /** Tripped: since when its condition has been clear. */
  clearSince?: number
  /** The idle rule: the last input seen, to tell an episode of use from separate touches. */
  lastInputAt?: number
}

export interface PolicyMemory {
  rules: Partial<Record<RuleName, RuleMemory>>
  action: PolicyAction
  reason?: RuleName
  /** When the action last changed: nothing trips sooner than the trip time after it. */
  changedAt?: number
}

export const INITIAL_MEMORY: PolicyMemory = { rules: {}, action: 'lend' }

export type RuleStatus =
  /** The lender did not set this rule. */
  | 'off'
  /** Set, and not holding lending back. */
  | 'clear'
  /** Its condition holds; it trips if that persists. */
  | 'pending'
  /** Holding lending back. */
  | 'holding'
  /** Holding, its condition cleared: releases after the minimum time. */
  | 'releasing'
  /** Set, but its reading is not available. */
  | 'unknown'

export interface RuleView {
  rule: RuleName
  status: RuleStatus
  /** One sentence for the lender. */
  text: string
}

export interface Transition {
  from: PolicyAction
  to: PolicyAction
  reason?: RuleName
  /** For the activity list: "Paused: you are using this computer". */
  text: string
}

export interface Decision {
  action: PolicyAction
  /** The rule that decided a throttle or a pause. */
  reason?: RuleName
  /** Why, for the UI and the tray ("you are using this computer"); absent while lending. */
  because?: string
  /** Guests' CPU share while throttled, 0..1; 1 otherwise. */
  cpuShare: number
  rules: RuleView[]
}

export interface Outcome {
  decision: Decision
  memory: PolicyMemory
  /** Set when the action changed. */
  transition?: Transition
}

/** The condition a rule holds lending back on, from one reading; undefined: cannot tell. */
function holds(rule: RuleName, rules: PolicyRules, r: Readings): boolean | undefined {
  switch (rule) {
    case 'idle':
      return r.idleSeconds === undefined ? undefined : r.idleSeconds < rules.idleMinutes * 60
    case 'battery':
      if (r.onBattery === undefined) return undefined
      if (!r.onBattery) return false
      // A level not known while above-a-level was asked for: pause, the cautious side.
      if (rules.minBatteryPercent > 0 && r.batteryPercent !== undefined) {
        return r.batteryPercent < rules.minBatteryPercent
      }
      return true
    case 'quiet-hours': {
      const q = rules.quietHours
      if (!q) return false
      const inside = inWindow(r.minuteOfDay, q.from, q.to)
      return q.mode === 'quiet' ? inside : !inside
    }
    case 'host-load':
      return r.hostLoadPercent === undefined
        ? undefined
        : r.hostLoadPercent > rules.maxHostLoadPercent
  }
}

function enabled(rule: RuleName, rules: PolicyRules): boolean {
  switch (rule) {
    case 'idle':
      return rules.idleMinutes > 0
    case 'battery':
      return rules.pauseOnBattery
    case 'quiet-hours':
      return rules.quietHours !== null
    case 'host-load':
      return rules.maxHostLoadPercent > 0
  }
}

function keyOf(rule: RuleName, rules: PolicyRules): string {
  switch (rule) {
    case 'idle':
      return String(rules.idleMinutes)
    case 'battery':
      return String(rules.minBatteryPercent)
    case 'quiet-hours':
      return JSON.stringify(rules.quietHours)
    case 'host-load':
      return String(rules.maxHostLoadPercent)
  }
}

function levelOf(rule: RuleName, rules: PolicyRules): PolicyAction {
  return rule === 'idle' ? rules.whenInUse : 'pause'
}

const RANK: Record<PolicyAction, number> = { lend: 0, throttle: 1, pause: 2 }

/** One step of a rule before releases are considered: first reading, pending, trip. */
function advance(
  rule: RuleName,
  m: RuleMemory | undefined,
  rules: PolicyRules,
  r: Readings,
  h: Hysteresis,
  floor: number,
): RuleMemory | undefined {
  const key = keyOf(rule, rules)
  const cond = holds(rule, rules, r)
  if (cond === undefined) {
    // No reading: keep what we had. A rule never read says nothing (it is 'unknown').
    return m && m.key === key ? m : undefined
  }
  if (!m || m.key !== key) {
    const first: RuleMemory = { key, tripped: cond, since: r.at }
    if (rule === 'idle') first.lastInputAt = r.at - (r.idleSeconds ?? 0) * 1000
    return first
  }
  const next: RuleMemory = { ...m }
  if (rule === 'idle') {
    const idleMs = (r.idleSeconds ?? 0) * 1000
    const lastInput = r.at - idleMs
    const previous = next.lastInputAt
    next.lastInputAt = lastInput
    if (next.tripped) {
      if (cond) delete next.clearSince
      else next.clearSince ??= r.at
      return next
    }
    if (idleMs > h.inUseGapMs) {
      delete next.pendingSince
      return next
    }
    // Between two readings only the last input is known: if it came more than the gap after
    // the one before, there may have been a gap, and an episode of use starts over.
    if (
      next.pendingSince === undefined ||
      (previous !== undefined && lastInput - previous > h.inUseGapMs)
    ) {
      next.pendingSince = lastInput
    }
    if (lastInput - Math.max(next.pendingSince, floor) >= h.inUseAfterMs) {
      return { key, tripped: true, since: r.at, lastInputAt: lastInput }
    }
    return next
  }
  if (next.tripped) {
    if (cond) delete next.clearSince
    else next.clearSince ??= r.at
    return next
  }
  if (!cond) {
    delete next.pendingSince
    return next
  }
  next.pendingSince ??= r.at
  if (r.at - Math.max(next.pendingSince, floor) >= h.tripAfterMs) {
    return { key, tripped: true, since: r.at }
  }
  return next
}

function canRelease(rule: RuleName, m: RuleMemory, r: Readings, h: Hysteresis): boolean {
  if (!m.tripped || m.clearSince === undefined) return false
  const clearFor = rule === 'idle' ? 0 : h.releaseAfterMs
  return r.at - m.clearSince >= clearFor && r.at - m.since >= h.minHoldMs
}

/** The policy: rules, memory and readings in; the decision and the next memory out. */
export function decide(
  rules: PolicyRules,
  memory: PolicyMemory,
  readings: Readings,
  h: Hysteresis = DEFAULT_HYSTERESIS,
): Outcome {
  const next: PolicyMemory['rules'] = {}
  for (const rule of RULE_NAMES) {
    if (!enabled(rule, rules)) continue
    const m = advance(rule, memory.rules[rule], rules, readings, h, memory.changedAt ?? -Infinity)
    if (m) next[rule] = m
  }
  const pending = RULE_NAMES.some((rule) => {
    const m = next[rule]
    return m !== undefined && !m.tripped && m.pendingSince !== undefined
  })
  if (!pending) {
    for (const rule of RULE_NAMES) {
      const m = next[rule]
      if (m && canRelease(rule, m, readings, h)) {
        next[rule] = {
          key: m.key,
          tripped: false,
          since: readings.at,
          ...(m.lastInputAt !== undefined ? { lastInputAt: m.lastInputAt } : {}),
        }
      }
    }
  }
  let action: PolicyAction = 'lend'
  let reason: RuleName | undefined
  for (const rule of RULE_NAMES) {
    if (!next[rule]?.tripped) continue
    const level = levelOf(rule, rules)
    if (RANK[level] > RANK[action]) {
      action = level
      reason = rule
    }
  }
  const because = reason ? holdingText(reason, rules, readings) : undefined
  const decision: Decision = {
    action,
    ...(reason ? { reason } : {}),
    ...(because ? { because } : {}),
    cpuShare: action === 'throttle' ? rules.throttlePercent / 100 : 1,
    rules: RULE_NAMES.map((rule) => viewOf(rule, rules, next[rule], readings, h)),
  }
  const out: Outcome = {
    decision,
    memory: {
      rules: next,
      action,
      ...(reason ? { reason } : {}),
      ...(action !== memory.action
        ? { changedAt: readings.at }
        : memory.changedAt !== undefined
          ? { changedAt: memory.changedAt }
          : {}),
    },
  }
  if (action !== memory.action) {
    out.transition = {
      from: memory.action,
      to: action,
      ...(reason ? { reason } : {}),
      text: transitionText(memory, action, because, rules, readings),
    }
  }
  return out
}

// --- words ----------------------------------------------------------------------------------------

function minutes(n: number): string {
  return `${n} minute${n === 1 ? '' : 's'}`
}

/** Why a rule holds lending back now, completing "Paused: …". */
function holdingText(rule: RuleName, rules: PolicyRules, r: Readings): string {
  switch (rule) {
    case 'idle':
      return 'you are using this computer'
    case 'battery':
      return rules.minBatteryPercent > 0 && r.batteryPercent !== undefined
        ? `on battery at ${Math.round(r.batteryPercent)} %, below ${rules.minBatteryPercent} %`
        : 'on battery'
    case 'quiet-hours': {
      const q = rules.quietHours!
      return q.mode === 'quiet'
        ? `quiet hours until ${q.to}`
        : `outside lending hours (${q.from}–${q.to})`
    }
    case 'host-load':
      return r.hostLoadPercent !== undefined
        ? `this computer is busy (CPU ${Math.round(r.hostLoadPercent)} %, limit ${rules.maxHostLoadPercent} %)`
        : 'this computer is busy'
  }
}

/** Why a rule let go, completing "Lending again: …". */
function releasedText(rule: RuleName, rules: PolicyRules, r: Readings): string {
  switch (rule) {
    case 'idle':
      return `idle for ${minutes(Math.max(rules.idleMinutes, Math.floor((r.idleSeconds ?? 0) / 60)))}`
    case 'battery':
      return r.onBattery ? `battery at ${Math.round(r.batteryPercent ?? 0)} %` : 'plugged in'
    case 'quiet-hours':
      return rules.quietHours?.mode === 'only'
        ? `lending hours began (${rules.quietHours.from}–${rules.quietHours.to})`
        : 'quiet hours are over'
    case 'host-load':
      return 'this computer is no longer busy'
  }
}

function transitionText(
  before: PolicyMemory,
  action: PolicyAction,
  because: string | undefined,
  rules: PolicyRules,
  r: Readings,
): string {
  if (action === 'pause') return `Paused: ${because ?? 'a lending rule holds'}`
  if (action === 'throttle') {
    return `Throttled guests to ${rules.throttlePercent} % CPU: ${because ?? 'a lending rule holds'}`
  }
  const was = before.reason
  const why = was && enabled(was, rules) ? releasedText(was, rules, r) : 'the rule was turned off'
  return `Lending again: ${why}`
}

function viewOf(
  rule: RuleName,
  rules: PolicyRules,
  m: RuleMemory | undefined,
  r: Readings,
  h: Hysteresis,
): RuleView {
  if (!enabled(rule, rules)) return { rule, status: 'off', text: offText(rule) }
  if (!m) return { rule, status: 'unknown', text: unknownText(rule) }
  if (m.tripped) {
    if (m.clearSince !== undefined) {
      const wait = Math.max(
        m.since + h.minHoldMs - r.at,
        m.clearSince + (rule === 'idle' ? 0 : h.releaseAfterMs) - r.at,
        0,
      )
      return {
        rule,
        status: 'releasing',
        text: `Lets go in ${Math.ceil(wait / 1000)} s unless it holds again`,
      }
    }
    return { rule, status: 'holding', text: capital(holdingText(rule, rules, r)) }
  }
  if (m.pendingSince !== undefined) {
    return { rule, status: 'pending', text: pendingText(rule) }
  }
  return { rule, status: 'clear', text: clearText(rule, rules, r) }
}

function capital(s: string): string {
  return s.charAt(0).toUpperCase() + s.slice(1)
}

function offText(rule: RuleName): string {
  switch (rule) {
    case 'idle':
      return 'Lends whether or not you use this computer'
    case 'battery':
      return 'Lends on battery too'
    case 'quiet-hours':
      return 'No quiet hours'
    case 'host-load':
      return 'Lends however busy this computer is'
  }
}

function unknownText(rule: RuleName): string {
  switch (rule) {
    case 'idle':
      return 'Cannot read when you last used this computer'
    case 'battery':
      return 'Cannot read the battery'
    case 'quiet-hours':
      return 'Cannot read the clock'
    case 'host-load':
      return 'Cannot read this computer’s load yet'
  }
}

function pendingText(rule: RuleName): string {
  switch (rule) {
    case 'idle':
      return 'You are using this computer; pauses if you keep on'
    case 'battery':
      return 'On battery; pauses if it stays so'
    case 'quiet-hours':
      return 'Quiet hours begin'
    case 'host-load':
      return 'This computer is busy; pauses if it stays so'
  }
}

function clearText(rule: RuleName, rules: PolicyRules, r: Readings): string {
  switch (rule) {
    case 'idle':
      return `Idle for ${minutes(Math.floor((r.idleSeconds ?? 0) / 60))} (lends after ${minutes(rules.idleMinutes)})`
    case 'battery':
      return r.onBattery
        ? `On battery at ${Math.round(r.batteryPercent ?? 0)} %, at least ${rules.minBatteryPercent} %`
        : 'Plugged in'
    case 'quiet-hours': {
      const q = rules.quietHours!
      return q.mode === 'quiet'
        ? `Quiet from ${q.from} to ${q.to}; now ${formatClock(r.minuteOfDay)}`
        : `Lends from ${q.from} to ${q.to}; now ${formatClock(r.minuteOfDay)}`
    }
    case 'host-load':
      return `CPU ${Math.round(r.hostLoadPercent ?? 0)} % without guests, limit ${rules.maxHostLoadPercent} %`
  }
}
