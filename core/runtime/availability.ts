// Whether this machine's Docker engine answers, as the meshlet last learned it (its start-up
// ping, then the event watch connecting or losing the engine). A meshlet whose engine is away
// lends nothing: it publishes so, makes no bids, and takes up again when the watch reconnects.
// No polling of its own: the watch's reconnect back-off (0.2 to 5 s) is the probe.

export interface EngineChange {
  available: boolean
  /** Why it is away, for people (the engine's own error). */
  because?: string
}

export class EngineAvailability {
  #available: boolean | undefined
  #because: string | undefined

  /** Undefined until the first answer (or when there is no engine to ask). */
  get available(): boolean | undefined {
    return this.#available
  }

  /** A sentence for people while the engine is away; undefined otherwise. */
  get detail(): string | undefined {
    if (this.#available !== false) return undefined
    const because = this.#because ? ` (${this.#because})` : ''
    return `Docker is not reachable${because}. Not lending until it is back; retrying.`
  }

  /** Records an answer; returns the change, or undefined when nothing changed. */
  set(available: boolean, cause?: unknown): EngineChange | undefined {
    const because = available ? undefined : (reasonOf(cause) ?? this.#because)
    if (this.#available === available) {
      // Another error while away is the same news: only the sentence follows it.
      this.#because = because
      return undefined
    }
    const first = this.#available === undefined
    this.#available = available
    this.#because = because
    // The first answer being "available" is the normal case, not news.
    if (first && available) return undefined
    return { available, ...(because ? { because } : {}) }
  }
}

/** The innermost message of an error chain: "connect ENOENT /var/run/docker.sock". */
function reasonOf(cause: unknown): string | undefined {
  let e: unknown = cause
  let message: string | undefined
  for (let depth = 0; e instanceof Error && depth < 8; depth++) {
    message = e.message
    e = e.cause
  }
  return message?.slice(0, 200)
}
