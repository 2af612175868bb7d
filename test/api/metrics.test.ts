// GET /metrics: Prometheus text from skyfill's own registry.
import type { Server } from 'node:http'
import express from 'express'
import { register as globalRegistry } from 'prom-client'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { metricsRoutes, type MetricsDeps } from '../../server/api/metrics.js'
import { createPool } from '../../server/db/pools.js'
import type { AuditCounters } from '../../server/services/audit.js'
import type { BackfillProgress } from '../../server/services/backfill.js'
import { freePort } from '../harness/postgres.js'
import { startServer, type TestServer } from './fixture.js'

let server: TestServer

beforeAll(async () => {
  server = await startServer()
})

afterAll(async () => {
  await server?.close()
})

/** The value of one sample line, e.g. value(text, 'skyfill_backfill_state{state="off"}'). */
function value(text: string, series: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `))
  return line === undefined ? undefined : Number(line.slice(series.length + 1))
}

function progress(overrides: Partial<BackfillProgress> = {}): BackfillProgress {
  return {
    state: 'running',
    relay: 'wss://relay.example',
    window: { days: 1, requestedFrom: null, availableFrom: null },
    cursor: 1500,
    head: 2000,
    start: 1000,
    percent: 50,
    replayPercent: 50,
    counts: { received: 600, processed: 500, skipped: 40, invalid: 7, upserted: 450, deleted: 3, unindexed: 12 },
    eventsPerSecond: 250.5,
    etaSeconds: 2,
    memory: { rssMb: 300, heapUsedMb: 100, limitMb: 512, paused: false },
    db: { inUse: 3, limit: 4, highWater: 4, poolSize: 5, poolTotal: 4, poolWaiting: 1, down: false },
    throttle: { profile: 'background', describe: '', batchSize: 500, batchDelayMs: 0, useIdle: false, budget: null },
    source: { state: 'connected', error: null, bufferedFrames: 0, bufferedBytes: 0, paused: false },
    repos: null,
    sync: null,
    instances: [],
    pausedBy: [],
    gaps: [],
    startedAt: null,
    completedAt: null,
    error: null,
    logs: [],
    identity: { due: 2, verified: 40, invalid: 3, failed: 1, countedAt: '2025-01-01T00:00:00.000Z' },
    ...overrides,
  }
}

describe('GET /metrics from a running skyfill', () => {
  it('serves Prometheus text with the backfill off, no cursors yet, and the API pool size', async () => {
    const res = await fetch(`${server.url}/metrics`)
    const text = await res.text()
    expect(res.status).toBe(200)
    expect(res.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/)
    expect(value(text, 'skyfill_backfill_state{state="off"}')).toBe(1)
    expect(value(text, 'skyfill_backfill_state{state="running"}')).toBe(0)
    expect(value(text, 'skyfill_backfill_cursor')).toBeNaN()
    expect(text.split('\n')).toContain('skyfill_backfill_cursor NaN')
    expect(text).not.toMatch(/ Nan$/m)
    expect(value(text, 'skyfill_firehose_state{state="off"}')).toBe(1)
    expect(value(text, 'skyfill_firehose_cursor')).toBeNaN()
    expect(value(text, 'skyfill_db_pool_max{pool="api"}')).toBe(10)
    for (const outcome of ['received', 'processed', 'skipped', 'invalid', 'upserted', 'deleted']) {
      expect(value(text, `skyfill_backfill_events_total{outcome="${outcome}"}`)).toBe(0)
    }
  })

  it('includes the default process metrics', async () => {
    const text = await (await fetch(`${server.url}/metrics`)).text()
    expect(text).toContain('# TYPE process_cpu_user_seconds_total counter')
    expect(text).toContain('# TYPE process_resident_memory_bytes gauge')
    expect(text).toContain('# TYPE nodejs_eventloop_lag_seconds gauge')
  })

  it('keeps its metrics out of the global prom-client registry', async () => {
    await fetch(`${server.url}/metrics`)
    expect(globalRegistry.getSingleMetric('skyfill_backfill_cursor')).toBeUndefined()
  })
})

describe('GET /metrics values', () => {
  let url: string
  let listening: Server
  const apiPool = createPool('postgres://127.0.0.1:1/unused', 'api', 7)
  let current = progress()
  let auditCounts: AuditCounters = { reposChecked: 0, reposDiffering: 0, differences: { missing: 0, extra: 0, stale: 0, handle: 0, status: 0 }, driftRatio: null }
  const deps: MetricsDeps = {
    apiPool,
    backfill: { getProgress: () => current, pause: () => {}, resume: () => {} },
    firehose: {
      getStatus: () => ({ state: 'live' as const, holder: 'indexer-1', cursor: 9000, received: 80, processed: 75, eventsPerSecond: 12.5, error: null }),
    },
    system: {
      sample: () => ({ cpuPercent: 12.5, loopDelayP50Ms: 2, loopDelayP99Ms: 15, loopDelayMaxMs: 40, rssMb: 300, heapUsedMb: 100, at: 0 }),
    },
    audit: { counters: () => auditCounts },
  }

  beforeAll(async () => {
    const app = express().use(metricsRoutes(deps))
    const port = await freePort()
    listening = await new Promise((resolve) => {
      const s = app.listen(port, '127.0.0.1', () => resolve(s))
    })
    url = `http://127.0.0.1:${port}/metrics`
  })

  afterAll(async () => {
    await new Promise((resolve) => listening.close(resolve))
    await apiPool.end()
  })

  it('reports backfill events by outcome from the progress counts at scrape time', async () => {
    const text = await (await fetch(url)).text()
    expect(text).toContain('# TYPE skyfill_backfill_events_total counter')
    const expected = { received: 600, processed: 500, skipped: 40, invalid: 7, upserted: 450, deleted: 3, unindexed: 12 }
    for (const [outcome, n] of Object.entries(expected)) expect(value(text, `skyfill_backfill_events_total{outcome="${outcome}"}`)).toBe(n)
  })

  it('follows the counts as they grow between scrapes', async () => {
    current = progress({ counts: { ...progress().counts, processed: 900 } })
    try {
      const text = await (await fetch(url)).text()
      expect(value(text, 'skyfill_backfill_events_total{outcome="processed"}')).toBe(900)
    } finally {
      current = progress()
    }
  })

  it('reports the backfill cursor, head, start, state and progress', async () => {
    const text = await (await fetch(url)).text()
    expect(value(text, 'skyfill_backfill_cursor')).toBe(1500)
    expect(value(text, 'skyfill_backfill_head')).toBe(2000)
    expect(value(text, 'skyfill_backfill_start')).toBe(1000)
    expect(value(text, 'skyfill_backfill_progress_percent')).toBe(50)
    expect(value(text, 'skyfill_backfill_events_per_second')).toBe(250.5)
    expect(value(text, 'skyfill_backfill_state{state="running"}')).toBe(1)
    expect(value(text, 'skyfill_backfill_state{state="paused"}')).toBe(0)
  })

  it('reports backfill database operations in flight against the limit, and pool totals', async () => {
    const text = await (await fetch(url)).text()
    expect(value(text, 'skyfill_backfill_db_ops_in_flight')).toBe(3)
    expect(value(text, 'skyfill_backfill_db_ops_limit')).toBe(4)
    expect(value(text, 'skyfill_backfill_db_ops_high_water')).toBe(4)
    expect(value(text, 'skyfill_db_pool_connections{pool="backfill",state="total"}')).toBe(4)
    expect(value(text, 'skyfill_db_pool_connections{pool="backfill",state="waiting"}')).toBe(1)
    expect(value(text, 'skyfill_db_pool_connections{pool="api",state="total"}')).toBe(0)
    expect(value(text, 'skyfill_db_pool_max{pool="api"}')).toBe(7)
    expect(value(text, 'skyfill_db_pool_max{pool="backfill"}')).toBe(5)
  })

  it('reports memory, CPU and event-loop delay from the system sampler', async () => {
    const text = await (await fetch(url)).text()
    expect(value(text, 'skyfill_memory_rss_bytes')).toBe(300 * 1024 * 1024)
    expect(value(text, 'skyfill_memory_heap_used_bytes')).toBe(100 * 1024 * 1024)
    expect(value(text, 'skyfill_cpu_percent')).toBe(12.5)
    expect(value(text, 'skyfill_event_loop_delay_seconds{stat="p50"}')).toBe(0.002)
    expect(value(text, 'skyfill_event_loop_delay_seconds{stat="p99"}')).toBe(0.015)
    expect(value(text, 'skyfill_event_loop_delay_seconds{stat="max"}')).toBe(0.04)
  })

  it('reports actors by identity state, and NaN before the first count', async () => {
    let text = await (await fetch(url)).text()
    expect(text).toContain('# TYPE skyfill_identity_actors gauge')
    const states = ['due', 'verified', 'invalid', 'failed']
    expect(states.map((state) => value(text, `skyfill_identity_actors{state="${state}"}`))).toEqual([2, 40, 3, 1])
    current = progress({ identity: { due: 0, verified: 0, invalid: 0, failed: 0, countedAt: null } })
    try {
      text = await (await fetch(url)).text()
      expect(states.map((state) => value(text, `skyfill_identity_actors{state="${state}"}`))).toEqual([NaN, NaN, NaN, NaN])
    } finally {
      current = progress()
    }
  })

  it('reports the repository part: jobs by state, retrying, records/s, parked hosts (all 0 when the run fetches none)', async () => {
    expect(value(await (await fetch(url)).text(), 'skyfill_backfill_repos{state="done"}')).toBe(0)
    current = progress({
      repos: {
        jobs: { pending: 4, fetching: 1, done: 7, failed: 2, unavailable: 1, total: 15 },
        retrying: 1,
        listing: { done: true, sources: ['relay'], errors: [] },
        recordsWritten: 900,
        recordsPerSecond: 120.5,
        reposPerSecond: 0.5,
        etaSeconds: 12,
        percent: 53.3,
        hosts: [],
        parkedHosts: 2,
        recentFailures: [],
      },
    })
    try {
      const text = await (await fetch(url)).text()
      expect(value(text, 'skyfill_backfill_repos{state="pending"}')).toBe(4)
      expect(value(text, 'skyfill_backfill_repos{state="done"}')).toBe(7)
      expect(value(text, 'skyfill_backfill_repos{state="unavailable"}')).toBe(1)
      expect(value(text, 'skyfill_backfill_repos_retrying')).toBe(1)
      expect(value(text, 'skyfill_backfill_repo_records_per_second')).toBe(120.5)
      expect(value(text, 'skyfill_backfill_repos_eta_seconds')).toBe(12)
      expect(value(text, 'skyfill_backfill_parked_hosts')).toBe(2)
    } finally {
      current = progress()
    }
  })

  it('reports the audits: repositories checked and differing, differences by kind, the drift ratio (NaN before one)', async () => {
    let text = await (await fetch(url)).text()
    expect(value(text, 'skyfill_audit_repos_checked_total')).toBe(0)
    expect(value(text, 'skyfill_audit_drift_ratio')).toBeNaN()
    auditCounts = { reposChecked: 40, reposDiffering: 2, differences: { missing: 3, extra: 1, stale: 0, handle: 1, status: 0 }, driftRatio: 0.05 }
    text = await (await fetch(url)).text()
    expect(text).toContain('# TYPE skyfill_audit_repos_checked_total counter')
    expect(value(text, 'skyfill_audit_repos_checked_total')).toBe(40)
    expect(value(text, 'skyfill_audit_repos_differing_total')).toBe(2)
    expect(value(text, 'skyfill_audit_differences_total{kind="missing"}')).toBe(3)
    expect(value(text, 'skyfill_audit_differences_total{kind="handle"}')).toBe(1)
    expect(value(text, 'skyfill_audit_differences_total{kind="stale"}')).toBe(0)
    expect(value(text, 'skyfill_audit_drift_ratio')).toBe(0.05)
  })

  it('reports every instance on the database as this one last read them: live, what each holds, its rates', async () => {
    const seen = (id: string, live: boolean, ranges: number) => ({
      id,
      host: 'box',
      pid: 1,
      startedAt: '2025-01-01T00:00:00.000Z',
      lastHeartbeat: '2025-01-01T00:01:00.000Z',
      holds: { ranges, repos: 3 },
      eventsPerSecond: 250,
      recordsPerSecond: 40,
      framesWritten: 1000,
      live,
      self: id === 'alpha',
    })
    current = progress({ instances: [seen('alpha', true, 1), seen('beta', false, 0)] })
    try {
      const text = await (await fetch(url)).text()
      expect(value(text, 'skyfill_instance_live{instance="alpha"}')).toBe(1)
      expect(value(text, 'skyfill_instance_live{instance="beta"}')).toBe(0)
      expect(value(text, 'skyfill_instance_ranges_held{instance="alpha"}')).toBe(1)
      expect(value(text, 'skyfill_instance_repos_held{instance="beta"}')).toBe(3)
      expect(value(text, 'skyfill_instance_events_per_second{instance="alpha"}')).toBe(250)
      current = progress()
      expect((await (await fetch(url)).text()).match(/^skyfill_instance_live\{/m)).toBeNull()
    } finally {
      current = progress()
    }
  })

  it('reports the live firehose cursor, state and events', async () => {
    const text = await (await fetch(url)).text()
    expect(value(text, 'skyfill_firehose_cursor')).toBe(9000)
    expect(value(text, 'skyfill_firehose_state{state="live"}')).toBe(1)
    expect(value(text, 'skyfill_firehose_events_total{outcome="received"}')).toBe(80)
    expect(value(text, 'skyfill_firehose_events_total{outcome="processed"}')).toBe(75)
  })
})
