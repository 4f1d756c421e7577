// What the dashboard shows of the commune, read from the meshlet's records: members with the
// reason they are not mutual, the guests running here, and the owner's workloads with their
// placements, headline and why each member meshlet did not bid. Functions of the records and
// `now`: the app calls them for every state it pushes.
import { AtUri } from '@atproto/syntax'
import type { GuestView, MemberView, WorkloadView } from '../api.js'
import { clusterView, RejectReason, type ClusterReport } from '../identity/cluster.js'
import type { Meshlet } from '../meshlet.js'
import {
  describeReason,
  sightingOf,
  select,
  type BidView,
  type ClusterView,
  type NoBidReason,
  type RoundInfo,
  type SchedulingConfig,
  type StatusView,
  type WorkloadView as SchedWorkload,
} from '../scheduling/index.js'
import { endingsOf, freshRunning, headlineOf, sightingFields, unknownReason } from '../status.js'
import { committedOf, memberMeshlets, whyNot } from '../whynot/index.js'
import { specOf } from './workloads.js'

/** Names for the DIDs shown (`HandleBook`). */
export interface ViewNames {
  named(did: string): { handle?: string }
  label(did: string): string
}

/** What of a running meshlet the views read. */
export type MeshletRecords = Pick<Meshlet, 'store' | 'audit' | 'replicas' | 'presenceIndex'>

/** Members as the commune sees them: the owner, each member (mutual, waiting or broken, with
 *  why), and strangers who list the owner. `report` is absent while no meshlet runs. */
export function memberViews(input: {
  report: ClusterReport | undefined
  ownerDid: string | undefined
  members: readonly string[]
  names: ViewNames
}): MemberView[] {
  const { ownerDid, members, names } = input
  const report: ClusterReport = input.report ?? { peers: [], rejected: [] }
  const views: MemberView[] = []
  const peerOf = (did: string) => report.peers.find((p) => p.owner === did)
  if (ownerDid) {
    const unlinked = report.rejected.find((r) => r.reason === RejectReason.selfUnlinked)
    views.push({
      did: ownerDid,
      ...names.named(ownerDid),
      state: 'self',
      meshlets: peerOf(ownerDid)?.meshlets ?? [],
      ...(unlinked ? { reason: 'This machine is not linked both ways to you yet.' } : {}),
    })
  }
  const running = input.report !== undefined
  for (const did of members) {
    const peer = peerOf(did)
    const rejected = report.rejected.filter((r) => r.owner === did)
    const broken = rejected.find((r) => BROKEN.has(r.reason))
    const state = peer ? 'mutual' : broken ? 'broken' : 'waiting'
    const name = names.label(did)
    const reason = peer
      ? undefined
      : !running
        ? 'Not checked yet: this machine is not running.'
        : memberSentence(name, (broken ?? rejected[0])?.reason)
    views.push({
      did,
      ...names.named(did),
      state,
      meshlets: peer?.meshlets ?? [],
      ...(reason ? { reason } : {}),
    })
  }
  for (const r of report.rejected) {
    if (r.reason !== RejectReason.notOurMember || views.some((v) => v.did === r.owner)) continue
    views.push({
      did: r.owner,
      ...names.named(r.owner),
      state: 'stranger',
      meshlets: [],
      reason: `${names.label(r.owner)} lists you; add them to lend to each other.`,
    })
  }
  return views
}

/** The guests this machine runs (running, created or restarting containers). */
export function guestViews(m: MeshletRecords | undefined, names: ViewNames): GuestView[] {
  if (!m) return []
  return m.replicas
    .filter((r) => r.state === 'running' || r.state === 'created' || r.state === 'restarting')
    .map((r) => {
      const w = m.store.workloads.get(r.workloadUri)
      const owner = new AtUri(r.workloadUri).host
      const handle = names.named(owner).handle
      return {
        containerId: r.containerId,
        workloadUri: r.workloadUri,
        owner,
        ...(handle ? { ownerHandle: handle } : {}),
        image: w?.record.image ?? r.image,
        cpuMillis: w?.record.resources.cpuMillis ?? 0,
        memoryMiB: w?.record.resources.memoryMiB ?? 0,
        round: r.round,
        state: r.state,
        ...(r.startedAt ? { startedAt: r.startedAt } : {}),
      }
    })
}

/** The owner's workloads, newest first: placements, the headline, void bids and why member
 *  meshlets did not bid, all judged as every meshlet judges them. */
