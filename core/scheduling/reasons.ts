// Named reasons, so "why did my meshlet not bid?" and "why did that bid not count?" have answers
// the UI and CLI can show (Nomad's lesson: filtering reasons are constants, not log lines).

/** Why this meshlet does not bid for a workload's current round, in the order they are checked. */
export const NO_BID_REASONS = [
  'invalid-workload',
  'docker-unavailable',
  'not-lending',
  'paused',
  'owner-unverified',
  'owner-not-mutual',
  'owner-below-floor',
  'already-placed',
  'failed-here-before',
  'declined-here',
  'no-slots',
  'retries-exhausted',
  'not-in-allowed-meshlets',
  'meshlet-excluded',
  'arch-mismatch',
  'egress-not-allowed',
  'unsupported-network',
  'registry-not-allowed',
  'image-too-large',
  'image-size-unknown',
  'exceeds-offer',
  'insufficient-free-capacity',
  'bids-overcommitted',
  'window-not-open',
  'window-closed',
] as const

export type NoBidReason = (typeof NO_BID_REASONS)[number]

/** Why a bid does not count in a selection, in the order they are checked. */
export const BID_INVALID_REASONS = [
  'wrong-workload',
  'stale-cid',
  'wrong-round',
  'outside-window',
  'author-unlinked',
  'author-not-mutual',
  'author-excluded',
  'constraint-violated',
  'offer-too-small',
  'priority-mismatch',
  'not-attested',
] as const

export type BidInvalidReason = (typeof BID_INVALID_REASONS)[number]

const SENTENCES: Record<NoBidReason | BidInvalidReason, string> = {
  'invalid-workload':
    'Docker would refuse this workload (under 10 millicores, under 6 MiB of memory, or an image reference it cannot parse).',
  'not-lending': 'This meshlet is not lending compute.',
  'docker-unavailable':
    'This meshlet cannot reach its Docker engine, so it lends nothing until Docker is back.',
  paused: 'This meshlet is paused.',
  'owner-unverified':
    "This meshlet's link to its owner is not verified yet (both linkage records must exist and agree).",
  'owner-not-mutual': "The workload's owner and this meshlet's owner do not list each other.",
  'owner-below-floor':
    "The workload's owner has used much more than they lent; this meshlet declines their workloads for now.",
  'no-slots': 'Every replica of this workload is already placed.',
  'retries-exhausted': 'The workload failed too often; no new placements are made.',
  'failed-here-before':
    'A replica of this workload version failed (or never started) on this meshlet; this round places it elsewhere.',
  'already-placed':
    'This meshlet already runs a replica of this workload; it bids for another only when no other meshlet took the slot in the round before, or its winner declined it.',
  'declined-here':
    'This meshlet won the previous round but its offer was full, so it declined; others bid in this round.',
  'not-in-allowed-meshlets': 'The workload may only run on meshlets it names, and not on this one.',
  'meshlet-excluded': 'The workload excludes this meshlet.',
  'arch-mismatch': "The workload's image does not run on this machine's CPU architecture.",
  'egress-not-allowed': 'The workload needs network access and this meshlet does not allow it.',
  'unsupported-network': 'The workload asks for a network mode this meshlet does not know.',
  'registry-not-allowed':
    "The workload's image comes from a registry that is not on this meshlet's allow-list.",
  'image-too-large':
    "The workload's image is larger, as its registry's manifest states, than this meshlet pulls.",
  'image-size-unknown':
    "This meshlet pulls images up to a size, and the image's registry has not said how large this one is (it is asking, or it would not answer).",
  'exceeds-offer':
    'The workload asks for more CPU, memory or storage than this meshlet lends at all.',
  'insufficient-free-capacity':
    'Not enough of what this meshlet lends is free right now (other replicas hold it).',
  'bids-overcommitted':
    'This meshlet has open bids for as much as it may promise at once; it bids again when those rounds are decided.',
  'window-not-open': 'The bid window for this round has not opened yet.',
  'window-closed': 'The bid window for this round has closed.',
  'wrong-workload': 'The bid is for another workload.',
  'stale-cid': 'The bid is for an older version of the workload.',
  'wrong-round': 'The bid is for another round.',
  'outside-window': "The bid was made outside the round's bid window.",
  'author-unlinked': "The bidding meshlet's link to an owner is not verified.",
  'author-not-mutual': "The bidding meshlet's owner and the workload's owner are not mutual.",
  'author-excluded':
    'The bidding meshlet already holds a replica of this workload, one failed there, or it declined the previous round.',
  'constraint-violated': "The workload's constraints do not allow the bidding meshlet.",
  'offer-too-small': "The bid offers less than the workload's resources.",
  'priority-mismatch':
    'The bid declares a priority other than the one the public ledger gives its owner; it does not count.',
  'not-attested':
    "The round is settled and a meshlet of the workload's owner attested the winners its audit gave; this bid is not among them, so it does not count.",
}

/** A sentence for people, for the UI and CLI. */
export function describeReason(reason: NoBidReason | BidInvalidReason): string {
  return SENTENCES[reason]
}
