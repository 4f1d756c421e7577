// Publishing and editing workloads from the app, against a real PLC + PDS: the whole spec lands
// in the record the lexicon describes, an edit publishes a new version that keeps what the form
// does not show, and nobody edits a workload that is not theirs.
import { AtUri } from '@atproto/syntax'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { ApiError, validateArgs, type WorkloadDraft } from '../../../core/api.js'
import type { MeshletApp } from '../../../core/app.js'
import { optionsOf, specOf } from '../../../core/app/workloads.js'
import { buildWorkload } from '../../../core/spec/index.js'
import { checkRecord, NSID, type WorkloadRecord } from '../../../core/lexicon/index.js'
import { versionKey } from '../../../core/tombstone/index.js'
import {
  createMember,
  eventually,
  link,
  memberApp,
  startNetwork,
  type Member,
  type Network,
} from '../../_util.js'

let net: Network
let alice: Member
let bob: Member
let app: MeshletApp

const whole: WorkloadDraft = {
  image: 'busybox:1',
  cpuMillis: 150,
  memoryMiB: 48,
  replicas: 2,
  command: ['sh', '-c', 'echo $GREETING'],
  env: [
    { name: 'GREETING', value: 'hello = world' },
    { name: 'EMPTY', value: '' },
  ],
  storageMiB: 96,
  arch: ['amd64'],
  restart: { mode: 'on-failure', maxAttempts: 2, delayMs: 3000 },
  maxRuntimeSeconds: 90,
  egress: true,
}

beforeAll(async () => {
  net = await startNetwork()
  alice = await createMember(net, 'alice')
  bob = await createMember(net, 'bob')
  await link(alice)
  app = await memberApp(net, alice)
})

afterAll(async () => {
  await app?.close()
  await net?.close()
})

async function recordOf(uri: string): Promise<{ cid: string; value: WorkloadRecord }> {
  const at = new AtUri(uri)
  const res = await alice.owner.session.agent.com.atproto.repo.getRecord({
    repo: at.host,
    collection: at.collection,
    rkey: at.rkey,
  })
  const check = checkRecord(NSID.workload, res.data.value)
  if (!check.ok) throw new Error(check.reason)
  return { cid: res.data.cid!, value: check.value }
}

