// Starts skyfill from a parsed Config: database (embedded unless DATABASE_URL), migrations, pools, the identity,
// backfill and live firehose services, and the HTTP server. Returns a handle whose stop() shuts everything down in order.
import type { Server } from 'node:http'
import type { Config } from './config/index.js'
import { startEmbeddedPostgres, type EmbeddedPg } from './db/embedded.js'
import { migrate } from './db/migrate.js'
import { createPool } from './db/pools.js'
import { createApp } from './app.js'
import { BatchWriter } from './indexer/writer.js'
import { RecordLocks } from './indexer/write-locks.js'
import { PgCursorStore } from './pipeline/cursor-store.js'
import { createDecoder } from './pipeline/decoder/index.js'
import { createThrottle, poolSizeFor } from './pipeline/create-throttle.js'
import { PerHostLimiter } from './net/host-limiter.js'
import { BackfillService } from './services/backfill.js'
import { FirehoseService, LIVE_SETTINGS } from './services/firehose.js'
import { IDENTITY_POOL_SIZE, IdentityService } from './services/identity.js'
import { withIdentityNotices } from './services/identity-aware-sink.js'
import { SystemMetrics } from './services/system-metrics.js'
import { ServiceLog } from './services/log.js'

export type Skyfill = {
  url: string
  databaseUrl: string
  backfill: BackfillService
  firehose: FirehoseService | null
  identity: IdentityService
  stop(): Promise<void>
}

export async function startSkyfill(config: Config, log: (line: string) => void = console.log): Promise<Skyfill> {
  for (const warning of config.warnings) log(`[CONFIG] ${warning}`)
  let embedded: EmbeddedPg | null = null
  let databaseUrl = config.databaseUrl
  if (!databaseUrl) {
    embedded = await startEmbeddedPostgres({ ...config.embeddedPg, log })
    databaseUrl = embedded.url
    log(`[DB] embedded Postgres on 127.0.0.1:${config.embeddedPg.port}, data in ${config.embeddedPg.dataDir}`)
  }
  const adminPool = createPool(databaseUrl, 'admin', 1)
  const applied = await migrate(adminPool)
  await adminPool.end()
  if (applied.length) log(`[DB] applied migrations: ${applied.join(', ')}`)

  const apiPool = createPool(databaseUrl, 'api', config.apiDbPoolSize)
  const backfillPool = createPool(databaseUrl, 'backfill', poolSizeFor(config.backfill))
  const firehosePool = config.firehoseEnabled ? createPool(databaseUrl, 'firehose', LIVE_SETTINGS.dbPoolSize) : null
  const identityPool = createPool(databaseUrl, 'identity', IDENTITY_POOL_SIZE)
  const decoder = createDecoder(config.backfill.decoder, { plcUrl: config.plcUrl })
  // One set of record locks for every writer of this process (see indexer/write-locks.ts).
  const locks = new RecordLocks()

  // One limiter for every request skyfill makes to other hosts: a PDS, a DID host or the PLC directory has one
  // budget, whichever part asks.
  const hosts = new PerHostLimiter({
    defaults: { concurrency: config.backfill.repos.hostConcurrency, ratePerSecond: config.backfill.repos.hostRatePerSecond },
  })
  const identity = new IdentityService({
    pool: identityPool,
    plcUrl: config.plcUrl,
    handleResolverUrl: config.backfill.repos.handleResolverUrl,
    allowPrivate: config.backfill.repos.allowPrivateHosts,
    limiter: hosts,
    log,
  })
  const identityChanged = (dids: readonly string[]) => identity.identityChanged(dids)

  const system = new SystemMetrics().start()
  const backfillLog = new ServiceLog('[BACKFILL]', log)
  const backfill = new BackfillService({
    config: config.backfill,
    relay: config.relayUrl,
    pool: backfillPool,
    sink: withIdentityNotices(new BatchWriter(backfillPool, 'backfill', locks), identityChanged),
    cursors: new PgCursorStore(backfillPool, 'backfill'),
    decoder,
    throttle: createThrottle(config.backfill, { sample: () => system.sample(), log: backfillLog.write }),
    log: backfillLog,
    identity: () => identity.progress(),
  })
  const firehose = firehosePool
    ? new FirehoseService({
        relay: config.relayUrl,
        cursors: new PgCursorStore(firehosePool, 'firehose'),
        sink: withIdentityNotices(new BatchWriter(firehosePool, 'firehose', locks), identityChanged),
        decoder,
        stallTimeoutMs: config.backfill.stallTimeoutMs,
        initialCursor: () => backfill.headSeq,
        log: new ServiceLog('[FIREHOSE]', log),
      })
    : null

  const app = createApp({ apiPool, backfill, firehose, system, adminToken: config.adminToken })
  const server: Server = await new Promise((resolve, reject) => {
    const s = app.listen(config.port, config.host, () => resolve(s))
    s.on('error', (err: NodeJS.ErrnoException) =>
      reject(new Error(err.code === 'EADDRINUSE' ? `port ${config.port} is already in use (set PORT)` : err.message)),
    )
  })
  const address = server.address()
  const port = typeof address === 'object' && address ? address.port : config.port
  const url = `http://${config.host === '0.0.0.0' ? '127.0.0.1' : config.host}:${port}`
  log(`[SERVER] listening on ${url}`)
  identity.start()
  backfill.start()
  firehose?.start()

  return {
    url,
    databaseUrl,
    backfill,
    firehose,
    identity,
    async stop() {
      await new Promise<void>((resolve) => {
        server.close(() => resolve())
        server.closeAllConnections()
      })
      await Promise.all([backfill.stop(), firehose?.stop()])
      // After the writers: their last batches may still report changed identities.
      await identity.stop()
      await Promise.all([apiPool.end(), backfillPool.end(), firehosePool?.end(), identityPool.end()])
      system.stop()
      await embedded?.stop()
    },
  }
}
