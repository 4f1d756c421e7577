// The lender's settings while the meshlet runs: whether it lends and is paused, its offer, the
// owners it recognises, whether guests may reach the network, the free-rider floor and the image
// policy — the desktop app's sliders and the daemon's flags. The runtime is told what it enforces
// (egress, the registry allow-list, the largest image) the moment a setting changes, so that it
// refuses what we would not bid on and runs what we did bid on. What the meshlet publishes and
// plans from them is lender.ts's.
import type { Resources } from '../lexicon/index.js'
import type { Runtime } from '../runtime/index.js'
import { imagePolicyOf, type ImagePolicy, type Lender } from './lender.js'

/** The settings an owner may read back (the app's settings page). */
export type SettingsView = {
  offer: Resources
  members: string[]
  allowEgress: boolean
  minBalance?: number
} & ImagePolicy

export interface LenderSettingsOptions extends ImagePolicy {
  /** Our owner: never listed among the members. */
  owner: string
  members: string[]
  offer: Resources
  lending?: boolean
  paused?: boolean
  allowEgress?: boolean
  minBalance?: number
  /** What enforces egress and the image policy; absent for a meshlet without Docker. */
  runtime?: Pick<Runtime, 'setAllowEgress' | 'setRegistryAllowList' | 'setMaxImageMiB'>
}

export class LenderSettings {
  /** The daemon's flag: a meshlet started not lending never lends. */
  readonly lending: boolean
  private pausedNow: boolean
  private offerNow: Resources
  private membersNow: string[]
  private egress: boolean
  private floor: number | undefined
  private policy: ImagePolicy

  constructor(private readonly opts: LenderSettingsOptions) {
    this.lending = opts.lending ?? true
    this.pausedNow = opts.paused ?? false
    this.offerNow = { ...opts.offer }
    this.membersNow = [...opts.members]
    this.egress = opts.allowEgress ?? false
    opts.runtime?.setAllowEgress(this.egress)
    this.floor = opts.minBalance
    this.policy = imagePolicyOf(opts)
    this.tellPolicy()
  }

  get paused(): boolean {
    return this.pausedNow
  }

  get offer(): Resources {
    return this.offerNow
  }

  get members(): readonly string[] {
    return this.membersNow
  }

  get minBalance(): number | undefined {
    return this.floor
  }

  get imagePolicy(): ImagePolicy {
    return this.policy
  }

  setPaused(paused: boolean): void {
    this.pausedNow = paused
  }

  setOffer(offer: Resources): void {
    this.offerNow = { ...offer }
  }

  /** Each owner once, our own owner never (it is recognised anyway). */
  setMembers(members: string[]): void {
    this.membersNow = [...new Set(members)].filter((m) => m !== this.opts.owner)
  }

  setAllowEgress(allow: boolean): void {
    this.egress = allow
    this.opts.runtime?.setAllowEgress(allow)
  }

  /** The free-rider floor in milli-units; undefined turns it off. */
  setMinBalance(floor: number | undefined): void {
    this.floor = floor
  }

  setImagePolicy(policy: ImagePolicy): void {
    this.policy = imagePolicyOf(policy)
    this.tellPolicy()
  }

  /** A copy: changing it changes no setting. */
  view(): SettingsView {
    return {
      offer: { ...this.offerNow },
      members: [...this.membersNow],
      allowEgress: this.egress,
      ...(this.floor !== undefined ? { minBalance: this.floor } : {}),
      ...imagePolicyOf(this.policy),
    }
  }

  /** The settings with the meshlet's state: what its records and plans are made from. */
  lender(
    state: Pick<Lender, 'meshlet' | 'owner' | 'dockerAvailable' | 'hasRuntime' | 'arch'>,
  ): Lender {
    return {
      meshlet: state.meshlet,
      owner: state.owner,
      members: this.membersNow,
      lending: this.lending,
      paused: this.pausedNow,
      offer: this.offerNow,
      allowEgress: this.egress,
      ...(this.floor !== undefined ? { minBalance: this.floor } : {}),
      imagePolicy: this.policy,
      dockerAvailable: state.dockerAvailable,
      hasRuntime: state.hasRuntime,
      arch: state.arch,
    }
  }

  private tellPolicy(): void {
    this.opts.runtime?.setRegistryAllowList(this.policy.allowRegistries)
    this.opts.runtime?.setMaxImageMiB(this.policy.maxImageMiB)
  }
}
