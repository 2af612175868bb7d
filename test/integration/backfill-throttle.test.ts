// Each promised throttle feature, measured on a real backfill from the synthetic source into Postgres. Every test
// here fails if its feature is removed.
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import pg from 'pg'
import { encodeMessageFrame } from '../../bench/source/frames.js'
import { generateFrames, type GeneratedFrame } from '../../bench/source/generator.js'
import { startSyntheticFirehose, type SyntheticFirehose } from '../../bench/source/server.js'
import type { StoredFrame } from '../../bench/source/store.js'
import { PROFILES } from '../../server/config/profiles.js'
import { createPool } from '../../server/db/pools.js'
import { BatchWriter } from '../../server/indexer/writer.js'
import { createDecoder } from '../../server/pipeline/decoder/index.js'
import { ACCOUNT_ROW_LOCKS } from '../../server/indexer/write-locks.js'
import { createConsumer } from '../../server/pipeline/consumer.js'
import { IntakeGate } from '../../server/pipeline/gate.js'
import { Semaphore } from '../../server/pipeline/semaphore.js'
import type { BatchSink } from '../../server/pipeline/sink.js'
import { StaticThrottle } from '../../server/pipeline/throttle.js'
import { testDatabase } from '../harness/db.js'
import { startBackfill, until } from '../support/backfill.js'

let frames: GeneratedFrame[]
const sources: SyntheticFirehose[] = []

beforeAll(async () => {
  frames = await generateFrames({ seed: 'throttle', accounts: 40, events: 3000 })
}, 120_000)

afterAll(async () => {
  await Promise.all(sources.map((s) => s.close()))
})

async function source(opts: Parameters<typeof startSyntheticFirehose>[0] = { frames }) {
  const s = await startSyntheticFirehose(opts)
  sources.push(s)
  return s
}

describe('batching', () => {
  it('writes BACKFILL_BATCH_SIZE events per batch with BACKFILL_BATCH_DELAY_MS between batches', async () => {
    const run = await startBackfill((await source({ frames: frames.slice(0, 60) })).url, {
      BACKFILL_BATCH_SIZE: '5',
      BACKFILL_BATCH_DELAY_MS: '100',
      BACKFILL_MAX_CONCURRENT: '1',
    })
    try {
      const seen: number[] = []
      const started = Date.now()
      while (run.sky.backfill.getProgress().state !== 'complete') {
        const { rows } = await run.pool.query(`SELECT seq FROM cursors WHERE name = 'backfill'`)
        const seq = rows[0]?.seq === undefined || rows[0].seq === null ? null : Number(rows[0].seq)
        if (seq !== null && seq !== seen.at(-1)) seen.push(seq)
        await new Promise((r) => setTimeout(r, 5))
      }
      const elapsed = Date.now() - started
      // The cursor moves a whole batch at a time: 5 seqs per step (the synthetic source numbers frames 1, 2, 3, ...).
      const steps = seen.slice(1).map((seq, i) => seq - seen[i]!)
      expect(steps.length).toBeGreaterThan(5)
      expect(steps.every((s) => s % 5 === 0)).toBe(true)
      // 60 events in batches of 5 with 100 ms between them: at least 11 pauses.
      expect(elapsed).toBeGreaterThanOrEqual(1000)
      expect(run.sky.backfill.getProgress().counts.processed).toBe(60)
    } finally {
      await run.close()
    }
  })
})

describe('the memory watchdog', () => {
  it('pauses intake once RSS passes BACKFILL_MAX_MEMORY_MB, checking every 100 events', async () => {
    // 64 MB is below any Node process's RSS, so the first check must pause.
    const run = await startBackfill((await source()).url, { BACKFILL_PROFILE: 'max', BACKFILL_MAX_MEMORY_MB: '64' })
    try {
      await until(() => run.sky.backfill.getProgress().memory.paused, 20_000, 'the watchdog to pause')
      const atPause = run.sky.backfill.getProgress()
      expect(atPause.state).toBe('paused')
      expect(atPause.pausedBy).toContain('memory')
      expect(run.lines.some((l) => /^\[BACKFILL\] Memory: \d+ MB \/ 64 MB limit, pausing intake$/.test(l))).toBe(true)
      // Paused at the 100th event read; what was batched before it is all that gets written meanwhile.
      expect(atPause.counts.received).toBe(100)
      await new Promise((r) => setTimeout(r, 1500))
      expect(run.sky.backfill.getProgress().counts.received).toBe(100)
    } finally {
      await run.close()
    }
  })
})

