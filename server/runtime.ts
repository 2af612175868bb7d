// Everything skyfill runs but the HTTP server, built once from a parsed Config on a migrated database: the pools, the
// one per-host limiter, the identity, backfill, live firehose, audit and tombstone-pruning services. `npm start` serves it (main.ts);
// `npm run audit` runs its audit service alone (scripts/audit.ts), so both fetch and write with the same classes.
import type pg from 'pg'
import os from 'node:os'
import type { Config } from './config/index.js'
import { lowerBackendPriority } from './db/backend-priority.js'
import { createPool } from './db/pools.js'
import { SessionLock } from './db/session-lock.js'
import { BatchWriter } from './indexer/writer.js'
import { ACCOUNT_ROW_LOCKS } from './indexer/write-locks.js'
import { PgCursorStore } from './pipeline/cursor-store.js'
import { createDecoder } from './pipeline/decoder/index.js'
import { createThrottle, poolSizeFor } from './pipeline/create-throttle.js'
import { PerHostLimiter } from './net/host-limiter.js'
import { AuditService } from './services/audit.js'
import { BackfillService, type BackfillProgress } from './services/backfill.js'
import { FirehoseService, LIVE_FIREHOSE_LOCK, LIVE_SETTINGS } from './services/firehose.js'
import { IDENTITY_POOL_SIZE, IdentityService } from './services/identity.js'
import { withIdentityNotices } from './services/identity-aware-sink.js'
import { SystemMetrics } from './services/system-metrics.js'
import { ServiceLog } from './services/log.js'
import { REPO_POOL_SIZE, createRepoDeps } from './services/backfill/repo-deps.js'
import { RangeStore } from './services/backfill/range-store.js'
import { InstanceRegistry, type InstanceReport } from './services/instance-registry.js'
import { TombstonePruner } from './services/tombstone-pruner.js'

/** The audit's own connections: one per repository audited at once, and one for its bookkeeping. */
const auditPoolSize = (config: Config) => config.backfill.repos.concurrency + 1

export type Runtime = {
  pools: { backfill: pg.Pool; firehose: pg.Pool | null; identity: pg.Pool; audit: pg.Pool; repos: pg.Pool; coordination: pg.Pool; maintenance: pg.Pool }
  system: SystemMetrics
  /** This instance among those on the database: heartbeats, and the hosts' limits shared among the live ones. */
  instances: InstanceRegistry
  identity: IdentityService
  backfill: BackfillService
  firehose: FirehoseService | null
  audit: AuditService
  /** Null when TOMBSTONE_PRUNE_INTERVAL_MINUTES is 0. */
  tombstones: TombstonePruner | null
  /** Stops the services (writers first, then identity), then closes the pools. */
  stop(): Promise<void>
}

/** The cursors of the two consumers of the firehose, the replay's run and the live one: the tombstones' prune floor. */
const REPLAY_CURSOR = 'backfill'
const LIVE_CURSOR = 'firehose'

/** How often each instance writes its heartbeat; it counts as live for three of these. */
const INSTANCE_HEARTBEAT_MS = 2000

