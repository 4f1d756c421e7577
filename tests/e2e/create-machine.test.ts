// "Create this machine's account" in the dashboard, in Chromium against the built renderer: the
// owner signs in, the machine's account is made on the local PDS from the page, and the machine
// is linked and lending with no account made by hand.
import { mkdir, mkdtemp } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { type Browser } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { openApp, type MeshletApp } from '../../core/app.js'
import { RENDERER_DIR } from '../../core/cli/main.js'
import { NSID } from '../../core/lexicon/index.js'
import { MemorySecretStore } from '../../core/secrets.js'
import { serveUi, type UiServer } from '../../core/ui-server.js'
import { launchChromium } from '../infra.js'
import {
  createAccount,
  localNetworkConfig,
  startNetwork,
  type Account,
  type Network,
} from '../_util.js'

const SHOTS = join(process.cwd(), 'artifacts', 'screenshots')
let net: Network
let dana: Account
let app: MeshletApp
let ui: UiServer
let browser: Browser

beforeAll(async () => {
  await mkdir(SHOTS, { recursive: true })
  net = await startNetwork()
  dana = await createAccount(net, 'dana')
  app = await openApp({
    dataDir: await mkdtemp(join(tmpdir(), 'meshlet-create-')),
    network: localNetworkConfig(net),
    secrets: new MemorySecretStore(),
    docker: false,
  })
  ui = await serveUi({ host: app, port: 0, staticDir: RENDERER_DIR })
  browser = await launchChromium()
})

afterAll(async () => {
  await browser?.close()
  await ui?.close()
  await app?.close()
  await net?.close()
})

describe('creating this machine’s account from the dashboard', () => {
  it('makes, links and starts the machine from one form', async () => {
    const context = await browser.newContext({ locale: 'en-US' })
    const p = await context.newPage()
    await p.goto(ui.url)
    await p.getByRole('textbox', { name: 'Handle' }).fill(dana.handle)
    await p.getByText('Use an app password instead').click()
    await p.getByLabel('App password').fill(dana.password)
    await p.getByRole('button', { name: 'Sign in with app password' }).click()
    await p.getByRole('heading', { name: 'Sign in this machine’s account' }).waitFor()

    await p.getByText('No account for this machine yet? Create one').click()
    await p.getByRole('textbox', { name: 'PDS address' }).fill(net.pds.url)
    await p.getByRole('button', { name: 'Create this machine’s account' }).click()
    // The PDS asks for an email: the page says so, and nothing was made.
    await p.getByText(/asks for an email address/).waitFor()
    expect(app.snapshot().meshlet).toBeUndefined()
    for (const scheme of ['light', 'dark'] as const) {
      await p.emulateMedia({ colorScheme: scheme })
      await p.screenshot({ path: join(SHOTS, `create-machine-${scheme}.png`), fullPage: true })
    }

    await p.getByRole('textbox', { name: 'Email for the machine’s account' }).fill('dana+m@x.test')
    await p.getByRole('button', { name: 'Create this machine’s account' }).click()
    await expect
      .poll(() => p.getByTestId('phase-badge').getAttribute('data-phase'), { timeout: 20_000 })
      .toBe('lending')
    const machine = app.snapshot().meshlet!
    expect(machine.handle).toMatch(/^dana\d+-mesh-[a-z2-7]{4}\.test$/)
    const rec = await dana.session.agent.com.atproto.repo.getRecord({
      repo: dana.did,
      collection: NSID.meshlet,
      rkey: machine.did,
    })
    expect(rec.data.value).toMatchObject({ meshlet: machine.did })

    // The desktop shell downloaded an update: the dashboard says so, in one line.
    app.setUpdateReady('9.9.9')
    await p.getByTestId('update').getByText('Version 9.9.9 is ready').waitFor()
    await context.close()
  })
})