export function workloadViews(input: {
  meshlet: MeshletRecords | undefined
  ownerDid: string | undefined
  config: SchedulingConfig
  names: ViewNames
  now: number
}): WorkloadView[] {
  const { meshlet: m, ownerDid: owner, config, names, now } = input
  if (!m || !owner) return []
  const view = clusterView(m.store.linkage)
  const audit = m.audit(now)
  const handleOf = (meshlet: string) => {
    const mo = view.ownerOf(meshlet)
    return { mo, handle: mo ? names.named(mo).handle : undefined }
  }
  return [...m.store.workloads.values()]
    .filter((w) => w.owner === owner)
    .sort((a, b) => (a.record.createdAt < b.record.createdAt ? 1 : -1))
    .map((w) => {
      const statuses = m.store.statusesFor(w.uri).filter((s) => s.record.workload.cid === w.cid)
      const bids = m.store.bidsFor(w.uri)
      const info = audit.history(w, now).current
      const selection = select(w, info, bids, view, audit.expected)
      const winners = selection.winners
      // Bids of this round that do not count, and why (an inflated priority among them).
      const voided = selection.ranked
        .filter((r) => !r.valid && r.reason !== undefined && r.bid.record.round === info.round)
        .map((r) => {
          const { handle } = handleOf(r.bid.meshlet)
          return {
            meshlet: r.bid.meshlet,
            ...(handle ? { ownerHandle: handle } : {}),
            reason: r.reason!,
            sentence: describeReason(r.reason!),
          }
        })
      const placements = latestPerMeshlet(statuses).map((s) => {
        const { mo, handle } = handleOf(s.meshlet)
        return {
          meshlet: s.meshlet,
          ...(mo ? { meshletOwner: mo } : {}),
          ...(handle ? { ownerHandle: handle } : {}),
          round: s.record.round,
          state: s.record.state,
          updatedAt: s.record.updatedAt,
          ...(s.record.exitCode !== undefined ? { exitCode: s.record.exitCode } : {}),
          ...(s.record.message ? { message: s.record.message } : {}),
        }
      })
      const want = w.record.replicas
      const noBid = whyNotViews({
        meshlet: m,
        workload: w,
        info,
        book: audit.ledgerAt(info.opensAt),
        view,
        bids,
        config,
        names,
      })
      const headline = headlineOf({
        round: info,
        now,
        want,
        running: freshRunning(
          placements.map((p) => ({
            ...p,
            ...sightingFields(sightingOf(m.presenceIndex, p.meshlet, w, p.round, config)),
          })),
          now,
          config,
        ),
        endings: endingsOf(placements),
        winners: winners.length,
        noBid: noBid.flatMap((n) => (n.reason ? [n.reason as NoBidReason] : [])),
      })
      return {
        uri: w.uri,
        image: w.record.image,
        ...(w.record.command ? { command: [...w.record.command] } : {}),
        cpuMillis: w.record.resources.cpuMillis,
        memoryMiB: w.record.resources.memoryMiB,
        replicas: want,
        createdAt: w.record.createdAt,
        ...(w.record.updatedAt ? { updatedAt: w.record.updatedAt } : {}),
        spec: specOf(w.record),
        headline,
        placements,
        ...(voided.length > 0 ? { voidBids: voided } : {}),
        noBid,
      }
    })
}

/** Per member meshlet without a bid in the current round: why, from what it published. */
function whyNotViews(input: {
  meshlet: MeshletRecords
  workload: SchedWorkload
  info: RoundInfo
  book: Map<string, number>
  view: ClusterView
  bids: readonly BidView[]
  config: SchedulingConfig
  names: ViewNames
}): NonNullable<WorkloadView['noBid']> {
  const { meshlet: m, workload: w, info, book, view, bids, config, names } = input
  const bidders = new Set(
    bids
      .filter((b) => b.record.workload.cid === w.cid && b.record.round === info.round)
      .map((b) => b.meshlet),
  )
  const statuses = m.store.allStatuses()
  return memberMeshlets(m.store.linkage, w.owner)
    .filter((meshlet) => !bidders.has(meshlet))
    .flatMap((meshlet) => {
      const owner = view.ownerOf(meshlet)
      if (owner === undefined) return []
      const why = whyNot({
        workload: w,
        info,
        meshlet,
        owner,
        policy: m.store.policies.get(meshlet),
        committed: committedOf(meshlet, statuses, m.store.workloads, info.opensAt, config, w.uri),
        book,
        cluster: view,
      })
      const handle = names.named(owner).handle
      return [
        {
          meshlet,
          ...(handle ? { ownerHandle: handle } : {}),
          ...(why.reason ? { reason: why.reason } : {}),
          sentence: why.reason ? describeReason(why.reason) : unknownReason(why),
        },
      ]
    })
    .sort((a, b) => (a.meshlet < b.meshlet ? -1 : a.meshlet > b.meshlet ? 1 : 0))
}

/** Rejections that mean someone's linkage is wrong, not merely unfinished. */
const BROKEN = new Set<string>([
  RejectReason.meshletMissingOwnerRecord,
  RejectReason.meshletNamesOtherOwner,
  RejectReason.notListedByOwner,
])

/** Why a member is not mutual yet, said for people. */
export function memberSentence(name: string, reason: string | undefined): string {
  switch (reason) {
    case RejectReason.ownerListsNoMeshlet:
      return `Waiting for ${name} to link a machine.`
    case RejectReason.meshletMissingMembership:
      return `Waiting for ${name}’s machine to come online.`
    case RejectReason.doesNotListUs:
      return `Waiting for ${name} to add you.`
    case RejectReason.meshletMissingOwnerRecord:
      return `${name} lists a machine that does not name them as its owner.`
    case RejectReason.meshletNamesOtherOwner:
      return `${name} lists a machine that names someone else as its owner.`
    case RejectReason.notListedByOwner:
      return `A machine claims to be ${name}’s, but ${name} does not list it.`
    default:
      return `Waiting for ${name}’s records.`
  }
}

/** Each meshlet's latest status (highest round, then latest update), ordered by meshlet. */
export function latestPerMeshlet(statuses: StatusView[]): StatusView[] {
  const latest = new Map<string, StatusView>()
  for (const s of statuses) {
    const seen = latest.get(s.meshlet)
    if (
      !seen ||
      s.record.round > seen.record.round ||
      (s.record.round === seen.record.round && s.record.updatedAt > seen.record.updatedAt)
    ) {
      latest.set(s.meshlet, s)
    }
  }
  return [...latest.values()].sort((a, b) => (a.meshlet < b.meshlet ? -1 : 1))
}
