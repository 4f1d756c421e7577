// A PDS that goes away mid-operation: reads and writes fail with clear errors of their own
// class, nothing crashes, and the sync loop still stops cleanly.
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { NSID } from '../../../core/lexicon/index.js'
import { RepoReader } from '../../../core/repo/reader.js'
import { RepoWriteError } from '../../../core/repo/errors.js'
import { RecordSync, SyncError, type RecordEvent } from '../../../core/sync/index.js'
import {
  createAccount,
  eventually,
  localIdentity,
  startNetwork,
  type Account,
  type Network,
} from '../../_util.js'

let net: Network
let alice: Account
let bob: Account

beforeAll(async () => {
  net = await startNetwork()
  alice = await createAccount(net, 'alice')
  bob = await createAccount(net, 'bob')
})

afterAll(async () => {
  await net?.plc.close().catch(() => undefined)
})

describe('when the PDS goes away', () => {
  it('refuses backfill and writes with clear errors, and stops cleanly', async () => {
    const identity = localIdentity(net)
    const events: RecordEvent[] = []
    const errors: Error[] = []
    const sync = new RecordSync({
      identity,
      reader: new RepoReader(identity),
      service: net.pds.url,
      wants: () => true,
      onEvent: (e) => events.push(e),
      onError: (e) => errors.push(e),
    })
    await sync.start()
    await sync.follow(alice.did)
    await alice.session.put(NSID.membership, 'self', {
      members: [bob.did],
      createdAt: new Date().toISOString(),
    })
    await eventually('live event', () => events.some((e) => e.event === 'put'))

    await net.pds.close()

    await expect(sync.follow(bob.did)).rejects.toBeInstanceOf(SyncError)
    const write = alice.session.put(NSID.membership, 'self', {
      members: [],
      createdAt: new Date().toISOString(),
    })
    await expect(write).rejects.toBeInstanceOf(RepoWriteError)
    await expect(write).rejects.toThrow(/putRecord commune\.scheduler\.membership\/self/)
    await write.catch((err: Error) => expect(String(err.message)).not.toContain(alice.password))
    // Stopping still works, promptly, with the service gone; no error escaped as a crash.
    await sync.stop()
    expect(errors.every((e) => e instanceof Error)).toBe(true)
  })
})
