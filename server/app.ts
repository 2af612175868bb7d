// The Express app: routes only; what they serve is passed in.
import express from 'express'
import type pg from 'pg'
import type { BackfillService } from './services/backfill.js'
import type { FirehoseService } from './services/firehose.js'
import type { SystemMetrics } from './services/system-metrics.js'
import { backfillRoutes } from './api/backfill.js'
import { healthRoutes } from './api/health.js'

export type AppDeps = {
  apiPool: pg.Pool
  backfill: BackfillService
  firehose: FirehoseService | null
  system: SystemMetrics
  adminToken: string | null
}

export function createApp(deps: AppDeps): express.Express {
  const app = express()
  app.disable('x-powered-by')
  app.use(healthRoutes(deps.apiPool))
  app.use(backfillRoutes(deps.backfill, deps.adminToken))
  app.get('/api/firehose', (_req, res) => {
    res.json(deps.firehose?.getStatus() ?? { state: 'off' })
  })
  return app
}
