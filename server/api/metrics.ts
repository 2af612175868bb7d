// GET /metrics: Prometheus text from a registry of our own (never prom-client's global one). Everything is read
// at scrape time from the services' own state: one snapshot of backfill progress, firehose status and the system
// sample per scrape, so a scrape is consistent and costs nothing between scrapes. Unknown values (no cursor yet)
// are NaN. Default process and Node.js metrics are included.
import { Router } from 'express'
import type pg from 'pg'
import { collectDefaultMetrics, Counter, Gauge, Registry } from 'prom-client'
import type { BackfillProgress, BackfillState } from '../services/backfill.js'
import type { FirehoseStatus } from '../services/firehose-status.js'
import type { SystemSample } from '../services/system-metrics.js'
import { JOB_STATES } from '../repos/job-state.js'
import { SYNC_STATES } from '../indexer/sync-states.js'
import { DIFFERENCE_KINDS } from '../audit/report.js'
import type { AuditCounters } from '../services/audit.js'
import type { ApiServices } from './services.js'

export type MetricsDeps = Pick<ApiServices, 'backfill' | 'firehose' | 'system'> & {
  apiPool: pg.Pool
  /** The audits' counts since the process started; absent: all 0. */
  audit?: Pick<ApiServices['audit'], 'counters'>
}

const BACKFILL_STATES: readonly BackfillState[] = ['off', 'idle', 'locating', 'running', 'paused', 'throttled', 'complete', 'failed']
const FIREHOSE_STATES: readonly FirehoseStatus['state'][] = ['off', 'standby', 'waiting', 'connecting', 'retrying', 'live', 'failed', 'stopped']
const IDENTITY_STATES = ['due', 'verified', 'invalid', 'failed'] as const
const OUTCOMES = ['received', 'processed', 'skipped', 'invalid', 'upserted', 'deleted', 'unindexed'] as const
const MB = 1024 * 1024

type Snapshot = { progress: BackfillProgress; firehose: FirehoseStatus | null; system: SystemSample; audit: AuditCounters | null }

const orNaN = (v: number | null | undefined) => (v === null || v === undefined ? Number.NaN : v)

