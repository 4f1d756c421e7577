// The whole workload spec from the dashboard, end to end: Chromium drives the built renderer
// served by a real `meshlet run --ui-port 0` daemon (alice's), beside bob's meshlet, with real
// Docker and a real PDS. What the form publishes must be the record every meshlet reads and must
// change what runs (environment, storage, restarts); an edit must be placed as a new version; a
// workload that waits must say, per member machine, why it got no bid, from what that machine
// published; bad input must say what is wrong and publish nothing.
import { mkdtemp } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { AtUri } from '@atproto/syntax'
import { type Browser, type Page } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { main } from '../../core/cli/main.js'
import { NSID, type WorkloadRecord } from '../../core/lexicon/index.js'
import { Meshlet } from '../../core/meshlet.js'
import { LABEL_CID } from '../../core/runtime/index.js'
import { bidRkey, describeReason, MAX_PRIORITY } from '../../core/scheduling/index.js'
import { TEST_IMAGE, launchChromium } from '../infra.js'
import {
  createMember,
  eventually,
  link,
  setMembership,
  startNetwork,
  type Member,
  type Network,
} from '../_util.js'
import { containersOf, docker, dockerMeshlet, removeContainersOf } from './_util.js'

let net: Network
let alice: Member
let bob: Member
let carol: Member
let bobMeshlet: Meshlet
let stopDaemon: () => void
let daemon: Promise<number>
let browser: Browser
let page: Page

