// Docker image references, parsed by the grammar of distribution/reference (the one the engine
// uses), so a bad reference is refused before Docker sees it and the registry allow-list is
// checked against the registry Docker would actually contact.
import { InvalidImageError } from './errors.js'

export interface ImageRef {
  /** As given, minus tag and digest: what Docker is asked to pull (`fromImage`). */
  name: string
  /** Registry host[:port]; `docker.io` when the reference names none. */
  registry: string
  /** Path inside the registry, with `library/` added for official Docker Hub images. */
  repository: string
  tag?: string
  digest?: string
}

const DOCKER_HUB = 'docker.io'
const hubAliases = new Set(['docker.io', 'index.docker.io', 'registry-1.docker.io'])

const domainComponent = '(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])'
const domainRe = new RegExp(
  `^(?:${domainComponent}(?:\\.${domainComponent})*|\\[[0-9a-fA-F:.]+\\])(?::[0-9]{1,5})?$`,
)
const pathComponentRe = /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$/
const tagRe = /^[\w][\w.-]{0,127}$/
const digestRe = /^(?:sha256:[a-f0-9]{64}|sha384:[a-f0-9]{96}|sha512:[a-f0-9]{128})$/
const maxNameLength = 255

/** Parses a Docker image reference; throws InvalidImageError when Docker would refuse it. */
export function parseImageRef(ref: string): ImageRef {
  if (typeof ref !== 'string' || ref.length === 0) {
    throw new InvalidImageError(String(ref), 'empty')
  }
  let rest = ref
  let digest: string | undefined
  const at = rest.indexOf('@')
  if (at !== -1) {
    digest = rest.slice(at + 1)
    rest = rest.slice(0, at)
    if (!digestRe.test(digest)) {
      throw new InvalidImageError(ref, 'digest must be sha256:<64 hex> (or sha384, sha512)')
    }
  }
  let tag: string | undefined
  const lastSlash = rest.lastIndexOf('/')
  const colon = rest.lastIndexOf(':')
  // A colon before the last slash belongs to a registry port, not a tag.
  if (colon > lastSlash) {
    tag = rest.slice(colon + 1)
    rest = rest.slice(0, colon)
    if (!tagRe.test(tag)) throw new InvalidImageError(ref, `invalid tag ${JSON.stringify(tag)}`)
  }
  const name = rest
  if (name.length === 0) throw new InvalidImageError(ref, 'no repository name')
  if (name.length > maxNameLength) {
    throw new InvalidImageError(ref, `name longer than ${maxNameLength} characters`)
  }

  let registry = DOCKER_HUB
  let path = name
  const slash = name.indexOf('/')
  if (slash !== -1) {
    const first = name.slice(0, slash)
    const isDomain =
      first.includes('.') ||
      first.includes(':') ||
      first === 'localhost' ||
      first.toLowerCase() !== first
    if (isDomain) {
      if (!domainRe.test(first)) {
        throw new InvalidImageError(ref, `invalid registry ${JSON.stringify(first)}`)
      }
      registry = normalizeRegistry(first)
      path = name.slice(slash + 1)
    }
  }
  const components = path.split('/')
  for (const component of components) {
    if (!pathComponentRe.test(component)) {
      throw new InvalidImageError(
        ref,
        `invalid path component ${JSON.stringify(component)} (lowercase letters, digits, separators . _ __ -)`,
      )
    }
  }
  const repository = registry === DOCKER_HUB && components.length === 1 ? `library/${path}` : path
  const out: ImageRef = { name, registry, repository }
  if (tag !== undefined) out.tag = tag
  if (digest !== undefined) out.digest = digest
  return out
}

/** Lowercases a registry host and folds Docker Hub's aliases into `docker.io`. */
export function normalizeRegistry(registry: string): string {
  const lower = registry.trim().toLowerCase()
  return hubAliases.has(lower) ? DOCKER_HUB : lower
}

/** Whether `ref`'s registry is on the allow-list (no list means every registry is allowed). */
export function registryAllowed(ref: ImageRef, allowList: readonly string[] | undefined): boolean {
  if (allowList === undefined) return true
  return allowList.some((entry) => normalizeRegistry(entry) === ref.registry)
}

/**
 * A registry host as a lender names it for the allow-list (`ghcr.io`, `127.0.0.1:5055`, `Docker.io`),
 * checked by the same grammar as in image references and normalized; undefined when it is not one.
 */
export function parseRegistryHost(raw: string): string | undefined {
  if (typeof raw !== 'string') return undefined
  const host = raw.trim()
  if (host.length === 0 || host.length > 255 || !domainRe.test(host)) return undefined
  return normalizeRegistry(host)
}
