// The database going away under a running backfill: intake pauses, writes are retried with backoff, the API says
// 503 instead of hanging or crashing, and once Postgres is back the backfill resumes and loses nothing. The server
// runs as its own process (as `npm start` does) against a Postgres cluster of this file's own, which the test
// stops and starts; it reaches Postgres through a pass-through proxy that notes each connection attempt.
import pg from 'pg'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { generateFrames, type GeneratedFrame } from '../../bench/source/generator.js'
import { startSyntheticFirehose, type SyntheticFirehose } from '../../bench/source/server.js'
import { freePort, withDatabase } from '../harness/postgres.js'
import { spawnServer, type ServerProcess } from '../harness/server-process.js'
import { startOwnCluster, type OwnCluster } from './support/cluster.js'
import { startPgProxy, type Attempt, type PgProxy } from './support/pg-proxy.js'
import { seedRun, until } from './support/run.js'
import { groundTruth, readState, type State } from './support/truth.js'

const EVENTS = 2000
const OUTAGE_MS = 15_000
let cluster: OwnCluster
let frames: GeneratedFrame[]

beforeAll(async () => {
  ;[cluster, frames] = await Promise.all([
    startOwnCluster(),
    generateFrames({ seed: 'faults-db', accounts: 12, events: EVENTS, workers: 0 }),
  ])
  await groundTruth(frames)
}, 120_000)

afterAll(async () => {
  await cluster?.destroy()
})

type Answer = { status: number; body: Record<string, unknown> }

/** A backfill slow enough to be caught mid-run (20 events per batch, 20 ms between batches), on a fresh database. */
async function startScenario() {
  await cluster.start()
  const source = await startSyntheticFirehose({ frames })
  const dbUrl = await cluster.createDatabase()
  const proxy = await startPgProxy(cluster.port)
  const viaProxy = new URL(dbUrl)
  viaProxy.port = String(proxy.port)
  await seedRun(dbUrl, { relay: source.url, headSeq: source.headSeq, cursor: 0 })
  const port = await freePort()
  const server = spawnServer({
    DATABASE_URL: viaProxy.toString(),
    PORT: String(port),
    HOST: '127.0.0.1',
    RELAY_URL: source.url,
    BACKFILL_DAYS: '-1',
    FIREHOSE_ENABLED: 'false',
    BACKFILL_BATCH_SIZE: '20',
    BACKFILL_BATCH_DELAY_MS: '20',
  })
  const base = `http://127.0.0.1:${port}`
  const get = async (path: string): Promise<Answer> => {
    const res = await fetch(base + path, { signal: AbortSignal.timeout(10_000) })
    return { status: res.status, body: (await res.json()) as Record<string, unknown> }
  }
  const progress = async () => (await get('/api/backfill')).body as { cursor: number | null; state: string; pausedBy: string[]; db: { down: boolean } }
  const pool = new pg.Pool({ connectionString: dbUrl, max: 1 })
  pool.on('error', () => {})
  return {
    source,
    server,
    proxy,
    pool,
    get,
    progress,
    async close() {
      if (server.proc.exitCode === null && server.proc.signalCode === null) server.kill('SIGKILL')
      await server.exited
      await pool.end()
      await proxy.close()
      await source.close()
    },
  }
}

type Scenario = Awaited<ReturnType<typeof startScenario>>

async function waitForCursor(s: Scenario, atLeast: number) {
  await until(async () => ((await s.progress()).cursor ?? 0) >= atLeast, 30_000, `cursor ${atLeast}`)
}