beforeAll(async () => {
  net = await startNetwork()
  alice = await createMember(net, 'alice')
  bob = await createMember(net, 'bob')
  carol = await createMember(net, 'carol')
  for (const m of [alice, bob, carol]) await link(m)
  // bob lends storage too: the first workload asks for some.
  bobMeshlet = dockerMeshlet(net, bob, [alice], {
    offer: { cpuMillis: 1000, memoryMiB: 256, storageMiB: 1024 },
  })
  await bobMeshlet.start()
  // carol's machine is linked and lists alice, but no meshlet runs there and it published
  // nothing about its lending: nobody can know why it does not bid.
  await setMembership(carol, [alice, carol])

  const dataDir = await mkdtemp(join(tmpdir(), 'meshlet-dash-spec-'))
  const printed: string[] = []
  const stop = new Promise<void>((r) => (stopDaemon = r))
  daemon = main(
    [
      'run',
      '--did',
      alice.meshlet.handle,
      '--owner',
      alice.owner.handle,
      '--cluster-members',
      `${bob.owner.handle},${carol.owner.handle}`,
      '--firehose',
      net.pds.url,
      '--plc',
      net.plc.url,
      '--handle-resolver',
      net.pds.url,
      '--data-dir',
      dataDir,
      '--cpu',
      '1000',
      '--memory',
      '512',
      '--ui-port',
      '0',
      '--log-level',
      'warn',
    ],
    {
      out: () => undefined,
      err: (l) => printed.push(l),
      env: { MESHLET_PASSWORD: alice.meshlet.password, OWNER_PASSWORD: alice.owner.password },
      stopSignal: stop,
    },
  )
  const line = await eventually('the dashboard address', () =>
    printed.find((l) => l.includes('#token=')),
  )
  const url = /(http:\/\/127\.0\.0\.1:\d+\/#token=\S+)/.exec(line)![1]!
  browser = await launchChromium()
  const context = await browser.newContext({
    locale: 'en-US',
    viewport: { width: 1200, height: 900 },
  })
  page = await context.newPage()
  await page.goto(url)
  await page.locator('[data-testid="phase-badge"][data-phase="lending"]').waitFor({
    timeout: 30_000,
  })
  await page
    .getByRole('navigation', { name: 'Sections' })
    .getByRole('button', { name: 'My workloads', exact: true })
    .click()
}, 120_000)

afterAll(async () => {
  await browser?.close()
  stopDaemon?.()
  await daemon
  await bobMeshlet?.stop({ stopReplicas: true })
  await removeContainersOf([alice, bob].filter(Boolean).map((m) => m.meshlet.did))
  await net?.close()
})

const textbox = (name: string) => page.getByRole('textbox', { name, exact: true })
const select = (name: string) => page.getByRole('combobox', { name, exact: true })

async function fillBasics(command: string): Promise<void> {
  await textbox('Image').fill(TEST_IMAGE)
  await textbox('CPU').fill('100')
  await textbox('Memory').fill('32')
  await textbox('Replicas').fill('1')
  await textbox('Command').fill(command)
}

async function addVariable(name: string, value: string): Promise<void> {
  await page.getByRole('button', { name: 'Add variable' }).click()
  const n = await page.getByTestId('env-row').count()
  await textbox(`Variable ${n} name`).fill(name)
  await textbox(`Variable ${n} value`).fill(value)
}

/** alice's workloads as published in her repo. */
/** Alice's workloads as published: her repo's workload records, without the tombstones an edit
 *  leaves of the versions it replaced (history, never shown as a workload). */
async function published(): Promise<{ uri: string; cid: string; value: WorkloadRecord }[]> {
  const res = await alice.owner.session.agent.com.atproto.repo.listRecords({
    repo: alice.owner.did,
    collection: NSID.workload,
  })
  return res.data.records
    .map((r) => ({ uri: r.uri, cid: r.cid, value: r.value as unknown as WorkloadRecord }))
    .filter((r) => r.value.versionOf === undefined)
}

async function recordAt(uri: string) {
  return (await published()).find((r) => r.uri === uri)
}

/** The rounds the members' meshlets published statuses for, for a workload. */
async function statusRounds(uri: string): Promise<{ round: number; state: string }[]> {
  const out: { round: number; state: string }[] = []
  for (const m of [alice, bob]) {
    const res = await alice.owner.session.agent.com.atproto.repo.listRecords({
      repo: m.meshlet.did,
      collection: NSID.workloadStatus,
    })
    for (const r of res.data.records) {
      const v = r.value as { workload: { uri: string }; round: number; state: string }
      if (v.workload.uri === uri) out.push({ round: v.round, state: v.state })
    }
  }
  return out
}

/** The row of the workload the form just published: the one published record not seen before. */
async function newRow(before: readonly { uri: string }[]) {
  const known = new Set(before.map((r) => r.uri))
  const uri = await eventually(
    'the new record',
    async () => (await published()).find((r) => !known.has(r.uri))?.uri,
  )
  const row = page.locator(`[data-testid="workload-row"][data-uri="${uri}"]`)
  await row.waitFor({ timeout: 15_000 })
  return { row, uri }
}

async function deleteWorkload(uri: string): Promise<void> {
  await alice.owner.session.delete(NSID.workload, new AtUri(uri).rkey)
  await eventually(
    'its containers removed',
    async () => (await containersOf(uri, true)).length === 0,
  )
}

describe('the whole spec from the dashboard', () => {
  it('publishes every field from the form, and the meshlet honours env, storage and restart', async () => {
    const before = await published()
    await fillBasics(`sh -c 'echo "greeting=$GREETING"; sleep 8; exit 3'`)
    await textbox('Storage').fill('80')
    await select('Architecture').selectOption('amd64')
    await textbox('Maximum run time').fill('600')
    await select('Restart').selectOption('on-failure')
    await textbox('Attempts').fill('1')
    await textbox('Back-off delay').fill('1')
    await addVariable('GREETING', 'hello from the form')
    await addVariable('SECOND', 'a = b')
    await page.getByRole('button', { name: 'Submit workload' }).click()
    await page.getByRole('status').getByText(`Published ${TEST_IMAGE}`).waitFor()
    const { row, uri } = await newRow(before)

    // The record, as every meshlet reads it.
    const rec = (await recordAt(uri))!
    expect(rec.value).toMatchObject({
      image: TEST_IMAGE,
      resources: { cpuMillis: 100, memoryMiB: 32, storageMiB: 80 },
      replicas: 1,
      command: ['sh', '-c', 'echo "greeting=$GREETING"; sleep 8; exit 3'],
      env: [
        { name: 'GREETING', value: 'hello from the form' },
        { name: 'SECOND', value: 'a = b' },
      ],
      network: 'none',
      constraints: { arch: ['amd64'] },
      restartPolicy: { mode: 'on-failure', maxAttempts: 1, delayMs: 1000 },
      maxRuntimeMs: 600_000,
    })
    expect(rec.value.updatedAt).toBeUndefined()

    // The container a meshlet started: the variables in its environment, the storage as the
    // size of its writable tmpfs.
    const [first] = await eventually(
      'a container',
      async () => {
        const list = await containersOf(uri)
        return list.length === 1 && list
      },
      40_000,
    )
    const info = await docker.getContainer(first!.Id).inspect()
    expect(info.Config.Env).toEqual(
      expect.arrayContaining(['GREETING=hello from the form', 'SECOND=a = b']),
    )
    expect(Object.values(info.HostConfig.Tmpfs ?? {}).join(',')).toContain('size=80m')

    // It fails (exit 3); on-failure places it again, in round 1, after the back-off.
    let seen: unknown
    await eventually(
      'round 0 failed and round 1 placed',
      async () => {
        const rounds = await statusRounds(uri)
        seen = rounds
        return (
          rounds.some((s) => s.round === 0 && s.state === 'failed') &&
          rounds.some((s) => s.round === 1)
        )
      },
      60_000,
    ).catch((err: unknown) => {
      throw new Error(`statuses: ${JSON.stringify(seen)}`, { cause: err })
    })
    await row
      .locator('[data-testid="placement-row"] td[data-label="Round"]', { hasText: /^1$/ })
      .first()
      .waitFor({ timeout: 15_000 })
    // The row says what was asked for.
    const meta = await row.locator('.list-meta').textContent()
    expect(meta).toContain('amd64 only')
    expect(meta).toContain('restart on-failure')
    expect(meta).toContain('2 variables')
    await deleteWorkload(uri)
  }, 180_000)

  it('edits a workload: the form prefilled, a new version published and placed, the old replica gone', async () => {
    const first = await published()
    await fillBasics('sleep 600')
    await addVariable('VERSION', 'one')
    await page.getByRole('button', { name: 'Submit workload' }).click()
    const { row, uri } = await newRow(first)
    const before = (await recordAt(uri))!
    const [old] = await eventually(
      'the first version runs',
      async () => {
        const list = await containersOf(uri)
        return list.length === 1 && list
      },
      40_000,
    )
    expect(old!.Labels[LABEL_CID]).toBe(before.cid)

    await row.getByRole('button', { name: `Edit ${TEST_IMAGE}` }).click()
    const editor = page.getByTestId('workload-editor')
    await editor.getByRole('heading', { name: 'Edit workload' }).waitFor()
    // Prefilled with what is published.
    expect(await textbox('Image').inputValue()).toBe(TEST_IMAGE)
    expect(await textbox('Command').inputValue()).toBe('sleep 600')
    expect(await textbox('Variable 1 name').inputValue()).toBe('VERSION')
    expect(await textbox('Variable 1 value').inputValue()).toBe('one')
    await textbox('Variable 1 value').fill('two')
    await textbox('Memory').fill('48')
    await editor.getByRole('button', { name: 'Publish new version' }).click()
    await editor.getByRole('heading', { name: 'Run a workload' }).waitFor()

    const after = (await recordAt(uri))!
    expect(after.cid).not.toBe(before.cid)
    expect(after.value.createdAt).toBe(before.value.createdAt)
    expect(Date.parse(after.value.updatedAt!)).toBeGreaterThan(Date.parse(before.value.createdAt))
    expect(after.value.env).toEqual([{ name: 'VERSION', value: 'two' }])
    expect(after.value.resources.memoryMiB).toBe(48)
    await row.getByTestId('workload-updated').waitFor()

    // The new version is placed and runs with its own environment; the old replica yields.
    const [now] = await eventually(
      'only the new version runs',
      async () => {
        const list = await containersOf(uri)
        return list.length === 1 && list[0]!.Labels[LABEL_CID] === after.cid && list
      },
      60_000,
    )
    const info = await docker.getContainer(now!.Id).inspect()
    expect(info.Config.Env).toContain('VERSION=two')
    expect(info.HostConfig.Memory).toBe(48 * 1024 * 1024)
    await row
      .locator('[data-testid="placement-row"] [data-testid="state-chip"][data-state="running"]')
      .waitFor({ timeout: 30_000 })
    await deleteWorkload(uri)
  }, 180_000)

  it('a waiting workload says why each member machine did not bid, and why a bid does not count', async () => {
    await bobMeshlet.pause()
    try {
      // From the form: an image for arm64 only. alice's machine is amd64, bob's is paused, and
      // carol's published nothing to judge by.
      const before = await published()
      await fillBasics('sleep 600')
      await select('Architecture').selectOption('arm64')
      await page.getByRole('button', { name: 'Submit workload' }).click()
      const { row, uri } = await newRow(before)
      const reason = (meshlet: Member) =>
        row.locator(`[data-testid="no-bid"][data-meshlet="${meshlet.meshlet.did}"]`)
      await expect
        .poll(() => reason(alice).getAttribute('data-reason'), { timeout: 30_000 })
        .toBe('arch-mismatch')
      await expect.poll(() => reason(bob).getAttribute('data-reason')).toBe('paused')
      expect(await reason(bob).textContent()).toContain(describeReason('paused'))
      expect(await reason(carol).getAttribute('data-reason')).toBe('unknown')
      expect(await reason(carol).textContent()).toContain('reason unknown')
      expect(await containersOf(uri)).toEqual([])

      // A workload that asks for the network (published with a long window so the bid below
      // lands inside it), and a bid from carol's machine that declares a priority the ledger
      // does not give her: it is void, and says so.
      const w = await alice.owner.session.create(NSID.workload, {
        image: TEST_IMAGE,
        command: ['sleep', '600'],
        resources: { cpuMillis: 100, memoryMiB: 32 },
        replicas: 1,
        network: 'egress',
        bidWindowMs: 60_000,
        createdAt: new Date().toISOString(),
      })
      await carol.meshlet.session.put(NSID.bid, bidRkey(w.uri, 0, w.cid), {
        workload: { uri: w.uri, cid: w.cid },
        round: 0,
        priority: MAX_PRIORITY,
        offer: { cpuMillis: 100, memoryMiB: 32 },
        createdAt: new Date().toISOString(),
      })
      const other = page.locator(`[data-testid="workload-row"][data-uri="${w.uri}"]`)
      const voided = other.locator(`[data-testid="void-bid"][data-meshlet="${carol.meshlet.did}"]`)
      await expect
        .poll(() => voided.getAttribute('data-reason'), { timeout: 30_000 })
        .toBe('priority-mismatch')
      expect(await voided.textContent()).toContain(describeReason('priority-mismatch'))
      const noBid = (m: Member) =>
        other.locator(`[data-testid="no-bid"][data-meshlet="${m.meshlet.did}"]`)
      await expect.poll(() => noBid(alice).getAttribute('data-reason')).toBe('egress-not-allowed')
      expect(await noBid(bob).getAttribute('data-reason')).toBe('paused')
      await deleteWorkload(w.uri)
      await deleteWorkload(uri)
    } finally {
      await bobMeshlet.resume()
    }
  }, 120_000)

  it('refuses bad input beside its field and publishes nothing', async () => {
    const before = (await published()).length
    // The page has caught up with the records (the earlier tests' deletions included).
    await expect.poll(() => page.getByTestId('workload-row').count()).toBe(before)
    await fillBasics('sleep 1')
    await textbox('Storage').fill('-5')
    await textbox('Maximum run time').fill('-1')
    await addVariable('MY-VAR', 'x')
    await page.getByRole('button', { name: 'Submit workload' }).click()
    const errors = page.getByTestId('field-error')
    await expect.poll(() => errors.count()).toBe(3)
    const texts = await errors.allTextContents()
    expect(texts).toContain('The storage in MiB cannot be negative.')
    expect(texts).toContain('The maximum run time in seconds cannot be negative.')
    expect(texts).toContain(
      'Variable 1: "MY-VAR" is not a variable name; use letters, digits and _, not starting with a digit.',
    )
    expect(await textbox('Variable 1 name').getAttribute('aria-invalid')).toBe('true')
    // Nothing left the page (the form checks before it calls): no record, no new row.
    expect((await published()).length).toBe(before)
    expect(await page.getByTestId('workload-row').count()).toBe(before)
  })
})
