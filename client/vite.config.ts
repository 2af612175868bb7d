// The dashboard's build: plain TypeScript + CSS, no framework. `npm run build:client` (scripts/build-client.mjs)
// runs it; the output in client/dist is what Express serves at `/`.
import { fileURLToPath } from 'node:url'
import { defineConfig } from 'vite'

const root = fileURLToPath(new URL('.', import.meta.url))

export default defineConfig({
  root,
  base: './',
  publicDir: false,
  logLevel: 'warn',
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    target: 'es2022',
    // The polyfill would be bundled, not inlined, but no supported browser needs it.
    modulePreload: { polyfill: false },
    // Keep the CSS a file of its own: the page runs under `default-src 'self'` (no inline styles).
    assetsInlineLimit: 0,
    sourcemap: false,
    reportCompressedSize: false,
  },
  server: { host: '127.0.0.1' },
})
