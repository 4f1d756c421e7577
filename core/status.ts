// "Why was my workload (not) placed?" — a workload's state as anyone can compute it from public
// records: the workload, the linkage and membership records of the commune around its owner,
// and the bids and statuses of those meshlets. The same pure functions the meshlets run decide
// here, so the answer is the meshlets' answer.
import { AtUri } from '@atproto/syntax'
import { clusterView, LinkageRecords } from './identity/cluster.js'
import type { IdentityResolver } from './identity/resolver.js'
import {
  checkRecord,
  NSID,
  type MembershipRecord,
  type MeshletOwnerRecord,
  type MeshletRecord,
} from './lexicon/index.js'
import { checkDates } from './clock/index.js'
import { Audit } from './fairshare/index.js'
import {
  settlementProblem,
  type SettlementInvalidReason,
  type SettlementView,
} from './settlement/index.js'
import { formatSignedUnits, formatUnits } from './fairshare/units.js'
import { RepoReader } from './repo/reader.js'
import { countedVersion, distinctVersions, versionTombstoneProblem } from './tombstone/index.js'
import { committedOf, whyNot, type WhyNot } from './whynot/index.js'
import {
  DEFAULT_CONFIG,
  ENDING_STATES,
  describeReason,
  select,
  sightingOf,
  withChallenges,
  workloadProblems,
  type BidInvalidReason,
  type BidView,
  type ChallengeView,
  type PresenceView,
  type Sighting,
  type NoBidReason,
  type RoundInfo,
  type SchedulingConfig,
  type StatusView,
  type WorkloadView,
} from './scheduling/index.js'

export interface StatusReport {
  uri: string
  found: boolean
  workload?: WorkloadView
  round?: RoundInfo
  decided: boolean
  winners: string[]
  bids: {
    meshlet: string
    owner?: string
    priority: number
    /** The priority the public ledger gives the bid's owner in this round (NaN: unlinked). */
    audited: number
    valid: boolean
    reason?: BidInvalidReason
    winner: boolean
  }[]
  /** Mutual meshlets without a bid this round, with the reason their public records suggest. */
  noBid: WhyNot[]
  /** Settlements of this version's rounds (core/settlement): the one that counts for each round,
   *  and the others with the reason they are ignored. */
  settlements?: {
    meshlet: string
    round: number
    winners: string[]
    createdAt: string
    counts: boolean
    reason?: SettlementInvalidReason | 'not-the-earliest'
  }[]
  statuses: {
    meshlet: string
    /** The workload version the status is about. */
    cid: string
    round: number
    state: string
    exitCode?: number
    /** Why it ended, by name (max-runtime-exceeded, oom-killed). */
    reason?: string
    message?: string
    updatedAt: string
    /** When the host's presence last listed this replica (NaN: it does not). */
    seenAt?: number
    /** How long that stays fresh under the host's liveness rule (absent: lostAfter). */
    lostAfterMs?: number
    /** When the host is lost unless it answers a challenge (core/liveness). */
    answerBy?: number
  }[]
  /** The commune's balances now (the audited ledger), in milli-units, highest first. */
  balances?: { did: string; contributed: number; consumed: number; balance: number }[]
  /** What Docker would refuse about the workload (core/scheduling validity); then nobody bids. */
  problems?: string[]
  /** One sentence: the state in brief. */
  headline: string
}

/** The commune around an owner as its public records stand: the owner's meshlets, the owners
 *  those list, and those owners' meshlets; `meshlets` are the ones that may run the owner's
 *  workloads (linkage verified both ways, owners mutual). */
