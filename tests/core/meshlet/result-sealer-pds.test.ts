// A guest's sealed result when its host's PDS is in trouble at the end: a real PLC + PDS, real
// Docker, the replica runner itself. The host reads through a TCP proxy that can go down or
// silent, and uploads through an HTTP proxy that can answer 429. The owner's key is kept from
// the start, so an ending whose reads fail (or whose owner removed the key since) still seals, and
// a key kept over an hour is read again but still serves when that read fails; an upload refused
// for a moment is tried again; a failure that lasts past the bound sends the
// status without a result, nothing hangs, and the log says why.
import { AtpAgent } from '@atproto/api'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { NSID } from '../../../core/lexicon/index.js'
import type { Level } from '../../../core/log.js'
import type { RetryPlan } from '../../../core/meshlet/result-sealer.js'
import { ReplicaRunner } from '../../../core/meshlet/replica-runner.js'
import { StatusWriter } from '../../../core/meshlet/status-writer.js'
import { RepoReader } from '../../../core/repo/reader.js'
import { AgentWriter } from '../../../core/repo/writer.js'
import { Runtime } from '../../../core/runtime/index.js'
import { bidRkey } from '../../../core/scheduling/index.js'
import {
  generateKeyPair,
  openResult,
  publishOwnerKey,
  RESULT_MAX_BYTES,
  SealingKeyring,
  type SealingKeyPair,
} from '../../../core/sealing/index.js'
import { MemorySecretStore } from '../../../core/secrets.js'
import type { WorkloadView } from '../../../core/state.js'
import { TEST_IMAGE } from '../../infra.js'
import {
  createAccount,
  eventually,
  localIdentity,
  startNetwork,
  type Account,
  type Network,
} from '../../_util.js'
import { removeContainersOf } from '../../e2e/_util.js'
import { RateLimitProxy } from '../../support/rate-limit-proxy.js'
import { SilentProxy } from '../../support/silent-proxy.js'

let net: Network
let owner: Account
let host: Account
let ownerKeys: SealingKeyPair
/** Reads the test makes itself, straight from the PDS. */
let direct: RepoReader
/** The host's reads: through `reads`, counted. */
let reader: CountingReader
let reads: SilentProxy
let uploads: RateLimitProxy
let uploader: AgentWriter
let runtime: Runtime
let n = 0

class CountingReader extends RepoReader {
  keyReads = 0
  override async get(did: string, collection: string, rkey: string) {
    const rec = await super.get(did, collection, rkey)
    if (collection === NSID.sealingKey) this.keyReads++
    return rec
  }
}

interface Logged {
  level: Level
  event: string
  fields: Record<string, unknown>
}

beforeAll(async () => {
  net = await startNetwork()
  owner = await createAccount(net, 'owner')
  host = await createAccount(net, 'host')
  direct = new RepoReader(localIdentity(net))
  ownerKeys = generateKeyPair()
  await publishOwnerKey(direct, owner.session, ownerKeys)
  reads = new SilentProxy(net.pds.url)
  const readUrl = await reads.start()
  const identity = localIdentity(net)
  const resolve = identity.resolveDid.bind(identity)
  identity.resolveDid = async (did, force) => ({ ...(await resolve(did, force)), pds: readUrl })
  reader = new CountingReader(identity)
  uploads = new RateLimitProxy(net.pds.url, /^\/xrpc\/com\.atproto\.repo\.uploadBlob/)
  const agent = new AtpAgent({ service: await uploads.start() })
  await agent.login({ identifier: host.did, password: host.password })
  uploader = new AgentWriter(agent, host.did)
  runtime = new Runtime({ meshletDid: host.did })
}, 120_000)

afterAll(async () => {
  await removeContainersOf([host?.did].filter(Boolean) as string[])
  await reads?.close()
  await uploads?.close()
  await net?.close()
})

function runnerWith(plan?: RetryPlan, now: () => number = Date.now) {
  const logs: Logged[] = []
  const errors: [string, Error][] = []
  const runner = new ReplicaRunner({
    meshlet: host.did,
    runtime,
    statuses: new StatusWriter({
      put: async (rkey, record) => {
        await host.session.put(NSID.workloadStatus, rkey, record)
      },
      now,
    }),
    applier: {
      busy: () => undefined,
      startFailed: () => undefined,
      waitForSecrets: () => undefined,
    },
    reader,
    sealingKeys: new SealingKeyring(new MemorySecretStore(), host.did),
    upload: (bytes, mime) => uploader.uploadBlob(bytes, mime),
    workload: () => undefined,
    isBackfilled: () => true,
    onEnded: () => undefined,
    onReplica: () => undefined,
    onError: (stage, err) => errors.push([stage, err]),
    log: { log: (level, event, fields = {}) => logs.push({ level, event, fields }) },
    now,
    ...(plan ? { resultRetry: plan } : {}),
  })
  return { runner, logs, errors }
}

/** A one-shot guest of the owner's that prints `marker`. */
async function workload(marker: string): Promise<WorkloadView> {
  const record = {
    $type: NSID.workload,
    image: TEST_IMAGE,
    command: ['sh', '-c', `echo ${marker}`],
    resources: { cpuMillis: 100, memoryMiB: 32 },
    replicas: 1,
    createdAt: new Date().toISOString(),
  }
  const { uri, cid } = await owner.session.put(NSID.workload, `w${++n}${Date.now()}`, record)
  return { uri, cid, owner: owner.did, record: record as never }
}

