// Builds the renderer into dist/renderer. `base: './'` keeps every asset path relative, so the
// same build loads from file:// in Electron and from http://127.0.0.1:<port>/ in a browser.
import { fileURLToPath } from 'node:url'
import react from '@vitejs/plugin-react'
import { defineConfig, type Plugin } from 'vite'

const root = fileURLToPath(new URL('.', import.meta.url))

/** The dev server injects an inline script (React refresh) and inline <style> tags; the shipped
 *  CSP forbids both, so only `vite serve` relaxes it. The build keeps it strict. */
function devCsp(): Plugin {
  return {
    name: 'meshlet-dev-csp',
    apply: 'serve',
    transformIndexHtml(html) {
      return html
        .replace("script-src 'self'", "script-src 'self' 'unsafe-inline'")
        .replace("style-src 'self'", "style-src 'self' 'unsafe-inline'")
    },
  }
}

// `npm run dev:renderer` with MESHLET_DAEMON=http://127.0.0.1:<port> forwards /api (the
// WebSocket) to a running daemon, so the UI can be worked on with hot reload against real data.
const daemon = process.env.MESHLET_DAEMON

export default defineConfig({
  root,
  base: './',
  plugins: [react(), devCsp()],
  build: {
    outDir: '../dist/renderer',
    emptyOutDir: true,
    // The polyfill would be an inline script, which the CSP refuses; Electron and every browser
    // that runs this UI support modulepreload natively.
    modulePreload: { polyfill: false },
    target: 'es2022',
  },
  server: {
    host: '127.0.0.1',
    proxy: daemon ? { '/api': { target: daemon, ws: true } } : undefined,
  },
})
