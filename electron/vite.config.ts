// Builds the Electron side into dist/electron: `--mode main` bundles electron/main.ts with the
// core into one ES module (Electron ≥ 28 runs an ESM main), leaving Electron, Node's own modules
// and every npm dependency as imports, which electron-builder ships in node_modules; `--mode
// preload` bundles electron/preload.ts into one CommonJS file, because a sandboxed preload can
// neither load ES modules nor require anything but 'electron' and a few Node polyfills; `--mode
// portmap` bundles the entry of core/portmap's child process (one router exchange, run in a
// utility process so that the app never loads the port-mapping library) into one ES module.
import { readFileSync } from 'node:fs'
import { builtinModules } from 'node:module'
import path from 'node:path'
import { defineConfig, type UserConfig } from 'vite'
import { BUNDLED_ENTRY } from '../core/portmap/child.js'

const root = path.resolve(import.meta.dirname, '..')
const outDir = process.env.MESHLET_ELECTRON_OUT_DIR ?? path.join(root, 'dist/electron')
const pkg = JSON.parse(readFileSync(path.join(root, 'package.json'), 'utf8')) as {
  dependencies?: Record<string, string>
}
const dependencies = Object.keys(pkg.dependencies ?? {})

/** Electron 45 ships Chromium 140 and Node 22. */
const CHROME_TARGET = 'chrome140'
const NODE_TARGET = 'node22'

function isMainExternal(id: string): boolean {
  if (id === 'electron' || id.startsWith('electron/')) return true
  if (id.startsWith('node:') || builtinModules.includes(id)) return true
  return dependencies.some((dep) => id === dep || id.startsWith(`${dep}/`))
}

const main: UserConfig = {
  root,
  publicDir: false,
  logLevel: 'warn',
  build: {
    ssr: path.join(root, 'electron/main.ts'),
    outDir,
    emptyOutDir: true,
    target: NODE_TARGET,
    sourcemap: true,
    minify: false,
    rolldownOptions: {
      external: isMainExternal,
      output: { format: 'es', entryFileNames: 'main.js' },
    },
  },
  // A dependency that is not in package.json `dependencies` (a devDependency pulled in by
  // mistake) is bundled rather than left as an import the packaged app could not resolve.
  ssr: { noExternal: true },
  // The released app's hosted OAuth client (docs/oauth.md); empty: the development loopback
  // client. The release workflow sets it.
  define: {
    __MESHLET_OAUTH_CLIENT_ID__: JSON.stringify(process.env.MESHLET_OAUTH_CLIENT_ID ?? ''),
  },
}

const preload: UserConfig = {
  root,
  publicDir: false,
  logLevel: 'warn',
  build: {
    outDir,
    // The main build ran first and emptied the directory; keep what it wrote.
    emptyOutDir: false,
    target: CHROME_TARGET,
    sourcemap: false,
    minify: false,
    lib: {
      entry: path.join(root, 'electron/preload.ts'),
      formats: ['cjs'],
      fileName: () => 'preload.cjs',
    },
    rolldownOptions: { external: ['electron'] },
  },
}

const portmap: UserConfig = {
  root,
  publicDir: false,
  logLevel: 'warn',
  build: {
    ssr: path.join(root, 'core/portmap/exchange-child.ts'),
    outDir,
    // Beside main.js, where electron/main.ts names it: keep what the other builds wrote.
    emptyOutDir: false,
    target: NODE_TARGET,
    sourcemap: false,
    minify: false,
    rolldownOptions: {
      external: isMainExternal,
      output: { format: 'es', entryFileNames: `${BUNDLED_ENTRY}.js`, codeSplitting: false },
    },
  },
  ssr: { noExternal: true },
}

export default defineConfig(({ mode }) => {
  if (mode === 'main') return main
  if (mode === 'preload') return preload
  if (mode === 'portmap') return portmap
  throw new Error(
    `electron/vite.config.ts: use --mode main, --mode preload or --mode portmap, not ${mode}`,
  )
})
