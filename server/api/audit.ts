// The audit from the dashboard, behind the admin token: POST /api/audit starts one in this server (409 while one
// runs), GET /api/audit answers the running one's progress, the last report and the drift rate.
import { Router } from 'express'
import { AuditRequestError, auditRequest } from '../audit/request.js'
import { AuditBusy } from '../audit/audit-busy.js'
import type { ApiServices } from './services.js'
import { requireAdmin } from './admin-auth.js'

const NAMES = { sample: 'sample', repos: 'repos', all: 'all', fix: 'fix' }

export function auditRoutes(audit: Pick<ApiServices['audit'], 'launch' | 'status'>, adminToken: string | null): Router {
  const router = Router()
  const admin = requireAdmin(adminToken)
  router.get('/api/audit', admin, async (_req, res) => {
    res.set('Cache-Control', 'no-store').json(await audit.status())
  })
  router.post('/api/audit', admin, async (req, res) => {
    const body: unknown = req.body ?? {}
    if (typeof body !== 'object' || body === null || Array.isArray(body)) {
      res.status(400).json({ error: 'InvalidRequest', message: 'the body must be a JSON object: { sample?, repos?, all?, fix? }' })
      return
    }
    let request
    try {
      request = auditRequest(body, NAMES)
    } catch (err) {
      if (!(err instanceof AuditRequestError)) throw err
      res.status(400).json({ error: 'InvalidRequest', message: err.message })
      return
    }
    try {
      await audit.launch(request)
    } catch (err) {
      if (!(err instanceof AuditBusy)) throw err
      res.status(409).json({ error: 'AuditRunning', message: err.message, running: err.running })
      return
    }
    res.status(202).json(await audit.status())
  })
  return router
}
