// The Express app: routes only; what they serve is passed in.
import express from 'express'
import type pg from 'pg'
import type { AuditService } from './services/audit.js'
import type { BackfillService } from './services/backfill.js'
import { FIREHOSE_OFF, type FirehoseService } from './services/firehose.js'
import type { RateHistory } from './services/rate-history.js'
import type { SystemMetrics } from './services/system-metrics.js'
import { auditRoutes } from './api/audit.js'
import { backfillRoutes } from './api/backfill.js'
import { healthRoutes } from './api/health.js'
import { liveRoutes, liveSource } from './api/live.js'
import { dashboardRoutes } from './api/dashboard.js'
import { errorHandler, jsonBody, securityHeaders } from './api/security.js'
import { statsRoutes } from './api/stats.js'
import { metricsRoutes } from './api/metrics.js'
import { xrpcRoutes } from './api/xrpc/index.js'

export type AppDeps = {
  apiPool: pg.Pool
  backfill: BackfillService
  firehose: FirehoseService | null
  audit: AuditService
  system: SystemMetrics
  rates: RateHistory
  adminToken: string | null
}

export function createApp(deps: AppDeps): express.Express {
  const app = express()
  app.disable('x-powered-by')
  app.use(securityHeaders())
  app.use(jsonBody())
  app.use(healthRoutes(deps.apiPool))
  app.use(backfillRoutes(deps.backfill, deps.adminToken))
  app.use(auditRoutes(deps.audit, deps.adminToken))
  app.get('/api/firehose', (_req, res) => {
    res.json(deps.firehose?.getStatus() ?? FIREHOSE_OFF)
  })
  app.use(liveRoutes(liveSource(deps.backfill, deps.system, deps.firehose), { history: () => deps.rates.points() }))
  app.use(statsRoutes(deps.apiPool))
  app.use(metricsRoutes(deps))
  app.use(xrpcRoutes(deps.apiPool))
  // Last: the dashboard at `/` (static files from client/dist).
  app.use(dashboardRoutes())
  // Keep last: turns errors from every route above into JSON, without stack traces.
  app.use(errorHandler())
  return app
}
