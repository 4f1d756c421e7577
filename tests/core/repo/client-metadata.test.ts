// The released app's OAuth client-metadata document: valid for @atproto/oauth-types' schema, for
// the OAuth client library the app runs, and for a real PDS's authorization server (dev-env's
// provider, which would fetch it from the pages); the development loopback client is unchanged.
import { NodeOAuthClient, requestLocalLock } from '@atproto/oauth-client-node'
import { oauthClientMetadataSchema } from '@atproto/oauth-types'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import {
  CLIENT_METADATA_PATH,
  ClientMetadataError,
  clientIdFor,
  pagesUrlOf,
  releaseClientMetadata,
  RELEASE_REDIRECT,
} from '../../../core/repo/client-metadata.js'
import { clientScope } from '../../../core/repo/oauth.js'
import { startNetwork, type Network } from '../../_util.js'

function memoryStore<V>() {
  const map = new Map<string, V>()
  return {
    get: async (k: string) => map.get(k),
    set: async (k: string, v: V) => void map.set(k, v),
    del: async (k: string) => void map.delete(k),
  }
}

const CLIENT_ID = 'https://commune-org.github.io/meshlet/oauth/client-metadata.json'

describe('the pages URL and the client_id', () => {
  it.each([
    ['Commune-Org/meshlet', 'https://commune-org.github.io/meshlet'],
    ['alice/commune.meshlet', 'https://alice.github.io/commune.meshlet'],
  ])('%s → %s', (repo, url) => {
    expect(pagesUrlOf(repo)).toBe(url)
    expect(clientIdFor(url)).toBe(`${url}/${CLIENT_METADATA_PATH}`)
  })

  it('keeps a custom domain, with or without a trailing slash', () => {
    expect(clientIdFor('https://meshlet.example.org/')).toBe(
      'https://meshlet.example.org/oauth/client-metadata.json',
    )
  })

  it.each(['not/a/repo', 'owner', 'own er/name'])('refuses the repository %s', (repo) => {
    expect(() => pagesUrlOf(repo)).toThrow(ClientMetadataError)
  })

  it.each(['http://meshlet.example.org', 'https://meshlet.example.org/?x=1', 'nope'])(
    'refuses the pages URL %s',
    (url) => {
      expect(() => clientIdFor(url)).toThrow(ClientMetadataError)
    },
  )

  it('refuses a client_id that is not an https .json document', () => {
    expect(() => releaseClientMetadata('http://x.example/c.json', 'atproto')).toThrow(/https/)
    expect(() => releaseClientMetadata('https://x.example/client', 'atproto')).toThrow(/json/)
  })
})

describe('the release document', () => {
  const doc = releaseClientMetadata(CLIENT_ID, clientScope())
  let net: Network

  beforeAll(async () => {
    net = await startNetwork()
  })
  afterAll(async () => {
    await net?.close()
  })

  it('is a native client with the loopback redirect, public, DPoP-bound, narrow scopes', () => {
    expect(doc).toMatchObject({
      client_id: CLIENT_ID,
      application_type: 'native',
      redirect_uris: [RELEASE_REDIRECT],
      token_endpoint_auth_method: 'none',
      dpop_bound_access_tokens: true,
    })
    expect(doc.scope?.split(' ')).toContain('atproto')
    expect(doc.scope).not.toMatch(/transition:generic/)
  })

  it('passes @atproto/oauth-types’ schema', () => {
    expect(oauthClientMetadataSchema.safeParse(doc).success).toBe(true)
  })

  it('configures the OAuth client library, with this sign-in’s port', () => {
    expect(
      () =>
        new NodeOAuthClient({
          clientMetadata: { ...doc, redirect_uris: ['http://127.0.0.1:53123/callback'] },
          stateStore: memoryStore(),
          sessionStore: memoryStore(),
          requestLock: requestLocalLock,
        }),
    ).not.toThrow()
  })

  it('is accepted by a real PDS’s authorization server, which refuses it as a web app', () => {
    // The check the server runs on a document it fetched (protected in its typings).
    const clients = net.pds.ctx.oauthProvider!.clientManager as unknown as {
      validateClientMetadata(id: string, metadata: unknown): unknown
    }
    const parsed = oauthClientMetadataSchema.parse(doc)
    expect(clients.validateClientMetadata(CLIENT_ID, parsed)).toMatchObject({
      client_id: CLIENT_ID,
    })
    const asWeb = oauthClientMetadataSchema.parse({ ...doc, application_type: 'web' })
    expect(() => clients.validateClientMetadata(CLIENT_ID, asWeb)).toThrow(/native/)
  })
})