export async function communeAround(
  reader: RepoReader,
  owner: string,
): Promise<{
  linkage: LinkageRecords
  membership: Map<string, MembershipRecord>
  meshletOwners: Map<string, MeshletOwnerRecord>
  meshlets: string[]
}> {
  const linkage = new LinkageRecords()
  const membership = new Map<string, MembershipRecord>()
  const meshletOwners = new Map<string, MeshletOwnerRecord>()
  const loadOwner = async (o: string) => {
    for (const r of await reader.listAll(o, NSID.meshlet).catch(() => [])) {
      const c = checkRecord(NSID.meshlet, r.value)
      if (c.ok) linkage.setOwnerMeshlet(o, (c.value as MeshletRecord).meshlet, true)
    }
  }
  const loadMeshlet = async (m: string) => {
    const [mo, ms] = await Promise.all([
      reader.get(m, NSID.meshletOwner, 'self').catch(() => undefined),
      reader.get(m, NSID.membership, 'self').catch(() => undefined),
    ])
    const co = mo && checkRecord(NSID.meshletOwner, mo.value)
    if (co?.ok) {
      meshletOwners.set(m, co.value)
      linkage.setMeshletOwner(m, co.value.owner)
    }
    const cm = ms && checkRecord(NSID.membership, ms.value)
    if (cm?.ok) {
      membership.set(m, cm.value)
      linkage.setMembership(m, cm.value.members)
    }
  }
  await loadOwner(owner)
  const ownMeshlets = [...(linkage.ownerMeshlets.get(owner) ?? [])]
  await Promise.all(ownMeshlets.map(loadMeshlet))
  const others = new Set<string>(ownMeshlets.flatMap((m) => membership.get(m)?.members ?? []))
  others.delete(owner)
  await Promise.all([...others].map(loadOwner))
  const otherMeshlets = [...others].flatMap((o) => [...(linkage.ownerMeshlets.get(o) ?? [])])
  await Promise.all(otherMeshlets.filter((m) => !ownMeshlets.includes(m)).map(loadMeshlet))
  const meshlets = [...new Set([...ownMeshlets, ...otherMeshlets])]
    .filter((m) => {
      const o = linkage.verifiedOwner(m)
      return o !== undefined && linkage.isMutual(owner, o)
    })
    .sort()
  return { linkage, membership, meshletOwners, meshlets }
}

