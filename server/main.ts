// Starts skyfill from a parsed Config: database (embedded unless DATABASE_URL), migrations, the services
// (runtime.ts: pools, identity, backfill, live firehose, audit), and the HTTP
// server. Returns a handle whose stop() shuts everything down in order.
import type { Server } from 'node:http'
import os from 'node:os'
import type { Config } from './config/index.js'
import { openDatabase } from './db/open-database.js'
import { createApp } from './app.js'
import { createRuntime } from './runtime.js'
import type { AuditService } from './services/audit.js'
import type { BackfillService } from './services/backfill.js'
import type { FirehoseService } from './services/firehose.js'
import type { IdentityService } from './services/identity.js'
import { RateHistory, serviceRates } from './services/rate-history.js'

export type Skyfill = {
  url: string
  databaseUrl: string
  backfill: BackfillService
  firehose: FirehoseService | null
  identity: IdentityService
  audit: AuditService
  stop(): Promise<void>
}

export async function startSkyfill(config: Config, log: (line: string) => void = console.log): Promise<Skyfill> {
  for (const warning of config.warnings) log(`[CONFIG] ${warning}`)
  const { url: databaseUrl, embedded } = await openDatabase(config, log)

  const runtime = createRuntime(config, databaseUrl, log)
  const { backfill, firehose, identity, audit, system } = runtime

  const rates = new RateHistory(serviceRates(backfill, firehose)).start()
  const app = createApp({ apiPool: runtime.pools.api, backfill, firehose, audit, system, rates, adminToken: config.adminToken })
  // Express 5 hands a listen error to this callback (and only there), not as a rejection or a throw.
  const server = await new Promise<Server>((resolve, reject) => {
    const s = app.listen(config.port, config.host, (err?: NodeJS.ErrnoException) => {
      if (!err) return resolve(s)
      const what = err.code === 'EADDRINUSE' ? 'is already in use' : `cannot be listened on (${err.code ?? err.message})`
      reject(new Error(`PORT ${config.port} on ${config.host} ${what}: stop what holds it, or set PORT to another port`))
    })
  }).catch(async (err: unknown) => {
    await runtime.stop()
    rates.stop()
    await embedded?.stop()
    throw err
  })
  const address = server.address()
  const port = typeof address === 'object' && address ? address.port : config.port
  const url = `http://${config.host === '0.0.0.0' ? '127.0.0.1' : config.host}:${port}`
  log(`[SERVER] listening on ${url}`)
  // Once up, not before: a start-up that fails says only why.
  log(`[INSTANCE] ${config.instanceId}`)
  await runtime.instances.start()
  identity.start()
  backfill.start()
  firehose?.start()
  audit.start()
  runtime.tombstones?.start()

  return {
    url,
    databaseUrl,
    backfill,
    firehose,
    identity,
    audit,
    async stop() {
      await new Promise<void>((resolve) => {
        server.close(() => resolve())
        server.closeAllConnections()
      })
      await runtime.stop()
      rates.stop()
      await embedded?.stop()
    },
  }
}