/** The registry and a function that takes the snapshot the next collection reads. */
export function createMetrics(deps: MetricsDeps): { registry: Registry; snapshot(): Promise<void> } {
  const registry = new Registry()
  let snap: Snapshot | null = null
  const current = (): Snapshot => {
    if (!snap) throw new Error('metrics collected before a snapshot was taken')
    return snap
  }

  const gauge = (name: string, help: string, read: (s: Snapshot) => number) =>
    new Gauge({
      name,
      help,
      registers: [registry],
      collect() {
        this.set(read(current()))
      },
    })

  // ---- backfill ----
  new Counter({
    name: 'skyfill_backfill_events_total',
    help: 'Backfill events by outcome since this run started (received from the relay, processed, skipped, invalid = rejected, upserted, deleted, unindexed collection)',
    labelNames: ['outcome'],
    registers: [registry],
    collect() {
      const counts = current().progress.counts
      this.reset()
      for (const outcome of OUTCOMES) this.inc({ outcome }, counts[outcome] ?? 0)
    },
  })
  new Gauge({
    name: 'skyfill_backfill_state',
    help: 'Backfill state: 1 for the current state, 0 for the others',
    labelNames: ['state'],
    registers: [registry],
    collect() {
      const state = current().progress.state
      for (const s of BACKFILL_STATES) this.set({ state: s }, s === state ? 1 : 0)
    },
  })
  gauge('skyfill_backfill_cursor', 'Seq below which the backfill has written or rejected everything (NaN before it starts)', (s) => orNaN(s.progress.cursor))
  gauge('skyfill_backfill_head', 'Seq the backfill replays up to (NaN until located)', (s) => orNaN(s.progress.head))
  gauge('skyfill_backfill_start', 'Seq the backfill window starts after (NaN until located)', (s) => orNaN(s.progress.start))
  gauge('skyfill_backfill_progress_percent', 'The whole run, 0-100: the replay, and the repositories when fetched (NaN when unknown)', (s) => orNaN(s.progress.percent))
  gauge('skyfill_backfill_replay_percent', 'Share of the window\'s seqs written over every range, 0-100 (NaN when unknown)', (s) => orNaN(s.progress.replayPercent))
  gauge('skyfill_backfill_events_per_second', 'Backfill frames per second over the recent window', (s) => s.progress.eventsPerSecond)
  gauge('skyfill_backfill_eta_seconds', 'Estimated seconds to reach the head (NaN when unknown)', (s) => orNaN(s.progress.etaSeconds))
  gauge('skyfill_backfill_gaps', 'Seq ranges the relay skipped during the backfill', (s) => s.progress.gaps.length)
  gauge('skyfill_backfill_db_ops_in_flight', 'Backfill database operations in flight', (s) => s.progress.db.inUse)
  gauge('skyfill_backfill_db_ops_limit', 'Most backfill database operations allowed in flight', (s) => s.progress.db.limit)
  gauge('skyfill_backfill_db_ops_high_water', 'Most backfill database operations ever in flight at once', (s) => s.progress.db.highWater)
  gauge('skyfill_backfill_database_down', '1 while the backfill cannot reach the database', (s) => (s.progress.db.down ? 1 : 0))
  gauge('skyfill_backfill_memory_limit_bytes', 'RSS above which the backfill pauses', (s) => s.progress.memory.limitMb * MB)
  gauge('skyfill_backfill_memory_paused', '1 while the backfill is paused for memory', (s) => (s.progress.memory.paused ? 1 : 0))

  // ---- the instances on this database, as this one's last heartbeat read them ----
  const instanceGauge = (name: string, help: string, read: (i: BackfillProgress['instances'][number]) => number) =>
    new Gauge({
      name,
      help,
      labelNames: ['instance'],
      registers: [registry],
      collect() {
        this.reset()
        for (const i of current().progress.instances) this.set({ instance: i.id }, read(i))
      },
    })
  instanceGauge('skyfill_instance_live', '1 for an instance whose heartbeat is recent, 0 for one not heard from lately', (i) => (i.live ? 1 : 0))
  instanceGauge('skyfill_instance_ranges_held', 'Replay ranges each instance holds under a lease', (i) => i.holds.ranges)
  instanceGauge('skyfill_instance_repos_held', 'Repository jobs each instance holds under a lease', (i) => i.holds.repos)
  instanceGauge('skyfill_instance_events_per_second', 'Each instance\'s replay rate at its last heartbeat', (i) => i.eventsPerSecond)
  instanceGauge('skyfill_instance_records_per_second', 'Each instance\'s repository records per second at its last heartbeat', (i) => i.recordsPerSecond)

  // ---- the repository part ----
  new Gauge({
    name: 'skyfill_backfill_repos',
    help: 'Repository jobs of this backfill by state (pending, fetching, done, failed, unavailable); all 0 when the run fetches none',
    labelNames: ['state'],
    registers: [registry],
    collect() {
      const jobs = current().progress.repos?.jobs
      for (const state of JOB_STATES) this.set({ state }, jobs?.[state] ?? 0)
    },
  })
  new Gauge({
    name: 'skyfill_repo_sync_state',
    help: 'Known repositories by sync state: active, desynchronized (a gap found), resyncing, error',
    labelNames: ['state'],
    registers: [registry],
    collect() {
      const sync = current().progress.sync
      for (const state of SYNC_STATES) this.set({ state }, sync?.[state] ?? 0)
    },
  })
  gauge('skyfill_backfill_repos_retrying', 'Failed repository jobs that will be tried again', (s) => s.progress.repos?.retrying ?? 0)
  gauge('skyfill_backfill_repo_records_per_second', 'Records written from repositories per second', (s) => s.progress.repos?.recordsPerSecond ?? 0)
  gauge('skyfill_backfill_repo_records_written', 'Records written from repositories since this process started', (s) => s.progress.repos?.recordsWritten ?? 0)
  gauge('skyfill_backfill_repos_eta_seconds', 'Estimated seconds until every repository is finished (NaN when unknown)', (s) => orNaN(s.progress.repos?.etaSeconds))
  gauge('skyfill_backfill_parked_hosts', 'Hosts parked for rate limits or failures', (s) => s.progress.repos?.parkedHosts ?? 0)

  // ---- identity ----
  new Gauge({
    name: 'skyfill_identity_actors',
    help: 'Actors by identity state, as last counted: due to be (re)resolved, verified handle, handle.invalid, last attempt failed (NaN before the first count)',
    labelNames: ['state'],
    registers: [registry],
    collect() {
      const identity = current().progress.identity
      const counted = identity?.countedAt ? identity : null
      for (const state of IDENTITY_STATES) this.set({ state }, orNaN(counted?.[state]))
    },
  })

  // ---- database pools ----
  new Gauge({
    name: 'skyfill_db_pool_connections',
    help: 'Connections of each database pool: total open, idle, and requests waiting for one',
    labelNames: ['pool', 'state'],
    registers: [registry],
    collect() {
      const { progress } = current()
      this.set({ pool: 'api', state: 'total' }, deps.apiPool.totalCount)
      this.set({ pool: 'api', state: 'idle' }, deps.apiPool.idleCount)
      this.set({ pool: 'api', state: 'waiting' }, deps.apiPool.waitingCount)
      this.set({ pool: 'backfill', state: 'total' }, progress.db.poolTotal)
      this.set({ pool: 'backfill', state: 'waiting' }, progress.db.poolWaiting)
    },
  })
  new Gauge({
    name: 'skyfill_db_pool_max',
    help: 'Size limit of each database pool',
    labelNames: ['pool'],
    registers: [registry],
    collect() {
      this.set({ pool: 'api' }, deps.apiPool.options.max ?? Number.NaN)
      this.set({ pool: 'backfill' }, current().progress.db.poolSize)
    },
  })

  // ---- live firehose ----
  new Gauge({
    name: 'skyfill_firehose_state',
    help: 'Live firehose state: 1 for the current state, 0 for the others',
    labelNames: ['state'],
    registers: [registry],
    collect() {
      const state = current().firehose?.state ?? 'off'
      for (const s of FIREHOSE_STATES) this.set({ state: s }, s === state ? 1 : 0)
    },
  })
  gauge('skyfill_firehose_cursor', 'Seq below which the live firehose has written everything (NaN when off or not started)', (s) => orNaN(s.firehose?.cursor))
  gauge('skyfill_firehose_events_per_second', 'Live firehose frames per second', (s) => s.firehose?.eventsPerSecond ?? 0)
  new Counter({
    name: 'skyfill_firehose_events_total',
    help: 'Live firehose events by outcome since the process started',
    labelNames: ['outcome'],
    registers: [registry],
    collect() {
      const f = current().firehose
      this.reset()
      this.inc({ outcome: 'received' }, f?.received ?? 0)
      this.inc({ outcome: 'processed' }, f?.processed ?? 0)
    },
  })

  // ---- audit ----
  const auditCounter = (name: string, help: string, read: (a: AuditCounters) => number) =>
    new Counter({
      name,
      help,
      registers: [registry],
      collect() {
        const a = current().audit
        this.reset()
        this.inc(a ? read(a) : 0)
      },
    })
  auditCounter('skyfill_audit_repos_checked_total', 'Repositories audited (compared with their PDS) since the process started', (a) => a.reposChecked)
  auditCounter('skyfill_audit_repos_differing_total', 'Audited repositories that differed from their PDS', (a) => a.reposDiffering)
  new Counter({
    name: 'skyfill_audit_differences_total',
    help: 'Differences audits found, by kind: missing, extra, stale (another CID), handle, status',
    labelNames: ['kind'],
    registers: [registry],
    collect() {
      const a = current().audit
      this.reset()
      for (const kind of DIFFERENCE_KINDS) this.inc({ kind }, a?.differences[kind] ?? 0)
    },
  })
  gauge('skyfill_audit_drift_ratio', 'Audited repositories that differed, of those audited, since the process started (NaN before the first)', (s) => orNaN(s.audit?.driftRatio))

  // ---- process (the shared sampler's view, as the dashboard and the governor see it) ----
  gauge('skyfill_memory_rss_bytes', 'Resident set size, as last sampled', (s) => s.system.rssMb * MB)
  gauge('skyfill_memory_heap_used_bytes', 'V8 heap in use, as last sampled', (s) => s.system.heapUsedMb * MB)
  gauge('skyfill_cpu_percent', 'Process CPU over the last sampling interval, percent of one core', (s) => s.system.cpuPercent)
  new Gauge({
    name: 'skyfill_event_loop_delay_seconds',
    help: 'Event-loop delay over the last sampling interval: how late a due callback ran (0 on an idle loop)',
    labelNames: ['stat'],
    registers: [registry],
    collect() {
      const { system } = current()
      this.set({ stat: 'p50' }, system.loopDelayP50Ms / 1000)
      this.set({ stat: 'p99' }, system.loopDelayP99Ms / 1000)
      this.set({ stat: 'max' }, system.loopDelayMaxMs / 1000)
    },
  })

  collectDefaultMetrics({ register: registry })
  return {
    registry,
    async snapshot() {
      const [progress, firehose, system, audit] = await Promise.all([
        deps.backfill.getProgress(),
        deps.firehose?.getStatus() ?? null,
        deps.system.sample(),
        deps.audit?.counters() ?? null,
      ])
      snap = { progress, firehose, system, audit }
    },
  }
}

export function metricsRoutes(deps: MetricsDeps): Router {
  const { registry, snapshot } = createMetrics(deps)
  const router = Router()
  router.get('/metrics', async (_req, res) => {
    await snapshot()
    // prom-client writes NaN as "Nan"; the exposition format spells it "NaN".
    const text = (await registry.metrics()).replace(/ Nan$/gm, ' NaN')
    res.set('Content-Type', registry.contentType).set('Cache-Control', 'no-store').send(text)
  })
  return router
}
