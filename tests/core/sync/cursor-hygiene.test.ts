// Cursor hygiene on the relay source (the pds source runs the same subscription per PDS): the
// cursor follows every frame seen, not only our records, so a restarted meshlet resumes near
// the head; and a cursor older than the service keeps is answered by listing the followed repos
// (an `outdated` event, which the meshlet logs as sync.outdated), not by a replay.
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { TestNetworkNoAppView } from '@atproto/dev-env'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { NSID } from '../../../core/lexicon/index.js'
import { RepoReader } from '../../../core/repo/reader.js'
import { RecordSync, type RecordEvent } from '../../../core/sync/index.js'
import { StreamCutProxy } from '../../support/stream-cut-proxy.js'
import {
  createAccount,
  eventually,
  localIdentity,
  type Account,
  type Network,
} from '../../_util.js'

/** The PDS keeps events for replay this long (a day by default). */
const KEEP_MS = 3000

let net: Network
let dir: string
let alice: Account
let chatty: Account

beforeAll(async () => {
  net = (await TestNetworkNoAppView.create({ pds: { repoBackfillLimitMs: KEEP_MS } })) as Network
  dir = await mkdtemp(join(tmpdir(), 'meshlet-cursor-'))
  alice = await createAccount(net, 'alice')
  chatty = await createAccount(net, 'chatty')
})

afterAll(async () => {
  await net?.close()
  await rm(dir, { recursive: true, force: true })
})

function follower(cursorFile: string, service: string = net.pds.url) {
  const events: RecordEvent[] = []
  const identity = localIdentity(net)
  const sync = new RecordSync({
    identity,
    reader: new RepoReader(identity),
    service,
    cursorFile,
    wants: (did) => did === alice.did,
    onEvent: (e) => events.push(e),
    onError: () => undefined,
  })
  return { sync, events }
}

const membership = (members: string[]) => ({ members, createdAt: new Date().toISOString() })
const head = async () => (await net.pds.ctx.sequencer.curr()) ?? 0
const saved = async (file: string) =>
  Object.values(
    (JSON.parse(await readFile(file, 'utf8')) as { cursors: Record<string, number> }).cursors,
  )[0]!

describe('the relay cursor', () => {
  it('follows every frame, so a restart resumes near the head, not at our last record', async () => {
    const file = join(dir, 'every-frame.json')
    const first = follower(file)
    await first.sync.start()
    await first.sync.follow(alice.did)
    await alice.session.put(NSID.membership, 'self', membership(['did:plc:one']))
    await eventually('our record', () =>
      first.events.some((e) => e.event === 'put' && e.source === 'firehose'),
    )
    const ours = await head()
    // Many commits that are none of our business.
    for (let i = 0; i < 40; i++) {
      await chatty.session.agent.com.atproto.repo.createRecord({
        repo: chatty.did,
        collection: 'app.bsky.feed.post',
        record: {
          $type: 'app.bsky.feed.post',
          text: `post ${i}`,
          createdAt: new Date().toISOString(),
        },
      })
    }
    const end = await head()
    expect(end).toBeGreaterThanOrEqual(ours + 40)
    // Persisted (throttled, not per frame) while running, not only at stop.
    await eventually('the cursor saved at the head', async () => (await saved(file)) === end)
    await first.sync.stop()

    const second = follower(file)
    await second.sync.start()
    expect(second.sync.cursorSeq).toBe(end)
    await second.sync.stop()
  })

  it('older than the service keeps: says so and lists the repos instead of replaying', async () => {
    const file = join(dir, 'outdated.json')
    const first = follower(file)
    await first.sync.start()
    await first.sync.follow(alice.did)
    await alice.session.put(NSID.membership, 'self', membership(['did:plc:before']))
    await eventually('our record', () =>
      first.events.some((e) => e.event === 'put' && e.source === 'firehose'),
    )
    await first.sync.stop()
    // Published while the follower is down, and then left to age out of the PDS's window.
    await alice.session.put(NSID.membership, 'self', membership(['did:plc:missed']))
    await new Promise((r) => setTimeout(r, KEEP_MS + 500))

    // Followed (listed once) before the subscription starts: a listing after the report can
    // only be the relisting.
    const second = follower(file)
    await second.sync.follow(alice.did)
    await second.sync.start()
    await eventually('the outdated cursor reported', () =>
      second.events.some((e) => e.event === 'outdated'),
    )
    const outdated = second.events.find((e) => e.event === 'outdated')
    expect(outdated).toMatchObject({ event: 'outdated', source: 'relay' })
    // The repo listed again after the report: the missed record arrives by listing.
    await eventually('relisted', () => {
      const at = second.events.indexOf(outdated!)
      return second.events
        .slice(at)
        .some(
          (e) =>
            e.event === 'put' &&
            e.source === 'backfill' &&
            (e.record as { members: string[] }).members.includes('did:plc:missed'),
        )
    })
    await second.sync.stop()
  })

  it('a stream cut before any frame gave it a cursor: lists the repos again once it is back', async () => {
    await using proxy = new StreamCutProxy(net.pds.url)
    const { sync, events } = follower(join(dir, 'cursorless.json'), await proxy.start())
    await sync.start()
    await sync.follow(alice.did)
    // Connected, and quiet: no frame yet, so no cursor to resume from.
    await eventually('connected', () => proxy.accepted > 0)
    proxy.cut(1500)
    await alice.session.put(NSID.membership, 'self', membership(['did:plc:during-the-cut']))
    await eventually('listed again once the stream is back', () =>
      events.some(
        (e) =>
          e.event === 'put' &&
          (e.record as { members: string[] }).members.includes('did:plc:during-the-cut'),
      ),
    )
    expect(events).toContainEqual(expect.objectContaining({ event: 'gap', source: 'relay' }))
    expect(proxy.refused).toBeGreaterThan(0)
    await sync.stop()
  })
})
