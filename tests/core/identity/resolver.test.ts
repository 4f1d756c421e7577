import { describe, expect, it } from 'vitest'
import { IdentityResolver, InvalidActorError } from '../../../core/identity/resolver.js'
import { TEST_REGISTRY } from '../../infra.js'

describe('IdentityResolver', () => {
  it('keeps the SSRF guard on for addresses named by records, unless the network is local', async () => {
    // A loopback service stands in for an internal address a hostile DID document could name.
    const url = `http://${TEST_REGISTRY}/v2/`
    await expect(new IdentityResolver({}).fetch(url)).rejects.toThrow()
    const local = new IdentityResolver({ allowPrivateNetwork: true })
    expect((await local.fetch(url)).status).toBe(200)
  })

  it.each(['not a did', 'did:nope', '@', 'did:plc:'])('refuses %j before any lookup', async (v) => {
    await expect(new IdentityResolver({}).resolveActor(v)).rejects.toBeInstanceOf(InvalidActorError)
  })
})
