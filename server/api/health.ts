// GET /health: the process is up and the database answers. 503 while the database does not, so a load balancer or
// an operator sees the outage, not a hang.
import { Router } from 'express'
import type pg from 'pg'

export function healthRoutes(apiPool: pg.Pool): Router {
  const router = Router()
  router.get('/health', async (_req, res) => {
    const started = Date.now()
    try {
      await Promise.race([
        apiPool.query('SELECT 1'),
        new Promise((_, reject) => setTimeout(() => reject(new Error('database did not answer within 2 s')), 2000).unref()),
      ])
      res.json({ status: 'ok', database: 'ok', databaseMs: Date.now() - started, uptimeSeconds: Math.round(process.uptime()) })
    } catch (err) {
      res.status(503).json({ status: 'degraded', database: 'unavailable', message: (err as Error).message })
    }
  })
  return router
}
