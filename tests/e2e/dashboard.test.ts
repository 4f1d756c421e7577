// The dashboard end to end: Chromium drives the built renderer served by a real `meshlet run
// --ui-port 0` daemon (alice's) on the local network, beside bob's meshlet, with real Docker.
// What the user does in the page must change what the meshlet does: its bids, its guests, the
// workloads it publishes. Screenshots of every screen, light and dark, go to
// artifacts/screenshots/.
import { formatClock, minuteOfDay } from '../../core/policy/index.js'
import { mkdir, mkdtemp } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { type Browser, type BrowserContext, type Page } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { openApp, type MeshletApp } from '../../core/app.js'
import { main, RENDERER_DIR } from '../../core/cli/main.js'
import { NSID } from '../../core/lexicon/index.js'
import { Meshlet } from '../../core/meshlet.js'
import { LABEL_MESHLET } from '../../core/runtime/index.js'
import { bidRkey } from '../../core/scheduling/index.js'
import { MemorySecretStore } from '../../core/secrets.js'
import { serveUi, type UiServer } from '../../core/ui-server.js'
import { TEST_IMAGE, launchChromium } from '../infra.js'
import {
  createMember,
  eventually,
  link,
  startNetwork,
  type Member,
  type Network,
  localNetworkConfig,
} from '../_util.js'
import { containersOf, removeContainersOf, statusesOf, dockerMeshlet } from './_util.js'

const SHOTS = join(process.cwd(), 'artifacts', 'screenshots')

let net: Network
let alice: Member
let bob: Member
let carol: Member
let bobMeshlet: Meshlet
let stopDaemon: () => void
let daemon: Promise<number>
let url: string
let browser: Browser
let context: BrowserContext
let page: Page