export async function workloadStatusReport(
  identity: IdentityResolver,
  uri: string,
  now: number,
  config: SchedulingConfig = DEFAULT_CONFIG,
): Promise<StatusReport> {
  const reader = new RepoReader(identity)
  const at = new AtUri(uri)
  const owner = (await identity.resolveActor(at.host)) as `did:${string}:${string}`
  uri = `at://${owner}/${at.collection}/${at.rkey}`
  const empty = { uri, decided: false, winners: [], bids: [], noBid: [], statuses: [] }
  const rec = await reader.get(owner, NSID.workload, at.rkey)
  if (!rec)
    return { ...empty, found: false, headline: 'No such workload (deleted, or never published).' }
  const check = checkRecord(NSID.workload, rec.value)
  if (!check.ok)
    return { ...empty, found: true, headline: `The workload record is invalid: ${check.reason}` }
  // A tombstone is reported as the version it ends: its rounds, bids and statuses.
  const deletedAt = check.value.deletedAt
  const workload = asCounted({ uri, cid: rec.cid, owner, record: check.value })

  const { linkage, membership, meshlets } = await communeAround(reader, owner)
  const cluster = clusterView(linkage)

  // Every bid is audited against the commune's public ledger (docs/fair-share.md), which needs
  // every member's workloads, bids and statuses, not only this workload's.
  const allBids: BidView[] = []
  const allStatuses: StatusView[] = []
  // The owner's meshlets attest settled rounds' winners (core/settlement); anyone's are read and
  // judged, as a meshlet judges them.
  const settlements: SettlementView[] = []
  const workloads: WorkloadView[] = [workload]
  const owners = [...new Set([owner, ...meshlets.flatMap((m) => linkage.verifiedOwner(m) ?? [])])]
  const presence = new Map<string, PresenceView>()
  const challenges: ChallengeView[] = []
  await Promise.all([
    ...meshlets.map(async (m) => {
      // Liveness: a replica is running while its host's presence lists it (statuses change on
      // transitions only).
      const p = await reader.get(m, NSID.presence, 'self').catch(() => undefined)
      const cp = p && checkRecord(NSID.presence, p.value)
      if (p && cp?.ok) presence.set(m, { uri: p.uri, cid: p.cid, meshlet: m, record: cp.value })
      // Challenges of silent hosts decide their loss as presence does (core/liveness).
      for (const r of await reader.listAll(m, NSID.challenge).catch(() => [])) {
        const c = checkRecord(NSID.challenge, r.value)
        if (c.ok) challenges.push({ uri: r.uri, cid: r.cid, meshlet: m, record: c.value })
      }
      for (const r of await reader.listAll(m, NSID.bid).catch(() => [])) {
        const c = checkRecord(NSID.bid, r.value)
        if (c.ok) allBids.push({ uri: r.uri, cid: r.cid, meshlet: m, record: c.value })
      }
      for (const r of await reader.listAll(m, NSID.workloadStatus).catch(() => [])) {
        const c = checkRecord(NSID.workloadStatus, r.value)
        if (c.ok) allStatuses.push({ uri: r.uri, cid: r.cid, meshlet: m, record: c.value })
      }
      for (const r of await reader.listAll(m, NSID.settlement).catch(() => [])) {
        const c = checkRecord(NSID.settlement, r.value)
        if (c.ok && checkDates(NSID.settlement, c.value, now).ok) {
          settlements.push({ uri: r.uri, cid: r.cid, meshlet: m, record: c.value })
        }
      }
    }),
    ...owners.map(async (o) => {
      for (const r of await reader.listAll(o, NSID.workload).catch(() => [])) {
        const c = checkRecord(NSID.workload, r.value)
        // A version tombstone that cannot stand for its workload's history counts for nothing,
        // as the meshlets' record store refuses it.
        if (c.ok && r.uri !== uri && versionTombstoneProblem(c.value, r.uri) === undefined) {
          workloads.push(asCounted({ uri: r.uri, cid: r.cid, owner: o, record: c.value }))
        }
      }
    }),
  ])
  const bids = allBids.filter((b) => b.record.workload.uri === uri)
  const statuses = allStatuses.filter((s) => s.record.workload.uri === uri)

  const audit = new Audit({
    now,
    workloads: distinctVersions(workloads),
    bids: allBids,
    statuses: allStatuses,
    settlements,
    cluster,
    config,
    presence: withChallenges(presence, challenges, cluster, config),
  })
  const history = audit.history(workload, now)
  const info = history.current
  const selection = select(workload, info, bids, cluster, audit.expected)
  const decided = now >= info.decideAt
  const bidders = new Set(
    bids
      .filter((b) => b.record.workload.cid === workload.cid && b.record.round === info.round)
      .map((b) => b.meshlet),
  )
  const byUri = new Map(workloads.map((w) => [w.uri, w]))
  const book = audit.ledgerAt(info.opensAt)
  // For meshlets that pull images only up to a size: the image's size, asked of its registry
  // once per architecture they run on; a registry that does not say leaves it unknown.
  const sizes = await imageSizesFor(
    identity,
    workload.record.image,
    meshlets.flatMap((m) => {
      const p = membership.get(m)
      return p?.maxImageMiB !== undefined ? [p.arch ?? 'amd64'] : []
    }),
  )
  const noBid = meshlets
    .filter((m) => !bidders.has(m))
    .map((m) =>
      whyNot({
        workload,
        info,
        meshlet: m,
        owner: linkage.verifiedOwner(m)!,
        policy: membership.get(m),
        committed: committedOf(m, allStatuses, byUri, info.opensAt, config, uri),
        book,
        cluster,
        imageBytes: (arch) => sizes.get(arch),
      }),
    )

  const report: StatusReport = {
    uri,
    found: true,
    workload,
    round: info,
    decided,
    winners: selection.winners,
    bids: selection.ranked
      .filter((r) => r.bid.record.round === info.round || !r.valid)
      .map((r) => ({
        meshlet: r.bid.meshlet,
        owner: linkage.verifiedOwner(r.bid.meshlet),
        priority: r.bid.record.priority,
        audited: audit.expected(r.bid, info),
        valid: r.valid,
        ...(r.reason ? { reason: r.reason } : {}),
        winner: r.winner,
      })),
    noBid,
    statuses: statuses
      .map((s) => ({
        meshlet: s.meshlet,
        cid: s.record.workload.cid,
        round: s.record.round,
        state: s.record.state,
        ...(s.record.exitCode !== undefined ? { exitCode: s.record.exitCode } : {}),
        ...(s.record.reason ? { reason: s.record.reason } : {}),
        ...(s.record.message ? { message: s.record.message } : {}),
        updatedAt: s.record.updatedAt,
        ...sightingFields(
          sightingOf(
            withChallenges(presence, challenges, cluster, config),
            s.meshlet,
            workload,
            s.record.round,
            config,
          ),
        ),
      }))
      .sort((a, b) => (a.meshlet < b.meshlet ? -1 : a.meshlet > b.meshlet ? 1 : a.round - b.round)),
    headline: '',
  }
  report.balances = [...audit.accountsAt(now)]
    .map(([did, a]) => ({ did, ...a }))
    .sort((a, b) => b.balance - a.balance || (a.did < b.did ? -1 : 1))
  const judged = settlementsOf(workload, history.rounds, settlements, audit, cluster)
  if (judged.length > 0) report.settlements = judged
  const problems = workloadProblems(workload.record)
  if (problems.length > 0) report.problems = problems
  report.headline =
    deletedAt !== undefined
      ? `Deleted at ${deletedAt}: its replicas stop and nothing new is placed; its record stays as a tombstone for the retention period, then goes.`
      : headline(report, workload, now, config)
  return report
}

