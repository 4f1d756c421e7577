// `npm run build:electron` output, checked for what Electron will demand of it at run time (the
// binary cannot run here): a preload that a sandboxed renderer can load, a main whose every
// import the packaged app can resolve, and core/portmap's child entry beside it.
import { execFile } from 'node:child_process'
import { mkdtemp, readFile, rm, symlink } from 'node:fs/promises'
import { builtinModules } from 'node:module'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { promisify } from 'node:util'
import vm from 'node:vm'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { PreloadBridge } from '../../core/api.js'
import { BUNDLED_ENTRY } from '../../core/portmap/child.js'
import { LAN_ROUTER_IP, RouterLab, WAN_ROUTER_IP } from '../support/netns-router.js'

const root = path.resolve(import.meta.dirname, '../..')
const vite = path.join(root, 'node_modules/vite/bin/vite.js')

let out: string
beforeAll(async () => {
  out = await mkdtemp(path.join(tmpdir(), 'meshlet-electron-build-'))
  const env = { ...process.env, MESHLET_ELECTRON_OUT_DIR: out }
  for (const mode of ['main', 'preload', 'portmap']) {
    await promisify(execFile)(
      process.execPath,
      [vite, 'build', '-c', 'electron/vite.config.ts', '--mode', mode],
      { cwd: root, env },
    )
  }
}, 120_000)
afterAll(async () => {
  await rm(out, { recursive: true, force: true })
})

describe('preload.cjs', () => {
  /** Runs the preload the way a sandboxed renderer does: CommonJS, and `require` that knows
   *  only 'electron' (the sandbox's few Node polyfills are not needed, so not offered). */
  async function runSandboxed() {
    const code = await readFile(path.join(out, 'preload.cjs'), 'utf8')
    const exposed: Record<string, unknown> = {}
    const invoked: unknown[][] = []
    const electron = {
      contextBridge: {
        exposeInMainWorld: (key: string, api: unknown) => {
          exposed[key] = api
        },
      },
      ipcRenderer: {
        invoke: async (...args: unknown[]) => {
          invoked.push(args)
          return { ok: true, result: 'pong' }
        },
        on: () => undefined,
        removeListener: () => undefined,
      },
    }
    const required: string[] = []
    const module = { exports: {} }
    const sandbox = {
      module,
      exports: module.exports,
      require: (id: string) => {
        required.push(id)
        if (id === 'electron') return electron
        throw new Error(`module not found in the sandbox: ${id}`)
      },
    }
    vm.runInNewContext(code, sandbox, { filename: 'preload.cjs' })
    return { exposed, invoked, required }
  }

  it('is CommonJS that requires nothing but electron', async () => {
    const { required } = await runSandboxed()
    expect(required).toEqual(['electron'])
    const code = await readFile(path.join(out, 'preload.cjs'), 'utf8')
    expect(code).not.toMatch(/^\s*(import|export)\s/m)
  })

  it('exposes meshletApi with call and on, over the call channel', async () => {
    const { exposed, invoked } = await runSandboxed()
    expect(Object.keys(exposed)).toEqual(['meshletApi'])
    const api = exposed.meshletApi as PreloadBridge
    expect(Object.keys(api).sort()).toEqual(['call', 'on'])
    expect(await api.call('state.get', undefined)).toEqual({ ok: true, result: 'pong' })
    expect(invoked).toEqual([['meshlet:call', 'state.get', undefined]])
  })
})

