// The API stays responsive while a BACKFILL_PROFILE=max backfill runs flat out: a steady, bounded request load on
// /api/stats, /api/backfill and app.bsky.actor.getProfile during the backfill of tens of thousands of events gets
// no failed request and a modest p99. The server runs as its own process (so the load generator here does not share
// its event loop) and locates the window on the source itself, as a first start would.
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startSyntheticFirehose, type SyntheticFirehose } from '../../bench/source/server.js'
import type { StoredFrame } from '../../bench/source/store.js'
import { testDatabase } from '../harness/db.js'
import { freePort, type TestDatabase } from '../harness/postgres.js'
import { spawnServer, type ServerProcess } from '../harness/server-process.js'
import { bulkDid, bulkFrames } from './support/bulk.js'
import { until } from './support/run.js'

const EVENTS = 30_000
const CLIENTS = 4
const MAX_REQUESTS = 3000
const MAX_LOAD_MS = 60_000
const PAUSE_MS = 10

let frames: StoredFrame[]
let source: SyntheticFirehose
let db: TestDatabase
let server: ServerProcess
let base: string

type Sample = { path: string; ms: number; status: number; error?: string; duringBackfill: boolean }
const samples: Sample[] = []
let backfillDone = false
let backfillMs = 0
let loopDelayMaxMs = 0

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!
}

/** Latencies per endpoint (query strings dropped), sorted ascending; `all` for every request. */
function latencies(): Map<string, number[]> {
  const out = new Map<string, number[]>([['all', []]])
  for (const s of samples) {
    const path = s.path.split('?')[0]!
    out.set(path, [...(out.get(path) ?? []), s.ms])
    out.get('all')!.push(s.ms)
  }
  for (const ms of out.values()) ms.sort((a, b) => a - b)
  return out
}

function summary(): string {
  const parts = [...latencies()].map(([path, ms]) => `${path} p50 ${percentile(ms, 50).toFixed(1)} ms p99 ${percentile(ms, 99).toFixed(1)} ms`)
  return (
    `[LOAD] ${samples.length} requests from ${CLIENTS} clients during a ${EVENTS}-event BACKFILL_PROFILE=max backfill ` +
    `(${(backfillMs / 1000).toFixed(1)} s): ${parts.join('; ')}; server event-loop delay max ${loopDelayMaxMs.toFixed(0)} ms`
  )
}

beforeAll(async () => {
  frames = await bulkFrames({ accounts: 300, events: EVENTS, seed: 4 })
  source = await startSyntheticFirehose({ frames })
  db = await testDatabase()
  const port = await freePort()
  base = `http://127.0.0.1:${port}`
  server = spawnServer({
    DATABASE_URL: db.url,
    PORT: String(port),
    HOST: '127.0.0.1',
    RELAY_URL: source.url,
    BACKFILL_DAYS: '-1',
    BACKFILL_PROFILE: 'max',
    FIREHOSE_ENABLED: 'false',
  })
  await server.waitForLine(/\[BACKFILL\] Replaying from cursor/, 60_000)
  const started = Date.now()
  // The profile read needs its account indexed: the first batch holds every #identity.
  const actor = bulkDid(4, 0)
  await until(async () => (await fetch(`${base}/xrpc/app.bsky.actor.getProfile?actor=${actor}`)).status === 200, 30_000, 'the first profile')

  const paths = ['/api/stats', '/api/backfill', `/xrpc/app.bsky.actor.getProfile?actor=${actor}`]
  const loadStarted = Date.now()
  let issued = 0
  const client = async (offset: number) => {
    for (let i = offset; issued < MAX_REQUESTS && Date.now() - loadStarted < MAX_LOAD_MS && !backfillDone; i++) {
      issued++
      const path = paths[i % paths.length]!
      const duringBackfill = !backfillDone
      const t0 = performance.now()
      try {
        const res = await fetch(base + path, { signal: AbortSignal.timeout(10_000) })
        await res.arrayBuffer()
        samples.push({ path, ms: performance.now() - t0, status: res.status, duringBackfill })
      } catch (err) {
        samples.push({ path, ms: performance.now() - t0, status: 0, error: (err as Error).message, duringBackfill })
      }
      await new Promise((r) => setTimeout(r, PAUSE_MS))
    }
  }
  const done = server.waitForLine(/\[BACKFILL\] (Complete|Failed)/, MAX_LOAD_MS + 30_000).then(() => {
    backfillDone = true
    backfillMs = Date.now() - started
  })
  // The server's own view of its event loop while it backfills (from /metrics, not counted as load).
  const monitor = async () => {
    while (!backfillDone) {
      const text = await (await fetch(`${base}/metrics`)).text()
      const max = /skyfill_event_loop_delay_seconds\{stat="max"\} ([\d.e-]+)/.exec(text)
      if (max) loopDelayMaxMs = Math.max(loopDelayMaxMs, Number(max[1]) * 1000)
      await new Promise((r) => setTimeout(r, 500))
    }
  }
  await Promise.all([...Array.from({ length: CLIENTS }, (_, i) => client(i)), done, monitor()])
  console.log(summary())
}, 180_000)

afterAll(async () => {
  server?.kill('SIGTERM')
  await server?.exited
  await source?.close()
  await db?.drop()
})

describe(`a steady request load during a BACKFILL_PROFILE=max backfill of ${EVENTS} events`, () => {
  it('the backfill completes, to the head, while under load', async () => {
    const res = await fetch(`${base}/api/backfill`)
    expect(await res.json()).toMatchObject({ state: 'complete', cursor: EVENTS, head: EVENTS, counts: { invalid: 0 } })
  })

  it('no request fails', () => {
    const failed = samples.filter((s) => s.status !== 200)
    expect(failed).toEqual([])
    // The load overlapped the backfill for real: many requests were answered while it ran.
    expect(samples.filter((s) => s.duringBackfill).length).toBeGreaterThanOrEqual(100)
  })

  it('p99 latency stays under 500 ms on every endpoint', () => {
    for (const [path, sorted] of latencies()) expect(percentile(sorted, 99), path).toBeLessThan(500)
  })
})