/** The settlements naming this workload, each judged against the round it names as the audit
 *  replays it; one naming a round never replayed is judged against nothing (`other-round`). */
function settlementsOf(
  workload: WorkloadView,
  rounds: readonly RoundInfo[],
  settlements: readonly SettlementView[],
  audit: Audit,
  cluster: ReturnType<typeof clusterView>,
): NonNullable<StatusReport['settlements']> {
  const byRound = new Map(rounds.map((r) => [r.round, r]))
  return settlements
    .filter((s) => s.record.workload.uri === workload.uri)
    .map((s) => {
      const info = byRound.get(s.record.round)
      const chosen = info && audit.settlementOf(workload.uri, workload.cid, info)
      const reason: SettlementInvalidReason | 'not-the-earliest' | undefined =
        info === undefined
          ? 'settlement-other-round'
          : (settlementProblem(
              s,
              { workload, info, settlesAt: audit.cutoffOf(info) + audit.settleMs },
              cluster,
            ) ?? (chosen?.uri === s.uri ? undefined : 'not-the-earliest'))
      return {
        meshlet: s.meshlet,
        round: s.record.round,
        winners: [...s.record.winners],
        createdAt: s.record.createdAt,
        counts: reason === undefined,
        ...(reason !== undefined ? { reason } : {}),
      }
    })
    .sort((a, b) => a.round - b.round || (a.createdAt < b.createdAt ? -1 : 1))
}

/** A workload record as the ledger counts it (core/tombstone): a tombstone as the version it
 *  ends, a version tombstone as the earlier version of the workload it names. */
const asCounted = countedVersion

function headline(r: StatusReport, w: WorkloadView, now: number, config: SchedulingConfig): string {
  const mine = r.statuses.filter((s) => s.cid === w.cid)
  return headlineOf({
    round: r.round!,
    now,
    want: w.record.replicas,
    running: freshRunning(mine, now, config),
    endings: endingsOf(mine),
    winners: r.winners.length,
    noBid: r.noBid.map((n) => n.reason).filter((x): x is NoBidReason => x !== undefined),
  })
}

/** What a workload's headline is said from; the CLI's status and the dashboard both use it. */
export interface HeadlineFacts {
  round: RoundInfo
  now: number
  want: number
  /** Replicas of this version whose heartbeat is fresh. */
  running: number
  /** The states of this version's replicas when every one has ended, else undefined. */
  endings?: string[]
  winners: number
  /** Why mutual meshlets did not bid, when known. */
  noBid: NoBidReason[]
}

/** A status row's view of its host's presence (`sightingOf`). */
export function sightingFields(sighting: Sighting): {
  seenAt: number
  lostAfterMs: number
  answerBy?: number
} {
  return {
    seenAt: sighting.at,
    lostAfterMs: sighting.lostAfterMs,
    ...(sighting.answerBy !== undefined ? { answerBy: sighting.answerBy } : {}),
  }
}

/** Replicas reported running whose status, or their host's presence that lists them
 *  (`seenAt`), is within lostAfter (the host's, when its presence lists them) and, for a host
 *  challenged, before the challenge's deadline. */
export function freshRunning(
  statuses: {
    state: string
    updatedAt: string
    seenAt?: number
    lostAfterMs?: number
    answerBy?: number
  }[],
  now: number,
  config: SchedulingConfig,
): number {
  return statuses.filter((s) => {
    const updated = Date.parse(s.updatedAt)
    const listed = s.seenAt !== undefined && !Number.isNaN(s.seenAt)
    const fresh = listed ? Math.max(updated, s.seenAt!) : updated
    let until = fresh + (listed ? (s.lostAfterMs ?? config.lostAfterMs) : config.lostAfterMs)
    if (listed && s.answerBy !== undefined) until = Math.min(until, s.answerBy)
    return s.state === 'running' && now <= until
  }).length
}

/** The replicas' final states, when there are some and all have ended. */
export function endingsOf(statuses: { state: string }[]): string[] | undefined {
  return statuses.length > 0 && statuses.every((s) => ENDING_STATES.has(s.state))
    ? statuses.map((s) => s.state)
    : undefined
}

/** One sentence: the state of a workload in brief. */
export function headlineOf(f: HeadlineFacts): string {
  if (f.now < f.round.decideAt) {
    return `Round ${f.round.round} is open for bids; selection at ${new Date(f.round.decideAt).toISOString()}.`
  }
  if (f.round.exhausted) return 'The workload failed too often; no new placements are made.'
  if (f.running >= f.want) return `Running: ${f.running} of ${f.want} replicas.`
  if (f.endings) return `Finished: ${f.endings.join(', ')}.`
  if (f.winners === 0) {
    const reasons = [...new Set(f.noBid)]
    const why = reasons.length > 0 ? ` ${reasons.map(describeReason).join(' ')}` : ''
    return `Not placed: no meshlet made a valid bid.${why}`
  }
  return `Placed on ${f.winners} of ${f.want} replicas; ${f.running} running.`
}