/** The bare and relative specifiers a bundle imports statically. */
function importsOf(code: string): string[] {
  return [...code.matchAll(/^import\s(?:[^'"]*?\sfrom\s)?["']([^"']+)["']/gm)].map((m) => m[1]!)
}

async function shippedDependencies(): Promise<string[]> {
  const pkg = JSON.parse(await readFile(path.join(root, 'package.json'), 'utf8')) as {
    dependencies: Record<string, string>
  }
  return Object.keys(pkg.dependencies)
}

describe('main.js', () => {
  it('is an ES module whose imports the packaged app can resolve', async () => {
    const code = await readFile(path.join(out, 'main.js'), 'utf8')
    const pkg = JSON.parse(await readFile(path.join(root, 'package.json'), 'utf8')) as {
      main: string
      dependencies: Record<string, string>
    }
    expect(pkg.main).toBe('dist/electron/main.js')
    const specifiers = [...code.matchAll(/^import\s(?:[^'"]*?\sfrom\s)?["']([^"']+)["']/gm)].map(
      (m) => m[1]!,
    )
    expect(specifiers).toContain('electron')
    const shipped = Object.keys(pkg.dependencies)
    for (const spec of specifiers) {
      const ok =
        spec === 'electron' ||
        spec.startsWith('node:') ||
        builtinModules.includes(spec) ||
        shipped.some((dep) => spec === dep || spec.startsWith(`${dep}/`))
      expect(ok, `${spec} would not resolve in the packaged app`).toBe(true)
    }
    // No CommonJS left over, and no path into the source tree.
    expect(code).not.toMatch(/\brequire\(/)
    expect(code).not.toMatch(/from ["']\.\.?\//)
  })

  it('loads the preload and renderer from where the build puts them', async () => {
    const code = await readFile(path.join(out, 'main.js'), 'utf8')
    expect(code).toContain('"preload.cjs"')
    expect(code).toContain('"renderer"')
    expect(code).toContain('import.meta.url')
  })
})

describe(`${BUNDLED_ENTRY}.js (core/portmap's child, run in a utility process)`, () => {
  it('is one ES module beside main.js whose imports the packaged app can resolve', async () => {
    const code = await readFile(path.join(out, `${BUNDLED_ENTRY}.js`), 'utf8')
    const shipped = await shippedDependencies()
    for (const spec of importsOf(code)) {
      const ok = spec.startsWith('node:') || builtinModules.includes(spec)
      expect(ok, `${spec}: the entry is one file`).toBe(true)
    }
    expect(code).toContain('import("@achingbrain/nat-port-mapper")')
    expect(shipped).toContain('@achingbrain/nat-port-mapper')
    // main.js names it there, and never loads the library itself.
    const main = await readFile(path.join(out, 'main.js'), 'utf8')
    expect(main).toContain(
      'setChildLauncher(utilityProcessLauncher, new URL(`./${BUNDLED_ENTRY}.js`, import.meta.url))',
    )
    expect(main).not.toContain('nat-port-mapper')
  })

  it('grants and releases a mapping with a real router (miniupnpd), as the app would', async () => {
    // The packaged app resolves its dependencies from the app's node_modules.
    await symlink(path.join(root, 'node_modules'), path.join(out, 'node_modules'))
    const lab = await RouterLab.create()
    try {
      await lab.startRouter({})
      const ask = async (request: Record<string, unknown>) => {
        const child = lab.spawnInClient(process.execPath, [
          path.join(out, `${BUNDLED_ENTRY}.js`),
          JSON.stringify(request),
        ])
        let stdout = ''
        child.stdout!.on('data', (d: Buffer) => (stdout += d.toString()))
        await new Promise((resolve) => child.once('exit', resolve))
        return stdout
      }
      const granted = await ask({
        op: 'grant',
        internalPort: 8080,
        externalPort: 8080,
        leaseMs: 60_000,
        timeoutMs: 2_000,
      })
      expect(JSON.parse(granted)).toEqual({
        ok: true,
        grant: {
          protocol: 'upnp',
          externalIp: WAN_ROUTER_IP,
          externalPort: 8080,
          gatewayHost: LAN_ROUTER_IP,
        },
      })
      expect(await lab.forwards()).toHaveLength(1)
      const released = await ask({
        op: 'release',
        protocol: 'upnp',
        gatewayHost: LAN_ROUTER_IP,
        internalPort: 8080,
        externalPort: 8080,
        timeoutMs: 2_000,
      })
      expect(released).toBe('{"ok":true}\n')
      expect(await lab.forwards()).toEqual([])
    } finally {
      await lab.destroy()
    }
  })
})