beforeAll(async () => {
  await mkdir(SHOTS, { recursive: true })
  net = await startNetwork()
  alice = await createMember(net, 'alice')
  bob = await createMember(net, 'bob')
  carol = await createMember(net, 'carol')
  for (const m of [alice, bob]) await link(m)
  bobMeshlet = dockerMeshlet(net, bob, [alice])
  await bobMeshlet.start()

  // alice's daemon, exactly as a user starts it, in this process so the test can stop it.
  const dataDir = await mkdtemp(join(tmpdir(), 'meshlet-dash-'))
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
      bob.owner.handle,
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
      // alice's machine serves the meshlet API (on loopback, published on this local network);
      // bob's in-process meshlet does not, so it cannot be reached.
      '--xrpc-port',
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
  url = /(http:\/\/127\.0\.0\.1:\d+\/#token=\S+)/.exec(line)![1]!
  expect(printed).toContainEqual(
    expect.stringMatching(/^meshlet: xrpc at http:\/\/127\.0\.0\.1:\d+$/),
  )
  browser = await launchChromium()
  context = await browser.newContext({ locale: 'en-US', viewport: { width: 1200, height: 800 } })
  page = await context.newPage()
  await page.goto(url)
  await page.getByTestId('phase-badge').waitFor()
  await goTo('Cluster')
  await page
    .locator(`[data-testid="member-row"][data-did="${bob.owner.did}"][data-state="mutual"]`)
    .waitFor({ timeout: 30_000 })
}, 120_000)

afterAll(async () => {
  await browser?.close()
  stopDaemon?.()
  await daemon
  await bobMeshlet?.stop({ stopReplicas: true })
  await removeContainersOf([alice, bob].filter(Boolean).map((m) => m.meshlet.did))
  await net?.close()
})

async function goTo(section: string): Promise<void> {
  await page
    .getByRole('navigation', { name: 'Sections' })
    .getByRole('button', { name: section, exact: true })
    .click()
}

async function submitAsBob(extra: Record<string, unknown> = {}) {
  return bob.owner.session.create(NSID.workload, {
    image: TEST_IMAGE,
    command: ['sleep', '600'],
    resources: { cpuMillis: 100, memoryMiB: 32 },
    replicas: 2,
    bidWindowMs: 2500,
    createdAt: new Date().toISOString(),
    ...extra,
  })
}

/** alice's meshlet's bid for a workload's round 0, read from its repo. */
async function aliceBid(w: { uri: string; cid: string }) {
  return alice.meshlet.session.agent.com.atproto.repo
    .getRecord({ repo: alice.meshlet.did, collection: NSID.bid, rkey: bidRkey(w.uri, 0, w.cid) })
    .then(
      (r) => r.data.value,
      () => undefined,
    )
}

/** alice's meshlet's membership record, as peers read it. */
async function aliceMembership() {
  const r = await alice.meshlet.session.agent.com.atproto.repo.getRecord({
    repo: alice.meshlet.did,
    collection: NSID.membership,
    rkey: 'self',
  })
  return r.data.value as { allowRegistries?: string[]; maxImageMiB?: number }
}

/** Waits past a round's window and grace, so a bid that was coming has come. */
const pastWindow = () => new Promise((r) => setTimeout(r, 2500 + 2500))

async function offerCpu(): Promise<number> {
  return Number(await page.getByTestId('cpu-slider').inputValue())
}

async function shoot(name: string): Promise<void> {
  for (const scheme of ['light', 'dark'] as const) {
    await page.emulateMedia({ colorScheme: scheme })
    await page.screenshot({ path: join(SHOTS, `${name}-${scheme}.png`), fullPage: true })
  }
  await page.emulateMedia({ colorScheme: 'light' })
}

describe('the dashboard, in Chromium, against a running daemon', () => {
  it('shows the meshlet lending, and its overview', async () => {
    await goTo('Overview')
    await expect
      .poll(() => page.getByTestId('phase-badge').getAttribute('data-phase'))
      .toBe('lending')
    expect(
      await page.getByRole('switch', { name: 'Lend compute' }).getAttribute('aria-checked'),
    ).toBe('true')
    // It serves its API (--xrpc-port), so its peers ping it instead of reading its presence.
    await expect
      .poll(() => page.getByTestId('liveness').textContent(), { timeout: 20_000 })
      .toMatch(/^Peers check this machine at http:\/\/127\.0\.0\.1:\d+ directly/)
    await shoot('overview')
  })

  it('sets quiet hours in the Overview, which then says which rule holds lending back', async () => {
    await goTo('Overview')
    const now = minuteOfDay(Date.now())
    const rules = page.getByTestId('lending-rules')
    await rules.getByLabel('Quiet hours').selectOption('quiet')
    await rules.getByLabel('From', { exact: true }).fill(formatClock(now - 1))
    await rules.getByLabel('To', { exact: true }).fill(formatClock(now + 3))
    await expect
      .poll(() => page.getByTestId('rules-why').textContent())
      .toBe(`Lending is paused: quiet hours until ${formatClock(now + 3)}.`)
    await expect
      .poll(() => page.getByTestId('phase-badge').getAttribute('data-phase'))
      .toBe('paused')
    expect(await rules.locator('[data-rule="quiet-hours"]').getAttribute('data-status')).toBe(
      'holding',
    )
    await shoot('overview-quiet-hours')
    // Off again: lending resumes at once (the lender's choice needs no hysteresis).
    await rules.getByLabel('Quiet hours').selectOption('off')
    await expect
      .poll(() => page.getByTestId('phase-badge').getAttribute('data-phase'))
      .toBe('lending')
  })

  it('moving the CPU slider changes what the meshlet bids for', async () => {
    await goTo('Overview')
    const slider = page.getByTestId('cpu-slider')
    await slider.focus()
    await page.keyboard.press('Home')
    await expect.poll(offerCpu).toBe(100)
    const membership = async () =>
      (
        await alice.meshlet.session.agent.com.atproto.repo.getRecord({
          repo: alice.meshlet.did,
          collection: NSID.membership,
          rkey: 'self',
        })
      ).data.value as { offer: { cpuMillis: number } }
    await eventually('offer published', async () => (await membership()).offer.cpuMillis === 100)

    // Above the new capacity: no bid from alice; bob's meshlet takes it.
    const big = await submitAsBob({ resources: { cpuMillis: 500, memoryMiB: 32 }, replicas: 1 })
    await pastWindow()
    expect(await aliceBid(big)).toBeUndefined()
    await eventually('bob runs it', async () => (await containersOf(big.uri)).length === 1)

    // Up again: the same size now gets alice's bid.
    await slider.focus()
    await page.keyboard.press('End')
    await expect.poll(offerCpu).toBeGreaterThanOrEqual(1000)
    await eventually('offer raised', async () => (await membership()).offer.cpuMillis >= 1000)
    const again = await submitAsBob({ resources: { cpuMillis: 500, memoryMiB: 32 }, replicas: 1 })
    await eventually('alice bids', () => aliceBid(again), 15_000)
    for (const w of [big, again]) {
      await bob.owner.session.delete(NSID.workload, w.uri.split('/').pop()!)
    }
    await eventually('cleaned up', async () =>
      (await Promise.all([big, again].map((w) => containersOf(w.uri)))).every(
        (l) => l.length === 0,
      ),
    )
  })

  it('lists a guest while it runs, and stopping it removes it', async () => {
    const w = await submitAsBob({ replicas: 2 })
    await goTo('Running here')
    const row = page.locator(`[data-testid="guest-row"][data-workload-uri="${w.uri}"]`)
    await row.waitFor({ timeout: 30_000 })
    await expect.poll(() => row.textContent()).toContain(bob.owner.handle)
    await shoot('guests')
    await row.getByRole('button', { name: /^Stop / }).click()
    await page
      .getByRole('dialog', { name: 'Stop this guest?' })
      .getByRole('button', { name: 'Stop guest' })
      .click()
    await row.waitFor({ state: 'detached', timeout: 30_000 })
    const onAlice = async () =>
      (await containersOf(w.uri, true)).filter((c) => c.Labels[LABEL_MESHLET] === alice.meshlet.did)
    await eventually('alice’s container removed', async () => (await onAlice()).length === 0)
    await eventually('stopped published', async () => {
      const statuses = await statusesOf(alice, [alice], w.uri)
      return statuses.length === 1 && statuses[0]!.state === 'stopped'
    })
    await bob.owner.session.delete(NSID.workload, w.uri.split('/').pop()!)
  })

  it('toggling lending off stops new bids and drains the guests', async () => {
    const w = await submitAsBob({ replicas: 2 })
    await eventually(
      'a guest on alice',
      async () =>
        (await containersOf(w.uri)).some((c) => c.Labels[LABEL_MESHLET] === alice.meshlet.did),
      30_000,
    )
    await goTo('Overview')
    const toggle = page.getByRole('switch', { name: 'Lend compute' })
    await toggle.click()
    await expect
      .poll(() => page.getByTestId('phase-badge').getAttribute('data-phase'))
      .toBe('paused')
    await eventually('drained', async () =>
      (await containersOf(w.uri, true)).every((c) => c.Labels[LABEL_MESHLET] !== alice.meshlet.did),
    )
    // The container goes first, then its ending is published.
    await eventually('draining published', async () => {
      const statuses = await statusesOf(alice, [alice], w.uri)
      return statuses.length === 1 && statuses[0]!.state === 'draining'
    })
    await shoot('overview-paused')

    const later = await submitAsBob({ replicas: 1 })
    await pastWindow()
    expect(await aliceBid(later)).toBeUndefined()

    await toggle.click()
    await expect
      .poll(() => page.getByTestId('phase-badge').getAttribute('data-phase'))
      .toBe('lending')
    for (const x of [w, later])
      await bob.owner.session.delete(NSID.workload, x.uri.split('/').pop()!)
  })

  it('runs a workload submitted from the form, and deletes it', async () => {
    await goTo('My workloads')
    await page.getByRole('textbox', { name: 'Image' }).fill(TEST_IMAGE)
    await page.getByRole('textbox', { name: 'CPU' }).fill('100')
    await page.getByRole('textbox', { name: 'Memory' }).fill('32')
    await page.getByRole('textbox', { name: 'Replicas' }).fill('1')
    await page.getByRole('textbox', { name: 'Command' }).fill("sh -c 'sleep 600'")
    await page.getByRole('button', { name: 'Submit workload' }).click()
    const row = page.getByTestId('workload-row').first()
    await row.waitFor({ timeout: 15_000 })
    const uri = (await row.getAttribute('data-uri'))!
    expect(uri).toMatch(new RegExp(`^at://${alice.owner.did}/${NSID.workload}/`))
    await row
      .locator('[data-testid="placement-row"] [data-testid="state-chip"][data-state="running"]')
      .waitFor({ timeout: 40_000 })
    const running = await containersOf(uri)
    expect(running).toHaveLength(1)
    expect(running[0]!.Command).toContain('sleep 600')
    await shoot('workloads')

    // Logs of the replica, from its host when reachable: alice's serves, bob's does not.
    const host = running[0]!.Labels[LABEL_MESHLET]
    await row.getByTestId('logs-button').first().click()
    const panel = row.getByTestId('replica-logs')
    if (host === alice.meshlet.did) {
      await panel.getByText('(nothing printed yet)').waitFor({ timeout: 15_000 })
    } else {
      await panel.getByTestId('logs-unreachable').waitFor({ timeout: 15_000 })
      expect(await panel.textContent()).toContain('This machine cannot be reached')
    }

    await row.getByRole('button', { name: `Delete ${TEST_IMAGE}` }).click()
    await page.getByRole('dialog').getByRole('button', { name: 'Delete', exact: true }).click()
    await row.waitFor({ state: 'detached', timeout: 15_000 })
    await eventually('its container removed', async () => (await containersOf(uri)).length === 0)
  })

  it('sets the registry allow-list and the image size limit in Settings, and publishes them', async () => {
    await goTo('Overview')
    const policy = page.getByTestId('image-policy')
    await policy.getByTestId('registries-input').fill('ghcr.io, Docker.io')
    await policy.getByRole('button', { name: 'Allow only these' }).click()
    await expect
      .poll(() => policy.getByTestId('registries-state').textContent())
      .toContain('Only from ghcr.io, docker.io.')
    await eventually(
      'allow-list published',
      async () => (await aliceMembership()).allowRegistries?.join(',') === 'ghcr.io,docker.io',
    )
    await policy.getByTestId('image-size-input').fill('300')
    await policy.getByRole('button', { name: 'Set limit' }).click()
    await expect
      .poll(() => policy.getByTestId('image-size-state').textContent())
      .toContain('up to 300 MiB')
    await eventually('limit published', async () => (await aliceMembership()).maxImageMiB === 300)
    await shoot('overview-image-policy')

    // Not a registry host: refused with a reason, and nothing changes.
    await policy.getByTestId('registries-input').fill('https://ghcr.io')
    await policy.getByRole('button', { name: 'Allow only these' }).click()
    await expect
      .poll(() => policy.getByTestId('api-error').textContent())
      .toContain('not a registry host')
    expect((await aliceMembership()).allowRegistries).toEqual(['ghcr.io', 'docker.io'])

    // Off again: every registry, any size, and the record says so.
    await policy.getByRole('button', { name: 'Any registry' }).click()
    await policy.getByRole('button', { name: 'No limit' }).click()
    await eventually('policy off published', async () => {
      const m = await aliceMembership()
      return m.allowRegistries === undefined && m.maxImageMiB === undefined
    })
    // The page hears of it after the record is written: wait for it, do not read it once.
    await expect
      .poll(() => policy.getByTestId('registries-state').textContent())
      .toBe('From any registry.')
  })

  it('shows balances from a real run: values in the table, lines in the chart', async () => {
    // A batch job of bob's that only alice's machine may run: half a core and 256 MiB for 10 s
    // is worth (0.5 + 0.25) × 10 / 3600 units ≈ 0.002, which two decimals would show as 0.0.
    const w = await submitAsBob({
      command: ['sleep', '10'],
      resources: { cpuMillis: 500, memoryMiB: 256 },
      replicas: 1,
      constraints: { meshlets: [alice.meshlet.did] },
    })
    await eventually(
      'it ran and exited on alice',
      async () => (await statusesOf(alice, [alice], w.uri)).some((s) => s.state === 'exited'),
      60_000,
    )
    await goTo('Balances')
    const value = (did: string) =>
      page
        .locator(`[data-testid="balance-row"][data-did="${did}"] [data-testid="balance-value"]`)
        .textContent()
    const signed = (text: string | null) => Number((text ?? '').replace('\u2212', '-'))
    // Credited once the placement's no-show deadline (decideAt + lostAfter, 32 s) has passed.
    await expect
      .poll(async () => signed(await value(alice.owner.did)), { timeout: 45_000 })
      .toBeGreaterThan(0)
    await expect
      .poll(async () => signed(await value(bob.owner.did)), { timeout: 5_000 })
      .toBeLessThan(0)
    const aliceText = (await value(alice.owner.did))!
    const bobText = (await value(bob.owner.did))!
    // Small amounts read to a thousandth, with their sign: "+0.002", "−0.002".
    expect(aliceText).toMatch(/^\+\d+\.\d{1,3}$/)
    expect(bobText).toMatch(/^\u2212\d+\.\d{1,3}$/)

    // The chart: a line per member, through more than one sample, ending where the table says.
    const chart = page.getByTestId('balance-chart')
    await chart.waitFor()
    const summary = async () => (await chart.getByRole('img').getAttribute('aria-label')) ?? ''
    await expect.poll(summary, { timeout: 10_000 }).toContain(`${aliceText} units`)
    expect(await summary()).toContain(`${bobText} units`)
    const lines = await chart
      .locator('path.series-line')
      .evaluateAll((ps) => ps.map((p) => p.getAttribute('d') ?? ''))
    expect(lines.length).toBeGreaterThanOrEqual(2)
    for (const d of lines) expect(d).toMatch(/^M[\d.]+,[\d.]+(L[\d.]+,[\d.]+)+$/)
    // Not flat: the run moved the lines off zero.
    const ys = lines.map((d) => new Set([...d.matchAll(/,([\d.]+)/g)].map((m) => m[1])).size)
    expect(Math.max(...ys)).toBeGreaterThan(1)
    await shoot('balances')
    await bob.owner.session.delete(NSID.workload, w.uri.split('/').pop()!)
  })

  it('shows the commune, the balances and the activity', async () => {
    await goTo('Cluster')
    const bobRow = page.locator(`[data-testid="member-row"][data-did="${bob.owner.did}"]`)
    expect(await bobRow.getAttribute('data-state')).toBe('mutual')
    // carol is added by handle; she has no meshlet linked yet, so she is waiting.
    await page.getByRole('textbox', { name: 'Member handle' }).fill(carol.owner.handle)
    await page.getByRole('button', { name: 'Add member', exact: true }).click()
    const carolRow = page.locator(`[data-testid="member-row"][data-did="${carol.owner.did}"]`)
    await carolRow.waitFor()
    expect(await carolRow.getAttribute('data-state')).toBe('waiting')
    await shoot('cluster')
    await goTo('Balances')
    await page.getByTestId('balance-row').first().waitFor()
    await shoot('balances')
    await goTo('Activity')
    await page.getByTestId('activity-row').first().waitFor()
    await shoot('activity')
  })
})

describe('signing in from the dashboard', () => {
  let app: MeshletApp
  let ui: UiServer

  afterAll(async () => {
    await ui?.close()
    await app?.close()
  })

  it('signs the owner in with atproto OAuth, then links this machine with that session', async () => {
    const dataDir = await mkdtemp(join(tmpdir(), 'meshlet-signin-'))
    app = await openApp({
      dataDir,
      network: localNetworkConfig(net),
      secrets: new MemorySecretStore(),
      docker: false,
    })
    ui = await serveUi({ host: app, port: 0, staticDir: RENDERER_DIR })
    const p = await context.newPage()
    await p.goto(ui.url)
    await p.getByRole('heading', { name: 'Sign in with your Bluesky handle' }).waitFor()
    for (const scheme of ['light', 'dark'] as const) {
      await p.emulateMedia({ colorScheme: scheme })
      await p.screenshot({ path: join(SHOTS, `sign-in-${scheme}.png`), fullPage: true })
    }
    await p.getByRole('textbox', { name: 'Handle' }).fill(carol.owner.handle)
    await p.getByRole('button', { name: 'Sign in', exact: true }).click()
    const next = p.getByRole('link', { name: 'Continue in your browser' })
    const authorize = (await next.getAttribute('href'))!
    // The PDS's own sign-in and consent pages, in the browser, as the user would.
    const consent = await context.newPage()
    await consent.goto(authorize)
    await consent.fill('input[name="password"]', carol.owner.password)
    await consent.getByRole('button', { name: 'Sign in' }).click()
    await consent.getByRole('button', { name: 'Authorize' }).click()
    await consent.waitForURL(/127\.0\.0\.1:\d+\/callback/)
    await p.getByRole('heading', { name: 'Sign in this machine’s account' }).waitFor()
    expect(app.snapshot().owner).toMatchObject({ did: carol.owner.did, method: 'oauth' })

    // The machine's own account, with an app password this time.
    await p.getByRole('textbox', { name: 'Handle' }).fill(carol.meshlet.handle)
    await p.getByText('Use an app password instead').click()
    await p.getByLabel('App password').fill(carol.meshlet.password)
    await p.getByRole('button', { name: 'Sign in with app password' }).click()
    await p.getByRole('button', { name: 'Link this machine' }).click()
    // Written with the OAuth session: the linkage record in carol's own repo.
    const rec = await eventually('the linkage record', () =>
      carol.owner.session.agent.com.atproto.repo.getRecord({
        repo: carol.owner.did,
        collection: NSID.meshlet,
        rkey: carol.meshlet.did,
      }),
    )
    expect((rec.data.value as { meshlet: string }).meshlet).toBe(carol.meshlet.did)
    await expect
      .poll(() => p.getByTestId('phase-badge').getAttribute('data-phase'), { timeout: 20_000 })
      .toBe('lending')
  })
})
