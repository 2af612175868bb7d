// The dashboard: the Vite build in client/dist, served at `/`. Hashed assets are cached for good, index.html is
// revalidated every time (so a rebuild shows up on reload). Without a build, `/` says so and how to make one.
import fs from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import express, { Router } from 'express'

export const DEFAULT_DIST_DIR = fileURLToPath(new URL('../../client/dist', import.meta.url))

/** The dashboard's own policy: no inline scripts or styles, nothing from other origins. */
export const DASHBOARD_CSP = "default-src 'self'; base-uri 'none'; object-src 'none'; frame-ancestors 'none'; form-action 'self'"

const MISSING = [
  'The skyfill dashboard has not been built.',
  '',
  'Build it with:   npm run build:client',
  '(`npm start` builds it automatically before starting, through its prestart script.)',
  '',
  'The API is up meanwhile: /api/backfill, /api/live, /api/firehose, /health',
  '',
].join('\n')

export function dashboardRoutes(options: { distDir?: string } = {}): Router {
  const distDir = options.distDir ?? DEFAULT_DIST_DIR
  const indexFile = path.join(distDir, 'index.html')
  const router = Router()

  const sendIndex: express.RequestHandler = (_req, res) => {
    // The app's security headers (api/security.ts) win when present; these are the floor when mounted without them.
    if (!res.get('Content-Security-Policy')) res.set('Content-Security-Policy', DASHBOARD_CSP)
    if (!res.get('X-Content-Type-Options')) res.set('X-Content-Type-Options', 'nosniff')
    if (!res.get('Referrer-Policy')) res.set('Referrer-Policy', 'no-referrer')
    res.set('Cache-Control', 'no-cache')
    // Checked per request: the build can appear (or be replaced) while the server runs.
    if (!fs.existsSync(indexFile)) {
      res.status(503).type('text/plain; charset=utf-8').send(MISSING)
      return
    }
    res.sendFile(indexFile, { lastModified: true })
  }

  router.get(['/', '/index.html'], sendIndex)
  router.use(
    '/assets',
    express.static(path.join(distDir, 'assets'), {
      index: false,
      fallthrough: true,
      immutable: true,
      maxAge: '365d',
      setHeaders: (res) => res.setHeader('X-Content-Type-Options', 'nosniff'),
    }),
  )
  // Anything else the build puts at its root (favicon, ...), revalidated each time.
  router.use(express.static(distDir, { index: false, fallthrough: true, maxAge: 0 }))
  return router
}
