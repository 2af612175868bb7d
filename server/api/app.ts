// The Express app: routes only; what they serve is passed in.
import express from 'express'
import type pg from 'pg'
import { FIREHOSE_OFF } from '../services/firehose-status.js'
import type { ApiServices } from './services.js'
import { auditRoutes } from './audit.js'
import { backfillRoutes } from './backfill.js'
import { healthRoutes } from './health.js'
import { liveRoutes, liveSource } from './live.js'
import { dashboardRoutes } from './dashboard.js'
import { errorHandler, jsonBody, securityHeaders } from './security.js'
import { statsRoutes, type IndexedTable } from './stats.js'
import { metricsRoutes } from './metrics.js'
import { xrpcRoutes } from './xrpc/index.js'

export type AppDeps = {
  apiPool: pg.Pool
  services: ApiServices
  adminToken: string | null
  /** The record registry's collections and tables, for /api/stats. */
  indexedTables: readonly IndexedTable[]
}

export function createApp({ apiPool, services, adminToken, indexedTables }: AppDeps): express.Express {
  const app = express()
  app.disable('x-powered-by')
  app.use(securityHeaders())
  app.use(jsonBody())
  app.use(healthRoutes(apiPool))
  app.use(backfillRoutes(services.backfill, adminToken))
  app.use(auditRoutes(services.audit, adminToken))
  app.get('/api/firehose', async (_req, res) => {
    res.json((await services.firehose?.getStatus()) ?? FIREHOSE_OFF)
  })
  app.use(liveRoutes(liveSource(services), { history: () => services.rates.points() }))
  app.use(statsRoutes(apiPool, indexedTables))
  app.use(metricsRoutes({ apiPool, ...services }))
  app.use(xrpcRoutes(apiPool))
  // Last: the dashboard at `/` (static files from client/dist).
  app.use(dashboardRoutes())
  // Keep last: turns errors from every route above into JSON, without stack traces.
  app.use(errorHandler())
  return app
}
