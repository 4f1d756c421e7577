// Handles for the DIDs the dashboard shows. A DID is resolved once, in the background, the first
// time it is shown; the state is pushed again when its handle arrives. Until then (and for a DID
// without a handle) the DID itself is shown: a name is never waited for.
export class HandleBook {
  /** null: asked, no handle (yet). */
  private readonly handles = new Map<string, string | null>()

  constructor(
    private readonly opts: {
      resolve: (did: string) => Promise<{ handle?: string }>
      /** A handle arrived. */
      onChange?: () => void
    },
  ) {}

  /** The handle when known; the first ask starts its resolution. */
  handleOf(did: string): string | undefined {
    if (!this.handles.has(did)) {
      this.handles.set(did, null)
      void this.opts.resolve(did).then(
        (r) => {
          if (r.handle) {
            this.handles.set(did, r.handle)
            this.opts.onChange?.()
          }
        },
        () => undefined,
      )
    }
    return this.handles.get(did) ?? undefined
  }

  /** `{ handle }` when known, for spreading into a view. */
  named(did: string): { handle?: string } {
    const handle = this.handleOf(did)
    return handle ? { handle } : {}
  }

  /** The handle, or the DID while none is known: for sentences. */
  label(did: string): string {
    return this.handleOf(did) ?? did
  }

  /** The handle if known already, without asking. */
  known(did: string): string | undefined {
    return this.handles.get(did) ?? undefined
  }

  /** A handle just resolved to this DID (the user typed it): shown at once, not after a
   *  DID-document lookup. A handle known already stays. */
  learn(did: string, handle: string): void {
    if (!this.handles.get(did)) this.handles.set(did, handle)
  }
}