describe('the app’s workloads', () => {
  it('publishes every field of the spec in the record, and reads it back as the same spec', async () => {
    const { uri } = await app.call('workloads.submit', validateArgs('workloads.submit', whole))
    const { value } = await recordOf(uri)
    expect(value).toMatchObject({
      image: 'busybox:1',
      resources: { cpuMillis: 150, memoryMiB: 48, storageMiB: 96 },
      replicas: 2,
      command: ['sh', '-c', 'echo $GREETING'],
      env: whole.env,
      network: 'egress',
      constraints: { arch: ['amd64'] },
      restartPolicy: { mode: 'on-failure', maxAttempts: 2, delayMs: 3000 },
      maxRuntimeMs: 90_000,
    })
    expect(value.updatedAt).toBeUndefined()
    expect(specOf(value)).toEqual(whole)
    // The dashboard shows it with its spec, for the edit form.
    const view = await eventually('the workload in the dashboard', () =>
      app.snapshot().workloads.find((w) => w.uri === uri),
    )
    expect(view.spec).toEqual(whole)
  })

  it('an edit publishes a new version: new CID, updatedAt, the spec replaced, the rest kept', async () => {
    const { uri } = await app.call('workloads.submit', {
      image: 'busybox:1',
      cpuMillis: 100,
      memoryMiB: 32,
      replicas: 1,
      command: ['sleep', '60'],
      env: [{ name: 'OLD', value: '1' }],
      arch: ['arm64'],
      secrets: [{ name: 'TOKEN', value: 'never-shown' }],
    })
    const before = await recordOf(uri)
    const edited: WorkloadDraft = {
      image: 'busybox:1',
      cpuMillis: 200,
      memoryMiB: 64,
      replicas: 1,
      command: [],
      env: [{ name: 'NEW', value: '2' }],
      restart: { mode: 'always', maxAttempts: 1, delayMs: 0 },
    }
    const res = await app.call(
      'workloads.update',
      validateArgs('workloads.update', { uri, draft: edited }),
    )
    expect(res.uri).toBe(uri)
    const after = await recordOf(uri)
    expect(after.cid).not.toBe(before.cid)
    expect(Date.parse(after.value.updatedAt!)).toBeGreaterThan(Date.parse(before.value.createdAt))
    // Kept: when it was first published, its bid window, its secrets.
    expect(after.value.createdAt).toBe(before.value.createdAt)
    expect(after.value.bidWindowMs).toBe(before.value.bidWindowMs)
    expect(after.value.secrets).toEqual(['TOKEN'])
    // Replaced: everything the form shows, and what it left empty is gone.
    expect(after.value.command).toBeUndefined()
    expect(after.value.constraints).toBeUndefined()
    expect(after.value.env).toEqual([{ name: 'NEW', value: '2' }])
    expect(specOf(after.value)).toEqual({ ...edited, egress: false, secretNames: ['TOKEN'] })
    // The replaced version stays as a tombstone of its own, so its usage keeps counting.
    const rkey = uri.split('/').pop()!
    const kept = await recordOf(uri.replace(/[^/]+$/, versionKey(rkey, before.cid)))
    expect(kept.value).toMatchObject({
      versionOf: uri,
      deletedVersion: before.cid,
      command: ['sleep', '60'],
    })

    // A second edit opens later still, even within the same millisecond.
    await app.call('workloads.update', { uri, draft: edited })
    const again = await recordOf(uri)
    expect(Date.parse(again.value.updatedAt!)).toBeGreaterThan(Date.parse(after.value.updatedAt!))
  })

  it('keeps the meshlets a workload names when the form edits it', async () => {
    const created = await alice.owner.session.create(NSID.workload, {
      image: 'busybox:1',
      resources: { cpuMillis: 100, memoryMiB: 32 },
      replicas: 1,
      constraints: { meshlets: [bob.meshlet.did], arch: ['amd64'] },
      createdAt: new Date().toISOString(),
    })
    await app.call('workloads.update', {
      uri: created.uri,
      draft: { image: 'busybox:1', cpuMillis: 100, memoryMiB: 32, replicas: 1, command: [] },
    })
    expect((await recordOf(created.uri)).value.constraints).toEqual({
      meshlets: [bob.meshlet.did],
    })
  })

  it('refuses to edit what is not ours or was deleted, and writes nothing', async () => {
    const draft = { image: 'busybox:1', cpuMillis: 100, memoryMiB: 32, replicas: 1, command: [] }
    const theirs = await bob.owner.session.create(NSID.workload, {
      ...buildWorkload(optionsOf(draft)),
      createdAt: new Date().toISOString(),
    })
    const refused = (uri: string) =>
      app.call('workloads.update', { uri, draft }).then(
        () => undefined,
        (err: unknown) => err,
      )
    const notOurs = await refused(theirs.uri)
    expect(notOurs).toBeInstanceOf(ApiError)
    expect(notOurs).toMatchObject({ code: 'not-found', message: 'not one of your workloads' })

    const { uri } = await app.call('workloads.submit', draft)
    const version = await recordOf(uri)
    await app.call('workloads.delete', { uri })
    expect(await refused(uri)).toMatchObject({
      code: 'not-found',
      message: 'that workload was deleted',
    })
    // What stays is its tombstone: the version as it was, with when it was deleted.
    const tomb = await recordOf(uri)
    expect(tomb.value).toMatchObject({ ...version.value, deletedVersion: version.cid })
    expect(Date.parse(tomb.value.deletedAt!)).toBeGreaterThan(Date.now() - 60_000)
    // Deleting it again changes nothing; a workload that never existed is not found.
    await app.call('workloads.delete', { uri })
    expect((await recordOf(uri)).cid).toBe(tomb.cid)
    const never = `at://${alice.owner.did}/${NSID.workload}/3lnever000000`
    await expect(app.call('workloads.delete', { uri: never })).rejects.toMatchObject({
      code: 'not-found',
    })
  })
})
