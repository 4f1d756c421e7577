// The released app's OAuth client: a client-metadata document hosted on the project's pages
// (an HTTPS client_id, as atproto OAuth asks of a published client), for a native app that still
// receives the browser on its loopback redirect. Development builds keep the loopback client
// (`http://localhost?…`), which needs no hosting but cannot be tied to a published app. Which one
// an app uses is set at build time (the release workflow's MESHLET_OAUTH_CLIENT_ID); the pages
// workflow publishes the document made here, so the two always agree.
import type { OAuthClientMetadataInput } from '@atproto/oauth-client-node'

/** Where the document lives under the pages' base URL. */
export const CLIENT_METADATA_PATH = 'oauth/client-metadata.json'
/** The port-less loopback redirect; each sign-in names its port (RFC 8252 §7.3). */
export const RELEASE_REDIRECT = 'http://127.0.0.1/callback'

export class ClientMetadataError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options)
    this.name = 'ClientMetadataError'
  }
}

/** The pages' base URL of a GitHub repository ("owner/name"): https://owner.github.io/name. Host
 *  names are lower case, and the client_id is compared as a string, so this spells it so. */
export function pagesUrlOf(repository: string): string {
  const m = /^([A-Za-z0-9-]+)\/([A-Za-z0-9._-]+)$/.exec(repository)
  if (!m) throw new ClientMetadataError(`not a GitHub repository (owner/name): ${repository}`)
  return `https://${m[1]!.toLowerCase()}.github.io/${m[2]}`
}

/** The client_id for pages at `pagesUrl` (https only, no query or fragment). */
export function clientIdFor(pagesUrl: string): string {
  let url: URL
  try {
    url = new URL(pagesUrl.endsWith('/') ? pagesUrl : `${pagesUrl}/`)
  } catch (err) {
    throw new ClientMetadataError(`not a URL: ${pagesUrl}`, { cause: err })
  }
  if (url.protocol !== 'https:' || url.search || url.hash || url.username || url.password) {
    throw new ClientMetadataError(`the pages URL must be plain https: ${pagesUrl}`)
  }
  return new URL(CLIENT_METADATA_PATH, url).href
}

/** The document served at `clientId`, and what the app's OAuth client is configured with. */
export function releaseClientMetadata(clientId: string, scope: string): OAuthClientMetadataInput {
  const url = new URL(clientId)
  if (url.protocol !== 'https:' || !url.pathname.endsWith('.json')) {
    throw new ClientMetadataError(
      `a release client_id is an https URL of a .json document: ${clientId}`,
    )
  }
  const home = new URL('../', url).href.replace(/\/$/, '')
  return {
    client_id: clientId,
    client_name: 'Commune meshlet',
    client_uri: home,
    application_type: 'native',
    redirect_uris: [RELEASE_REDIRECT],
    grant_types: ['authorization_code', 'refresh_token'],
    response_types: ['code'],
    scope,
    // A public client: a desktop app cannot keep a secret. Tokens are bound to its DPoP key.
    token_endpoint_auth_method: 'none',
    dpop_bound_access_tokens: true,
  }
}