export function createRuntime(config: Config, databaseUrl: string, log: (line: string) => void): Runtime {
  const pools = {
    backfill: createPool(databaseUrl, 'backfill', poolSizeFor(config.backfill)),
    firehose: config.firehoseEnabled ? createPool(databaseUrl, 'firehose', LIVE_SETTINGS.dbPoolSize) : null,
    identity: createPool(databaseUrl, 'identity', IDENTITY_POOL_SIZE),
    audit: createPool(databaseUrl, 'audit', auditPoolSize(config)),
    repos: createPool(databaseUrl, 'repos', REPO_POOL_SIZE),
    coordination: createPool(databaseUrl, 'coordination', 2),
    maintenance: createPool(databaseUrl, 'maintenance', 1),
  }
  if (config.backfill.dbNice > 0) lowerBackendPriority(pools.backfill, databaseUrl, config.backfill.dbNice, log)
  const backfillLog = new ServiceLog('[BACKFILL]', log)
  const decoder = createDecoder(config.backfill.decoder, { plcUrl: config.plcUrl, log: backfillLog.write })

  const repoConfig = config.backfill.repos
  // One budget per host for every request this process makes: PDSes, DID documents, handles, the relay's listings.
  const limiter = new PerHostLimiter({
    defaults: { concurrency: repoConfig.hostConcurrency, ratePerSecond: repoConfig.hostRatePerSecond },
    perHost: { [new URL(config.plcUrl).host]: { ratePerSecond: repoConfig.plcRatePerSecond } },
  })
  const identity = new IdentityService({
    pool: pools.identity,
    plcUrl: config.plcUrl,
    handleResolverUrl: repoConfig.handleResolverUrl,
    allowPrivate: repoConfig.allowPrivateHosts,
    limiter,
    log,
  })
  const identityChanged = (dids: readonly string[]) => identity.identityChanged(dids)

  const system = new SystemMetrics().start()
  // Every instance says it is alive every few seconds; the hosts' limits are divided among the live ones.
  const instances = new InstanceRegistry({
    pool: pools.coordination,
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
  const repos = createRepoDeps({
    config,
    pool: pools.repos,
    limiter,
    locate: (did) => identity.resolve(did),
    owner: config.instanceId,
    sink: new BatchWriter(pools.backfill, 'repos', ACCOUNT_ROW_LOCKS),
  })
  const backfill = new BackfillService({
    config: config.backfill,
    relay: config.relayUrl,
    pool: pools.backfill,
    sink: withIdentityNotices(new BatchWriter(pools.backfill, 'backfill', ACCOUNT_ROW_LOCKS), identityChanged),
    cursors: new PgCursorStore(pools.backfill, REPLAY_CURSOR),
    ranges: new RangeStore(pools.coordination, REPLAY_CURSOR),
    owner: config.instanceId,
    decoder,
    throttle: createThrottle(config.backfill, { sample: () => system.sample(), log: backfillLog.write }),
    log: backfillLog,
    repos,
    identity: () => identity.progress(),
    instances: () => instances.list(),
  })
  const firehose = pools.firehose
    ? new FirehoseService({
        instanceId: config.instanceId,
        lock: new SessionLock({ databaseUrl, key: LIVE_FIREHOSE_LOCK, owner: config.instanceId, checkEveryMs: 2000, queryTimeoutMs: 5000 }),
        standbyRetryMs: 2000,
        relay: config.relayUrl,
        cursors: new PgCursorStore(pools.firehose, LIVE_CURSOR),
        sink: withIdentityNotices(new BatchWriter(pools.firehose, 'firehose', ACCOUNT_ROW_LOCKS), identityChanged),
        decoder,
        stallTimeoutMs: config.backfill.stallTimeoutMs,
        initialCursor: () => backfill.headSeq,
        onGap: (reason) => backfill.checkEveryRepository(`the live firehose lost events: ${reason}`),
        log: new ServiceLog('[FIREHOSE]', log),
      })
    : null
  const auditLog = new ServiceLog('[AUDIT]', log)
  const audit = new AuditService({
    db: pools.audit,
    fetch: (did, since, signal) => repos.fetcher.fetch(did, since, signal),
    // Afresh: a handle cached before the audit would only confirm what was served from it.
    identity: async (did) => {
      identity.invalidate(did)
      return identity.resolve(did)
    },
    resync: (dids, signal) => backfill.resync(dids, 'audit: its rows differ from its repository', signal),
    reverify: (dids, signal) => identity.reverify(dids, signal),
    examplesPerKind: 5,
    concurrency: repoConfig.concurrency,
    samplePerHour: config.auditSamplePerHour,
    log: auditLog.write,
  })

  const intervalMs = config.tombstones.pruneIntervalMs
  const tombstones =
    intervalMs === null
      ? null
      : new TombstonePruner({
          pool: pools.maintenance,
          consumers: [REPLAY_CURSOR, LIVE_CURSOR],
          relay: config.relayUrl,
          retentionMs: config.tombstones.retentionMs,
          intervalMs,
          log: new ServiceLog('[TOMBSTONES]', log).write,
        })

  return {
    pools,
    system,
    instances,
    identity,
    backfill,
    firehose,
    audit,
    tombstones,
    async stop() {
      const stopping = Promise.all([audit.stop(), backfill.stop(), firehose?.stop(), tombstones?.stop()])
      // After their stop signals, so a repo job waiting on a parked PLC sees its own stop and gives its job back.
      identity.cancelRequests()
      await stopping
      await instances.stop()
      // After the writers: their last batches may still report changed identities.
      await identity.stop()
      await Promise.all(Object.values(pools).map((p) => p?.end()))
      system.stop()
    },
  }
}