export function printStatus(r: StatusReport, out: (line: string) => void): void {
  out(`workload ${r.uri}`)
  out(`  ${r.headline}`)
  if (!r.workload || !r.round) return
  const w = r.workload.record
  out(
    `  image ${w.image}  replicas ${w.replicas}  cpu ${w.resources.cpuMillis}m  memory ${w.resources.memoryMiB} MiB`,
  )
  for (const p of r.problems ?? []) out(`  invalid: ${p}`)
  out(
    `  round ${r.round.round}: bids ${new Date(r.round.opensAt).toISOString()} .. ${new Date(r.round.closesAt).toISOString()}, ${r.round.slots} slot(s)${r.decided ? ', decided' : ''}`,
  )
  out('  bids:')
  if (r.bids.length === 0) out('    (none)')
  for (const b of r.bids) {
    const mark = b.winner ? 'WON ' : b.valid ? 'lost' : 'void'
    out(
      `    ${mark} ${b.meshlet} priority ${b.priority}${b.reason ? ` — ${b.reason}: ${describeReason(b.reason)}` : ''}${b.reason === 'priority-mismatch' ? ` (the ledger gives ${b.audited})` : ''}`,
    )
  }
  if (r.settlements !== undefined) {
    out('  settlements (winners attested by the owner, kept once a round settles):')
    for (const s of r.settlements) {
      out(
        `    ${s.counts ? 'counts ' : 'ignored'} round ${s.round} by ${s.meshlet}: ${s.winners.join(', ') || '(none)'}${s.reason ? ` — ${s.reason}` : ''}`,
      )
    }
  }
  if (r.noBid.length > 0) {
    out('  no bid:')
    for (const n of r.noBid) {
      out(
        `    ${n.meshlet} (${n.owner}) — ${n.reason ? `${n.reason}: ${describeReason(n.reason)}` : unknownReason(n)}`,
      )
    }
  }
  out('  replicas:')
  if (r.statuses.length === 0) out('    (none)')
  for (const s of r.statuses) {
    const code = s.exitCode !== undefined ? ` exit ${s.exitCode}` : ''
    const reason = s.reason ? ` [${s.reason}]` : ''
    out(
      `    ${s.meshlet} round ${s.round}: ${s.state}${reason}${code} (at ${s.updatedAt})${s.message ? ` — ${s.message}` : ''}`,
    )
  }
  printBalances(r, out)
}

function printBalances(r: StatusReport, out: (line: string) => void): void {
  if (!r.balances || r.balances.length === 0) return
  out('  balances (units: a core or a GiB for an hour; to a thousandth below one):')
  for (const b of r.balances) {
    out(
      `    ${b.did} ${formatSignedUnits(b.balance)} (lent ${formatUnits(b.contributed)}, used ${formatUnits(b.consumed)})`,
    )
  }
}

/** Said when no published fact explains a missing bid: honest about what is not known. */
export function unknownReason(n: WhyNot): string {
  const facts = n.unknown.length > 0 ? ` It has not published its ${n.unknown.join(', ')}.` : ''
  const image =
    n.imageLimitMiB !== undefined
      ? ` It pulls images of at most ${n.imageLimitMiB} MiB, and this image's registry did not say how large it is.`
      : ''
  return `reason unknown: by what it published it could bid, but no bid was seen (offline, or started after the window?).${facts}${image}`
}

/** What pulling `image` downloads on each architecture, as its registry says; an architecture
 *  whose answer could not be had is left out. */
async function imageSizesFor(
  identity: IdentityResolver,
  image: string,
  archs: readonly string[],
): Promise<Map<string, number>> {
  const out = new Map<string, number>()
  if (archs.length === 0) return out
  const [{ parseImageRef }, { imageDownloadBytes }] = await Promise.all([
    import('./runtime/image-ref.js'),
    import('./runtime/registry.js'),
  ])
  let ref
  try {
    ref = parseImageRef(image)
  } catch {
    return out
  }
  await Promise.all(
    [...new Set(archs)].map(async (arch) => {
      const bytes = await imageDownloadBytes(ref, { arch, fetch: identity.fetch }).catch(
        () => undefined,
      )
      if (bytes !== undefined) out.set(arch, bytes)
    }),
  )
  return out
}
