// The backfill's status and its operator controls.
import { Router } from 'express'
import type { BackfillService } from '../services/backfill.js'
import { requireAdmin } from './admin-auth.js'

export function backfillRoutes(backfill: BackfillService, adminToken: string | null): Router {
  const router = Router()
  router.get('/api/backfill', (_req, res) => {
    res.json(backfill.getProgress())
  })
  const admin = requireAdmin(adminToken)
  router.post('/api/backfill/pause', admin, (_req, res) => {
    backfill.pause()
    res.json({ state: backfill.getProgress().state })
  })
  router.post('/api/backfill/resume', admin, (_req, res) => {
    backfill.resume()
    res.json({ state: backfill.getProgress().state })
  })
  return router
}
