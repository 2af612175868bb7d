// Starts skyfill from a parsed Config: database (embedded unless DATABASE_URL), migrations, pools, the identity,
// backfill and live firehose services, and the HTTP server. Returns a handle whose stop() shuts everything down in order.
import type { Server } from 'node:http'
import os from 'node:os'
import type { Config } from './config/index.js'
import { startEmbeddedPostgres, type EmbeddedPg } from './db/embedded.js'
import { describeFirstContact } from './db/errors.js'
import { migrate } from './db/migrate.js'
import { createPool } from './db/pools.js'
import { SessionLock } from './db/session-lock.js'
import { createApp } from './app.js'
import { BatchWriter } from './indexer/writer.js'
import { ACCOUNT_ROW_LOCKS } from './indexer/write-locks.js'
import { PgCursorStore } from './pipeline/cursor-store.js'
import { createDecoder } from './pipeline/decoder/index.js'
import { createThrottle, poolSizeFor } from './pipeline/create-throttle.js'
import { PerHostLimiter } from './net/host-limiter.js'
import { BackfillService, type BackfillProgress } from './services/backfill.js'
import { FirehoseService, LIVE_FIREHOSE_LOCK, LIVE_SETTINGS } from './services/firehose.js'
import { IDENTITY_POOL_SIZE, IdentityService } from './services/identity.js'
import { withIdentityNotices } from './services/identity-aware-sink.js'
import { SystemMetrics } from './services/system-metrics.js'
import { RateHistory, serviceRates } from './services/rate-history.js'
import { ServiceLog } from './services/log.js'
import { createRepoDeps } from './services/backfill/repo-deps.js'
import { RangeStore } from './services/backfill/range-store.js'
import { InstanceRegistry, type InstanceReport } from './services/instance-registry.js'

export type Skyfill = {
  url: string
  databaseUrl: string
  backfill: BackfillService
  firehose: FirehoseService | null
  identity: IdentityService
  stop(): Promise<void>
}

/** How often each instance writes its heartbeat; it counts as live for three of these. */
const INSTANCE_HEARTBEAT_MS = 2000

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
  const applied = await migrate(adminPool).catch(async (err: unknown) => {
    await adminPool.end()
    throw config.databaseUrl ? describeFirstContact('DATABASE_URL', config.databaseUrl, err) : err
  })
  await adminPool.end()
  if (applied.length) log(`[DB] applied migrations: ${applied.join(', ')}`)

  const apiPool = createPool(databaseUrl, 'api', config.apiDbPoolSize)
  const backfillPool = createPool(databaseUrl, 'backfill', poolSizeFor(config.backfill))
  const firehosePool = config.firehoseEnabled ? createPool(databaseUrl, 'firehose', LIVE_SETTINGS.dbPoolSize) : null
  const identityPool = createPool(databaseUrl, 'identity', IDENTITY_POOL_SIZE)
  const coordinationPool = createPool(databaseUrl, 'coordination', 2)
  const decoder = createDecoder(config.backfill.decoder, { plcUrl: config.plcUrl })

  const repoConfig = config.backfill.repos
  // One budget per host for every request this process makes: PDSes, DID documents, handles, the relay's listings.
  const limiter = new PerHostLimiter({
    defaults: { concurrency: repoConfig.hostConcurrency, ratePerSecond: repoConfig.hostRatePerSecond },
    perHost: { [new URL(config.plcUrl).host]: { ratePerSecond: repoConfig.plcRatePerSecond } },
  })
  const identity = new IdentityService({
    pool: identityPool,
    plcUrl: config.plcUrl,
    handleResolverUrl: repoConfig.handleResolverUrl,
    allowPrivate: repoConfig.allowPrivateHosts,
    limiter,
    log,
  })
  const identityChanged = (dids: readonly string[]) => identity.identityChanged(dids)

  const system = new SystemMetrics().start()
  const backfillLog = new ServiceLog('[BACKFILL]', log)
  // Every instance says it is alive every few seconds; the hosts' limits are divided among the live ones.
  const instances = new InstanceRegistry({
    pool: coordinationPool,
    id: config.instanceId,
    hostname: os.hostname(),
    pid: process.pid,
    intervalMs: INSTANCE_HEARTBEAT_MS,
    report: (): InstanceReport => {
      const p: BackfillProgress = backfill.getProgress()
      return { eventsPerSecond: p.eventsPerSecond, recordsPerSecond: p.repos?.recordsPerSecond ?? 0, framesWritten: p.counts.processed }
    },
    onLive: (rank, live) => limiter.setShare(rank, live),
    log: new ServiceLog('[INSTANCE]', log).write,
  })
  const backfill = new BackfillService({
    config: config.backfill,
    relay: config.relayUrl,
    pool: backfillPool,
    sink: withIdentityNotices(new BatchWriter(backfillPool, 'backfill', ACCOUNT_ROW_LOCKS), identityChanged),
    cursors: new PgCursorStore(backfillPool, 'backfill'),
    ranges: new RangeStore(coordinationPool, 'backfill'),
    owner: config.instanceId,
    decoder,
    throttle: createThrottle(config.backfill, { sample: () => system.sample(), log: backfillLog.write }),
    log: backfillLog,
    repos: createRepoDeps({
      config,
      pool: backfillPool,
      limiter,
      locate: (did) => identity.resolve(did),
      owner: config.instanceId,
      sink: new BatchWriter(backfillPool, 'repos', ACCOUNT_ROW_LOCKS),
    }),
    identity: () => identity.progress(),
    instances: () => instances.list(),
  })
  const firehose = firehosePool
    ? new FirehoseService({
        instanceId: config.instanceId,
        lock: new SessionLock({ databaseUrl, key: LIVE_FIREHOSE_LOCK, owner: config.instanceId, checkEveryMs: 2000, queryTimeoutMs: 5000 }),
        standbyRetryMs: 2000,
        relay: config.relayUrl,
        cursors: new PgCursorStore(firehosePool, 'firehose'),
        sink: withIdentityNotices(new BatchWriter(firehosePool, 'firehose', ACCOUNT_ROW_LOCKS), identityChanged),
        decoder,
        stallTimeoutMs: config.backfill.stallTimeoutMs,
        initialCursor: () => backfill.headSeq,
        onGap: (reason) => backfill.checkEveryRepository(`the live firehose lost events: ${reason}`),
        log: new ServiceLog('[FIREHOSE]', log),
      })
    : null

  const rates = new RateHistory(serviceRates(backfill, firehose)).start()
  const app = createApp({ apiPool, backfill, firehose, system, rates, adminToken: config.adminToken })
  // Express 5 hands a listen error to this callback (and only there), not as a rejection or a throw.
  const server = await new Promise<Server>((resolve, reject) => {
    const s = app.listen(config.port, config.host, (err?: NodeJS.ErrnoException) => {
      if (!err) return resolve(s)
      const what = err.code === 'EADDRINUSE' ? 'is already in use' : `cannot be listened on (${err.code ?? err.message})`
      reject(new Error(`PORT ${config.port} on ${config.host} ${what}: stop what holds it, or set PORT to another port`))
    })
  }).catch(async (err: unknown) => {
    await Promise.all([apiPool.end(), backfillPool.end(), firehosePool?.end(), identityPool.end(), coordinationPool.end()])
    system.stop()
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
  await instances.start()
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
      await instances.stop()
      // After the writers: their last batches may still report changed identities.
      await identity.stop()
      await Promise.all([apiPool.end(), backfillPool.end(), firehosePool?.end(), identityPool.end(), coordinationPool.end()])
      system.stop()
      rates.stop()
      await embedded?.stop()
    },
  }
}
