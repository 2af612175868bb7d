// The backfill's status and its operator controls.
import { Router } from 'express'
import type { ApiServices } from './services.js'
import { requireAdmin } from './admin-auth.js'

export function backfillRoutes(backfill: ApiServices['backfill'], adminToken: string | null): Router {
  const router = Router()
  router.get('/api/backfill', async (_req, res) => {
    res.json(await backfill.getProgress())
  })
  const admin = requireAdmin(adminToken)
  router.post('/api/backfill/pause', admin, async (_req, res) => {
    await backfill.pause()
    res.json({ state: (await backfill.getProgress()).state })
  })
  router.post('/api/backfill/resume', admin, async (_req, res) => {
    await backfill.resume()
    res.json({ state: (await backfill.getProgress()).state })
  })
  return router
}
