// A BackfillProgress-shaped object and a small server that streams it through the real /api/live and dashboard
// routes, so the page's rendering can be driven tick by tick without a relay.
import type { Server } from 'node:http'
import express from 'express'
import type { Browser } from 'playwright-core'
import { afterAll, beforeAll } from 'vitest'
import { ensureClientBuilt } from '../../scripts/build-client.js'
import { launchBrowser } from './page.js'
import { requireAdmin } from '../../server/api/admin-auth.js'
import { dashboardRoutes } from '../../server/api/dashboard.js'
import { liveRoutes, type FirehoseStatus, type LiveHub, type LiveOptions, type LivePayload } from '../../server/api/live.js'
import type { Stats } from '../../server/api/stats.js'
import type { BackfillProgress } from '../../server/services/backfill.js'
import { FIREHOSE_OFF } from '../../server/services/firehose-status.js'
import type { SystemSample } from '../../server/services/system-metrics.js'

export const XSS = '<img src=x onerror=alert(1)>'

export function progressFixture(overrides: Partial<BackfillProgress> = {}): BackfillProgress {
  const now = Date.now()
  const iso = (msAgo: number) => new Date(now - msAgo).toISOString()
  return {
    state: 'running',
    relay: 'ws://127.0.0.1:2583',
    window: { days: 3, requestedFrom: iso(3 * 86_400_000), availableFrom: { seq: 1001, time: iso(30 * 3_600_000) } },
    cursor: 3500,
    head: 11000,
    start: 1000,
    percent: 25,
    replayPercent: 25,
    counts: { received: 2600, processed: 2500, skipped: 40, invalid: 3, upserted: 2300, deleted: 12, unindexed: 5 },
    eventsPerSecond: 812.4,
    etaSeconds: 9,
    memory: { rssMb: 180, heapUsedMb: 95, limitMb: 512, paused: false },
    db: { inUse: 2, limit: 4, highWater: 4, poolSize: 5, poolTotal: 4, poolWaiting: 0, down: false },
    throttle: { profile: 'background', describe: 'background', batchSize: 500, batchDelayMs: 0, useIdle: true, budget: null },
    source: { state: 'connected', error: null, bufferedFrames: 0, bufferedBytes: 0, paused: false },
    repos: null,
    sync: null,
    instances: [],
    pausedBy: [],
    gaps: [],
    startedAt: iso(60_000),
    completedAt: null,
    error: null,
    logs: [
      { at: iso(5000), text: '[BACKFILL] Replaying from cursor 1000 to head 11000' },
      { at: iso(1000), text: '[BACKFILL] Progress: 25.0% cursor 3500/11000, 2500 events written, 3 rejected (812 evt/s, ETA 9s)' },
    ],
    identity: { due: 12, verified: 230, invalid: 4, failed: 1, countedAt: iso(2000) },
    ...overrides,
  }
}

/** A /api/stats answer (server/api/stats.ts), with the given collection counts (exact unless said otherwise). */
export function statsFixture(collections: { collection: string; count: number; exact?: boolean }[] = DEFAULT_COLLECTIONS): Stats {
  const rows = collections.map((c) => ({ collection: c.collection, table: c.collection.split('.').at(-1)!, count: c.count, exact: c.exact ?? true }))
  return {
    generatedAt: new Date().toISOString(),
    exactBelow: 100_000,
    collections: rows,
    records: { count: rows.reduce((n, r) => n + r.count, 0), exact: rows.every((r) => r.exact) },
    actors: { count: 42, exact: true },
    rejects: { count: 3, exact: true, byCategory: [{ category: 'invalid-record', count: 3 }] },
    unindexedCollections: { collections: 2, ops: 5, top: [] },
    database: { sizeBytes: 12 * 1048576 },
  }
}

const DEFAULT_COLLECTIONS = [
  { collection: 'app.bsky.feed.post', count: 1200 },
  { collection: 'app.bsky.feed.like', count: 3400 },
]

export function systemFixture(overrides: Partial<SystemSample> = {}): SystemSample {
  return { cpuPercent: 12.5, loopDelayP50Ms: 1.2, loopDelayP99Ms: 4.8, loopDelayMaxMs: 9.1, rssMb: 181, heapUsedMb: 96, at: Date.now(), ...overrides }
}

export type FakeServer = {
  url: string
  /** What the next tick sends; mutate or replace it between assertions. */
  progress: BackfillProgress
  system: SystemSample
  firehose: FirehoseStatus
  stats: unknown
  statsStatus: number
  adminToken: string | null
  /** Pause/resume calls that passed the (real) admin check. */
  actions: string[]
  hub: LiveHub
  stop(): Promise<void>
}

/** An Express app with the real dashboard + /api/live routes, fed from mutable fixtures. */
export async function startFakeServer(options: { live?: LiveOptions; distDir?: string; routes?: express.Router[] } = {}): Promise<FakeServer> {
  const app = express()
  app.use(express.json())
  const state = {
    progress: progressFixture(),
    system: systemFixture(),
    firehose: FIREHOSE_OFF as FirehoseStatus,
    stats: statsFixture() as unknown,
    statsStatus: 200,
    adminToken: 'fixture-admin-token-0123456789' as string | null,
    actions: [] as string[],
  }
  const source = (): LivePayload => ({
    at: new Date().toISOString(),
    backfill: state.progress,
    system: { ...state.system, at: Date.now() },
    firehose: state.firehose,
  })
  const live = liveRoutes(source, { intervalMs: 250, ...options.live })
  app.use(live)
  app.get('/api/stats', (_req, res) => {
    res.status(state.statsStatus).json(state.stats)
  })
  app.post('/api/backfill/:action', (req, res, next) => requireAdmin(state.adminToken)(req, res, next), (req, res) => {
    const action = req.params.action as string
    state.actions.push(action)
    if (action === 'pause') state.progress = { ...state.progress, state: 'paused', pausedBy: ['operator'] }
    if (action === 'resume') state.progress = { ...state.progress, state: 'running', pausedBy: [] }
    res.json({ state: state.progress.state })
  })
  for (const router of options.routes ?? []) app.use(router)
  app.use(dashboardRoutes(options.distDir ? { distDir: options.distDir } : {}))
  const server: Server = await new Promise((resolve) => {
    const s = app.listen(0, '127.0.0.1', () => resolve(s))
  })
  const { port } = server.address() as { port: number }
  const fake = state as typeof state & FakeServer
  fake.url = `http://127.0.0.1:${port}`
  fake.hub = live.hub
  fake.stop = async () => {
    live.hub.close()
    server.closeAllConnections()
    await new Promise<void>((resolve) => server.close(() => resolve()))
  }
  return fake
}

/** A browser and a fake server for one test file, started before its tests and stopped after them. */
export function fakeDashboardPerFile(): { browser: () => Browser; fake: () => FakeServer } {
  let browser: Browser
  let fake: FakeServer
  beforeAll(async () => {
    await ensureClientBuilt({ log: () => {} })
    browser = await launchBrowser()
    fake = await startFakeServer()
  })
  afterAll(async () => {
    await fake?.stop()
    await browser?.close()
  })
  return { browser: () => browser, fake: () => fake }
}
