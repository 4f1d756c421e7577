// One error class per stage of running a guest: the spec, the image, the lender's policy, the pull,
// the engine itself, and the containers we are asked to touch. Callers (and the UI) branch on the
// class; the Docker error, when there is one, is kept as `cause`.

/** Base of every error this folder throws, so callers can tell runtime failures apart. */
export class ContainerRuntimeError extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options)
    this.name = new.target.name
  }
}

/** The replica spec cannot be run anywhere (or not on this host); nothing was sent to Docker. */
export class InvalidSpecError extends ContainerRuntimeError {
  readonly problems: string[]
  constructor(problems: string[], options?: ErrorOptions) {
    super(`invalid replica spec: ${problems.join('; ')}`, options)
    this.problems = problems
  }
}

/** The image reference is not a valid Docker reference. */
export class InvalidImageError extends ContainerRuntimeError {
  readonly image: string
  constructor(image: string, reason: string, options?: ErrorOptions) {
    super(`invalid image reference ${JSON.stringify(image)}: ${reason}`, options)
    this.image = image
  }
}

/** Why the lender's settings refuse a workload; a named value the UI can show. */
export type PolicyReason =
  | 'egress-not-allowed'
  | 'registry-not-allowed'
  /** Its download (the registry manifest's layer sizes) is larger than the lender allows. */
  | 'image-too-large'
  /** The lender set a maximum image size and the registry would not say the image's size. */
  | 'image-size-unknown'

/** The workload is valid but this meshlet's lender does not allow it. */
export class PolicyError extends ContainerRuntimeError {
  readonly reason: PolicyReason
  constructor(reason: PolicyReason, message: string, options?: ErrorOptions) {
    super(message, options)
    this.reason = reason
  }
}

/**
 * The image is pinned as `name:tag@digest`, and its registry now gives the tag another digest
 * (re-tagged): which of the two the owner meant cannot be known, so it is not run.
 */
export class ImageDigestMismatchError extends ContainerRuntimeError {
  readonly image: string
  readonly current: string
  constructor(image: string, current: string, options?: ErrorOptions) {
    super(
      `digest-mismatch: image ${image} is pinned to a digest its tag no longer has (the registry gives ${current}); not run`,
      options,
    )
    this.image = image
    this.current = current
  }
}

/** Docker could not pull the image (unknown tag or repository, registry unreachable, ...). */
export class ImagePullError extends ContainerRuntimeError {
  readonly image: string
  constructor(image: string, detail: string, options?: ErrorOptions) {
    super(`could not pull image ${image}: ${detail}`, options)
    this.image = image
  }
}

/** The Docker engine cannot be reached, or went away in the middle of an operation. */
export class RuntimeUnavailableError extends ContainerRuntimeError {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options)
  }
}

/** The container exists but is not one of this meshlet's guests; we never touch it. */
export class ForeignContainerError extends ContainerRuntimeError {
  readonly containerId: string
  constructor(containerId: string, options?: ErrorOptions) {
    super(`container ${containerId} is not managed by this meshlet; refusing to touch it`, options)
    this.containerId = containerId
  }
}

/** The replica's container already exists in a state (or for a version) that forbids starting. */
export class ReplicaConflictError extends ContainerRuntimeError {
  readonly containerId: string
  constructor(containerId: string, message: string, options?: ErrorOptions) {
    super(message, options)
    this.containerId = containerId
  }
}

/** No container with that id or name. */
export class ReplicaNotFoundError extends ContainerRuntimeError {
  readonly containerId: string
  constructor(containerId: string, options?: ErrorOptions) {
    super(`no container ${containerId}`, options)
    this.containerId = containerId
  }
}

/** Docker refused to create or start the replica's container. */
export class ReplicaStartError extends ContainerRuntimeError {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options)
  }
}

/** Any other failure of a Docker call, named by the operation that failed. */
export class RuntimeOperationError extends ContainerRuntimeError {
  readonly operation: string
  constructor(operation: string, message: string, options?: ErrorOptions) {
    super(`${operation}: ${message}`, options)
    this.operation = operation
  }
}

/** The `onEvent` callback given to `Runtime.watch` threw; the watch goes on. */
export class EventHandlerError extends ContainerRuntimeError {
  constructor(options?: ErrorOptions) {
    super('replica event handler threw', options)
  }
}

// Errors of the connection to the engine, as opposed to answers from it. Docker answering with an
// HTTP error is never "unavailable": the engine is there and said no.
const connectionCodes = new Set([
  'ECONNREFUSED',
  'ENOENT',
  'ECONNRESET',
  'EPIPE',
  'ETIMEDOUT',
  'EACCES',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENOTFOUND',
  'EAI_AGAIN',
  'ECONNABORTED',
  'ERR_STREAM_PREMATURE_CLOSE',
  'UND_ERR_SOCKET',
])

interface DockerishError {
  code?: unknown
  statusCode?: unknown
  message?: unknown
  json?: unknown
}

/** HTTP status of a Docker API error answer, if the error is one. */
export function statusOf(err: unknown): number | undefined {
  const status = (err as DockerishError | undefined)?.statusCode
  return typeof status === 'number' ? status : undefined
}

/** The engine's own message for an HTTP error answer, else the error's message. */
export function dockerMessage(err: unknown): string {
  const e = err as DockerishError | undefined
  const json = e?.json as { message?: unknown } | undefined
  if (json && typeof json.message === 'string') return json.message
  if (typeof e?.message === 'string') return e.message
  return String(err)
}

export function isConnectionError(err: unknown): boolean {
  if (!(err instanceof Error)) return false
  if (statusOf(err) !== undefined) return false
  const code = (err as DockerishError).code
  if (typeof code === 'string' && connectionCodes.has(code)) return true
  return /socket hang up|^aborted$|connect E|premature close/i.test(err.message)
}

/**
 * Turns an error from a Docker call into ours: connection failures become
 * RuntimeUnavailableError, errors already ours pass through, the rest become
 * RuntimeOperationError naming `operation`.
 */
export function wrapDockerError(err: unknown, operation: string): Error {
  if (err instanceof ContainerRuntimeError) return err
  if (isConnectionError(err)) {
    return new RuntimeUnavailableError(`Docker engine unavailable during ${operation}`, {
      cause: err,
    })
  }
  return new RuntimeOperationError(operation, dockerMessage(err), { cause: err })
}