describe('a 15 s database outage in the middle of a backfill', () => {
  let s: Scenario
  let stoppedAt = 0
  let startedAt = 0
  const during: Record<string, Answer> = {}
  const after: Record<string, Answer> = {}
  let cursorAtStop = 0
  let cursorLateInOutage = 0
  let finalState: State
  let exit: { code: number | null; signal: string | null }
  let backfillAttempts: Attempt[] = []
  let did: string

  beforeAll(async () => {
    did = frames.find((f) => f.account)!.did
    s = await startScenario()
    await s.server.waitForLine(/\[BACKFILL\] Replaying from cursor 0/)
    await waitForCursor(s, 300)
    await cluster.stop()
    stoppedAt = Date.now()
    await s.server.waitForLine(/\[BACKFILL\] Database unavailable/, 10_000)
    cursorAtStop = (await s.progress()).cursor ?? 0
    during.health = await s.get('/health')
    during.stats = await s.get('/api/stats')
    during.profile = await s.get(`/xrpc/app.bsky.actor.getProfile?actor=${did}`)
    during.backfill = await s.get('/api/backfill')
    await new Promise((r) => setTimeout(r, OUTAGE_MS - (Date.now() - stoppedAt)))
    cursorLateInOutage = (await s.progress()).cursor ?? 0
    during.healthLate = await s.get('/health')
    await cluster.start()
    startedAt = Date.now()
    await until(async () => (await s.get('/health')).status === 200, 10_000, '/health to answer 200')
    after.health = await s.get('/health')
    after.stats = await s.get('/api/stats')
    after.profile = await s.get(`/xrpc/app.bsky.actor.getProfile?actor=${did}`)
    await s.server.waitForLine(/\[BACKFILL\] Database reachable again; resuming intake/, 40_000)
    await s.server.waitForLine(/\[BACKFILL\] Complete: reached head seq/, 30_000)
    after.backfill = await s.get('/api/backfill')
    finalState = await readState(s.pool)
    backfillAttempts = s.proxy.attempts.filter((a) => a.app === 'skyfill-backfill' && a.at >= stoppedAt && a.at < startedAt)
    s.server.kill('SIGTERM')
    exit = await s.server.exited
  }, 120_000)

  afterAll(async () => {
    await s?.close()
  })

  it('logs one "[BACKFILL] Database unavailable" line for the whole outage, and one "Database reachable again; resuming intake" line', () => {
    expect(s.server.lines.filter((l) => /\[BACKFILL\] Database unavailable \(.+\); pausing intake and retrying with backoff/.test(l))).toHaveLength(1)
    expect(s.server.lines.filter((l) => /\[BACKFILL\] Database reachable again; resuming intake/.test(l))).toHaveLength(1)
  })

  it('retries the write with growing waits, not in a tight loop', () => {
    // Two writer slots retry independently at about 1, 3, 7 and 12 s into the outage (1, 2, 4, then 5 s apart): a
    // handful of attempts in all, never a tight loop.
    expect(backfillAttempts.length).toBeGreaterThanOrEqual(3)
    expect(backfillAttempts.length).toBeLessThanOrEqual(12)
    expect(backfillAttempts.every((a) => !a.ok)).toBe(true)
    const times = backfillAttempts.map((a) => a.at)
    const gaps = times.slice(1).map((t, i) => t - times[i]!)
    expect(Math.max(...gaps)).toBeGreaterThanOrEqual(3500)
  })

  it('pauses intake: the committed cursor does not move while the database is down', () => {
    expect(during.backfill!.body).toMatchObject({ state: 'paused', db: { down: true } })
    expect(during.backfill!.body.pausedBy).toContain('database')
    expect(cursorLateInOutage).toBe(cursorAtStop)
    expect(cursorAtStop).toBeLessThan(EVENTS)
  })

  it('GET /health answers 503 during the outage and 200 once Postgres is back', () => {
    expect(during.health).toMatchObject({ status: 503, body: { status: 'degraded', database: 'unavailable' } })
    expect(during.healthLate).toMatchObject({ status: 503 })
    expect(after.health).toMatchObject({ status: 200, body: { status: 'ok', database: 'ok' } })
  })

  it('database-backed endpoints answer 503 DatabaseUnavailable during the outage, and normally after it', () => {
    expect(during.stats).toMatchObject({ status: 503, body: { error: 'DatabaseUnavailable' } })
    expect(during.profile).toMatchObject({ status: 503, body: { error: 'DatabaseUnavailable' } })
    expect(after.stats!.status).toBe(200)
    expect(after.profile).toMatchObject({ status: 200, body: { did } })
  })

  it('the server process does not crash: it completes and then exits cleanly on SIGTERM', () => {
    expect(after.backfill!.body).toMatchObject({ state: 'complete', cursor: EVENTS, head: EVENTS })
    expect(exit).toEqual({ code: 0, signal: null })
    expect(s.server.lines.filter((l) => /uncaught|unhandled|\[API\] .* failed/i.test(l))).toEqual([])
  })

  it('loses nothing: the tables equal a sequential replay of every frame', async () => {
    expect(finalState).toEqual(await groundTruth(frames))
  })
})
