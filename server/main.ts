// Starts skyfill from a parsed Config: database (embedded unless DATABASE_URL), migrations, the services
// (runtime.ts: pools, identity, backfill, live firehose, audit) on this thread, and the HTTP server on a thread of its
// own (api-thread/). Returns a handle whose stop() shuts everything down in order.
import type { Config } from './config/index.js'
import { openDatabase } from './db/open-database.js'
import { startApiThread } from './api-thread/start-api-thread.js'
import { RECORD_MODULES } from './indexer/records/index.js'
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
  const stopServices = async () => {
    await runtime.stop()
    rates.stop()
    await embedded?.stop()
  }
  // Before the API listens and before anything is claimed: a second process under a live instance's id stops here.
  await runtime.instances.ensureOwnId().catch(async (err: unknown) => {
    await stopServices()
    throw err
  })
  const api = await startApiThread(
    {
      databaseUrl,
      host: config.host,
      port: config.port,
      poolSize: config.apiDbPoolSize,
      adminToken: config.adminToken,
      firehoseEnabled: firehose !== null,
      indexedTables: RECORD_MODULES.map(({ collection, table }) => ({ collection, table })),
    },
    { backfill, firehose, audit, system, rates },
    (err) => {
      // Serving nothing while the backfill runs on would look alive and be deaf: stop, for a supervisor to restart.
      log(`[SERVER] ${err.message}: stopping`)
      void stopServices().finally(() => process.exit(1))
    },
  ).catch(async (err: unknown) => {
    await stopServices()
    throw err
  })
  const url = `http://${config.host === '0.0.0.0' ? '127.0.0.1' : config.host}:${api.port}`
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
      await api.stop()
      await stopServices()
    },
  }
}
