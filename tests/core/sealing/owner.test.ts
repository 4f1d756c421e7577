// The owner's side against a real PLC + PDS: the app's submit form seals secrets; a stranger who
// claims to wait for them gets nothing; bad secret flags are usage errors that never echo a value.
import { mkdtemp } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { main, type Io } from '../../../core/cli/main.js'
import { NSID } from '../../../core/lexicon/index.js'
import { RepoReader } from '../../../core/repo/reader.js'
import {
  generateKeyPair,
  openSecrets,
  publishMeshletKey,
  SealingKeyring,
  SecretsSharer,
} from '../../../core/sealing/index.js'
import { MemorySecretStore } from '../../../core/secrets.js'
import { communeAround } from '../../../core/status.js'
import {
  createMember,
  link,
  localIdentity,
  memberApp,
  setMembership,
  startNetwork,
  type Member,
  type Network,
} from '../../_util.js'

let net: Network
let alice: Member
let eve: Member
const SECRET = 'hunter2-app-form-secret'

beforeAll(async () => {
  net = await startNetwork()
  alice = await createMember(net, 'alice')
  eve = await createMember(net, 'eve')
  for (const m of [alice, eve]) await link(m)
  await setMembership(alice, [alice])
  await setMembership(eve, [alice, eve]) // eve lists alice; alice does not list eve
})

afterAll(async () => {
  await net?.close()
})

describe('the owner’s side', () => {
  it('the app’s submit seals secrets: names in the workload, values only as ciphertext', async () => {
    const ownerKeys = new MemorySecretStore()
    const app = await memberApp(net, alice, { ownerKeyStore: ownerKeys })
    try {
      const { uri } = await app.call('workloads.submit', {
        image: 'busybox:1',
        cpuMillis: 100,
        memoryMiB: 32,
        replicas: 1,
        command: [],
        secrets: [{ name: 'TOKEN', value: SECRET }],
      })
      const reader = new RepoReader(localIdentity(net))
      const rkey = uri.split('/').pop()!
      const w = await reader.get(alice.owner.did, NSID.workload, rkey)
      expect((w!.value as { secrets?: string[] }).secrets).toEqual(['TOKEN'])
      const rec = await reader.get(alice.owner.did, NSID.workloadSecrets, rkey)
      const keys = await new SealingKeyring(ownerKeys, alice.owner.did).current()
      const opened = openSecrets(rec!.value, uri, alice.owner.did, keys, ['TOKEN'])
      expect(opened.ok && opened.secrets.get('TOKEN')).toBe(SECRET)
      const car = await alice.owner.session.agent.com.atproto.sync.getRepo({ did: alice.owner.did })
      expect(Buffer.from(car.data).includes(Buffer.from(SECRET))).toBe(false)
      // The owner's public key is published for hosts to seal results to.
      expect(await reader.get(alice.owner.did, NSID.sealingKey, 'self')).toBeDefined()

      // Eve's meshlet publishes a key and claims to wait: it is no member of alice's, so the
      // owner's side refuses and the record keeps no box for it.
      const eveKeys = new SealingKeyring(new MemorySecretStore(), eve.meshlet.did)
      expect(await publishMeshletKey(reader, eve.meshlet.session, await eveKeys.current())).toBe(
        true,
      )
      const { linkage } = await communeAround(reader, alice.owner.did)
      const sharer = new SecretsSharer({
        reader,
        writer: alice.owner.session,
        keys: new SealingKeyring(ownerKeys, alice.owner.did),
        isEligible: (m) => {
          const o = linkage.verifiedOwner(m)
          return o !== undefined && linkage.isMutual(alice.owner.did, o)
        },
      })
      expect(await sharer.share(uri, eve.meshlet.did)).toBe('refused')
      const after = await reader.get(alice.owner.did, NSID.workloadSecrets, rkey)
      const boxes = (after!.value as { boxes: { recipient: string }[] }).boxes
      expect(boxes.map((b) => b.recipient)).not.toContain(eve.meshlet.did)
      expect(openSecrets(after!.value, uri, eve.meshlet.did, await eveKeys.current()).ok).toBe(
        false,
      )
      // Nor can anyone forge the owner's box: a random key opens nothing.
      expect(openSecrets(after!.value, uri, alice.owner.did, generateKeyPair()).ok).toBe(false)
    } finally {
      await app.close()
    }
  })

  it('bad secret flags are usage errors that never echo a value', async () => {
    const err: string[] = []
    const io: Io = { out: () => undefined, err: (l) => err.push(l), env: {} }
    const dir = await mkdtemp(join(tmpdir(), 'seal-flags-'))
    const base = ['submit', '--owner', alice.owner.did, '--image', 'busybox:1']
    for (const [flags, message] of [
      [['--secret', '1BAD=hunter2'], /letters, digits and _/],
      [['--secret', 'novalue'], /--secret takes NAME=VALUE/],
      [['--secret', 'A=hunter2', '--secret', 'A=hunter3'], /A is given twice/],
      [['--secret-file', `F=${join(dir, 'missing')}`], /cannot read/],
      [['--secret', `BIG=${'hunter2'.repeat(700)}`], /at most 4096 together/],
    ] as const) {
      err.length = 0
      expect(await main([...base, ...flags], io)).toBe(2)
      expect(err.join('\n')).toMatch(message)
      expect(err.join('\n')).not.toContain('hunter2')
    }
  })
})