describe('the concurrency limit', () => {
  it('never has more than BACKFILL_MAX_CONCURRENT backfill transactions open, sampled in Postgres', async () => {
    const run = await startBackfill((await source()).url, {
      BACKFILL_PROFILE: 'max',
      BACKFILL_BATCH_SIZE: '10',
      BACKFILL_MAX_CONCURRENT: '2',
      BACKFILL_DB_POOL_SIZE: '6',
    })
    const sampler = new pg.Pool({ connectionString: run.db.url, max: 1 })
    try {
      let peak = 0
      let apiWrites = 0
      let samples = 0
      while (run.sky.backfill.getProgress().state !== 'complete') {
        // Open writing transactions are counted by the transaction-id locks they hold: pg_locks reads the lock table
        // under all its partition locks, one instant for every backend, whereas pg_stat_activity copies the backends'
        // states one after another, so a sampler descheduled mid-copy on a loaded machine could see a transaction
        // that had already committed next to the two that took its place.
        const { rows } = await sampler.query(
          `SELECT (SELECT count(*)::int FROM pg_locks l
                     WHERE l.locktype = 'transactionid' AND l.mode = 'ExclusiveLock' AND l.granted
                       AND l.pid IN (SELECT pid FROM pg_stat_activity WHERE application_name = 'skyfill-backfill')) AS backfill,
                  (SELECT count(*)::int FROM pg_stat_activity
                     WHERE application_name = 'skyfill-api' AND query ~* '^\\s*(INSERT|UPDATE|DELETE|WITH d AS)') AS api_writes`,
        )
        peak = Math.max(peak, rows[0].backfill)
        apiWrites += rows[0].api_writes
        samples++
      }
      // Invariant 6: the backfill's statements (inserts, updates, deletes) never ran on the API's pool,
      // which in this test only ever read (the /api/stats snapshot taken at start).
      expect(apiWrites).toBe(0)
      expect(samples).toBeGreaterThan(20)
      expect(peak).toBeGreaterThanOrEqual(1)
      expect(peak).toBeLessThanOrEqual(2)
      // The limit was reached, so it was the limit (not a lack of work) that held the count down.
      expect(run.sky.backfill.getProgress().db.highWater).toBe(2)
      expect(run.sky.backfill.getProgress().counts.processed).toBe(frames.length)
    } finally {
      await sampler.end()
      await run.close()
    }
  })
})

describe('idle processing', () => {
  /** How many batch writes start within one turn of the event loop, at most. */
  async function writesPerLoopTurn(useIdle: boolean): Promise<number> {
    const db = await testDatabase()
    const pool = createPool(db.url, 'backfill', 10)
    const firehose = await source({ frames: frames.slice(0, 1500) })
    let turn = 0
    let ticking = true
    const tick = () => {
      turn++
      if (ticking) setImmediate(tick)
    }
    setImmediate(tick)
    const perTurn = new Map<number, number>()
    const writer = new BatchWriter(pool, 'test', ACCOUNT_ROW_LOCKS)
    const countingWriter: BatchSink = {
      write: (...args) => {
        perTurn.set(turn, (perTurn.get(turn) ?? 0) + 1)
        return writer.write(...args)
      },
      failureKind: (err) => writer.failureKind(err),
    }
    const consumer = createConsumer({
      name: 'backfill',
      service: firehose.url,
      stallTimeoutMs: 30_000,
      decoder: createDecoder('lean', { plcUrl: 'http://127.0.0.1:1', log: () => {} }),
      sink: countingWriter,
      throttle: new StaticThrottle({ ...PROFILES.fast, batchSize: 5, batchDelayMs: 0, maxConcurrent: 10, useIdle }, 'test'),
      semaphore: new Semaphore(10),
      gate: new IntakeGate(),
      watchdog: null,
      startCursor: 0,
      stopAtSeq: 1500,
      flushAfterMs: 200,
      log: () => {},
    })
    const end = await consumer.run()
    ticking = false
    await pool.end()
    await db.drop()
    expect(end.kind).toBe('complete')
    return Math.max(...perTurn.values())
  }

  it('with BACKFILL_USE_IDLE the backfill yields to the event loop after every batch', async () => {
    expect(await writesPerLoopTurn(true)).toBeLessThanOrEqual(2)
  })

  it('without it, several batches start in one turn of the event loop (the control for the test above)', async () => {
    expect(await writesPerLoopTurn(false)).toBeGreaterThan(2)
  })
})

describe('backpressure', () => {
  it('a slow backfill stops reading the socket: the source cannot push its backlog into our memory', async () => {
    // 1,000 frames of 256 kB (256 MB in all) that decode to nothing: only flow control can hold them back.
    const padding = 'x'.repeat(256 * 1024)
    const big: StoredFrame[] = Array.from({ length: 1000 }, (_, i) => ({
      seq: i + 1,
      bytes: encodeMessageFrame('#padding', { seq: i + 1, time: new Date().toISOString(), padding }),
    }))
    const firehose = await source({ frames: big })
    const rssBefore = process.memoryUsage.rss()
    const run = await startBackfill(firehose.url, { BACKFILL_PROFILE: 'background', BACKFILL_BATCH_DELAY_MS: '500' })
    try {
      // Locating the window probes the source; count only what the replay's own subscription was sent.
      await until(() => run.lines.some((l) => l.includes('Replaying from cursor')), 20_000, 'the replay to start')
      const sentBeforeReplay = firehose.stats().framesSent
      await until(() => run.sky.backfill.getProgress().counts.received >= 10, 20_000, 'the first batches')
      await new Promise((r) => setTimeout(r, 3000))
      const progress = run.sky.backfill.getProgress()
      const sent = firehose.stats().framesSent - sentBeforeReplay
      // Sent = read by us + our bounded buffer (8 MB = 32 frames) + what the kernel's socket buffers hold.
      expect(sent).toBeLessThan(progress.counts.received + 120)
      expect(sent).toBeLessThan(200)
      expect(process.memoryUsage.rss() - rssBefore).toBeLessThan(150 * 1024 * 1024)
    } finally {
      await run.close()
    }
  })
})