/** Starts `w`, runs `meanwhile` once the start's key read is done, and reports the guest's end
 *  as the Docker event watch would; resolves once its status is published. */
async function runToEnd(
  runner: ReplicaRunner,
  w: WorkloadView,
  meanwhile: () => Promise<void> | void,
): Promise<void> {
  await runner.start(w, 0, new AbortController().signal)
  await meanwhile()
  const ended = await eventually(
    'the guest to end',
    async () => (await runtime.find(w.uri)).find((r) => r.state !== 'running'),
    60_000,
  )
  await runner.containerEvent(ended.containerId, 'die', ended.exitCode)
  await runner.settled()
  await runtime.stop(ended.containerId)
}

/** The final status of round 0 of `w` on the host's repo. */
async function finalStatus(w: WorkloadView) {
  const rec = await direct.get(host.did, NSID.workloadStatus, bidRkey(w.uri, 0, w.cid))
  return rec?.value as { state: string; result?: { ref: { toString(): string } } }
}

async function openedOutput(w: WorkloadView): Promise<string> {
  const status = await finalStatus(w)
  expect(status.state).toBe('exited')
  expect(status.result, 'a result on the final status').toBeDefined()
  const box = await direct.blob(host.did, status.result!.ref.toString(), RESULT_MAX_BYTES)
  return openResult(box, ownerKeys, w.uri, 0, host.did).output
}

describe('a sealed result when the host’s PDS is in trouble at the end', () => {
  it('seals with the key kept from the start when reads fail and the key is gone at the end', async () => {
    const { runner, logs } = runnerWith()
    const w = await workload('kept-key-marker')
    const before = reader.keyReads
    await runToEnd(runner, w, async () => {
      await eventually('the owner’s key to be read at the start', () => reader.keyReads > before)
      // The host's reads fail from now on, and the owner removed the key meanwhile.
      await reads.down()
      await owner.session.delete(NSID.sealingKey, 'self')
    })
    try {
      expect(await openedOutput(w)).toContain('kept-key-marker')
      expect(logs.filter((l) => l.event === 'result.lost')).toEqual([])
    } finally {
      await reads.restore()
      await publishOwnerKey(direct, owner.session, ownerKeys)
    }
  }, 120_000)

  it('reads a key kept over an hour again at the end, and uses it still when that read fails', async () => {
    let ahead = 0
    const plan = { delaysMs: [300, 600], deadlineMs: 5_000 }
    const { runner, logs } = runnerWith(plan, () => Date.now() + ahead)
    const w = await workload('stale-key-marker')
    const before = reader.keyReads
    await runToEnd(runner, w, async () => {
      await eventually('the owner’s key to be read at the start', () => reader.keyReads > before)
      ahead = 2 * 60 * 60_000
      await reads.down()
    })
    try {
      expect(await openedOutput(w)).toContain('stale-key-marker')
      // It was asked for again (three times), and the kept one served.
      expect(
        logs.filter((l) => l.event === 'result.retry' && l.fields.step === 'key'),
      ).toHaveLength(2)
      expect(logs.some((l) => l.event === 'result.key-kept')).toBe(true)
      expect(logs.filter((l) => l.event === 'result.lost')).toEqual([])
    } finally {
      await reads.restore()
    }
  }, 120_000)

  it('tries an upload the PDS refused (429) again, and the result arrives', async () => {
    const { runner, logs } = runnerWith()
    const w = await workload('retried-upload-marker')
    const refusedBefore = uploads.refused
    await runToEnd(runner, w, () => uploads.refuseFor(1_500))
    expect(await openedOutput(w)).toContain('retried-upload-marker')
    expect(uploads.refused).toBeGreaterThan(refusedBefore)
    expect(logs.some((l) => l.event === 'result.retry' && l.fields.step === 'upload')).toBe(true)
  }, 120_000)

  it('sends the status without a result when the upload is refused past the bound, saying why', async () => {
    const { runner, logs, errors } = runnerWith({ delaysMs: [300, 600], deadlineMs: 5_000 })
    const w = await workload('refused-marker')
    const refusedBefore = uploads.refused
    try {
      await runToEnd(runner, w, () => uploads.refuseFor(60_000))
    } finally {
      uploads.refuseFor(0)
    }
    const status = await finalStatus(w)
    expect(status.state).toBe('exited')
    expect(status.result).toBeUndefined()
    // Three tries, then it gave up.
    expect(uploads.refused - refusedBefore).toBe(3)
    const lost = logs.find((l) => l.event === 'result.lost')
    expect(lost?.level).toBe('warn')
    expect(lost?.fields.why).toBe('the sealed result could not be uploaded')
    expect(errors.map(([stage]) => stage)).toEqual(['result'])
  }, 120_000)

  it('does not hang on a PDS that never answers: the status goes out at the bound, saying why', async () => {
    const { runner, logs } = runnerWith({ delaysMs: [300, 600], deadlineMs: 3_000 })
    const w = await workload('silent-marker')
    // Silent before the start: no key is kept, and the end's reads get no answer.
    reads.silence()
    try {
      await runToEnd(runner, w, () => undefined)
    } finally {
      await reads.restore()
    }
    const status = await finalStatus(w)
    expect(status.state).toBe('exited')
    expect(status.result).toBeUndefined()
    const lost = logs.find((l) => l.event === 'result.lost')
    expect(lost?.fields.why).toBe('its owner’s sealing key could not be read')
    expect(String(lost?.fields.error)).toMatch(/no answer within 3 s/)
  }, 120_000)
})
