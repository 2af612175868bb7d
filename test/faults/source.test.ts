// Faults of the firehose source: each is told in its own log line, and the backfill does the right thing about it
// (reconnect from the last decoded seq, fail clearly, or record a gap and carry on). The source is the synthetic
// firehose with real signed commits; "nothing lost" means the tables equal a sequential replay of the frames.
//
// Each run is seeded as a run in progress from cursor 0 (see seedRun), so the faults hit the replay's
// connections, not the probes that locate a window, and stats().cursors lists exactly the cursors it asked for.
import { afterEach, beforeAll, describe, expect, it } from 'vitest'
import { generateFrames, type GeneratedFrame } from '../../bench/source/generator.js'
import { startSyntheticFirehose, type SyntheticFirehoseOptions, type SyntheticFirehose } from '../../bench/source/server.js'
import { testDatabase } from '../harness/db.js'
import type { TestDatabase } from '../harness/postgres.js'
import { readState, recordCount, groundTruth } from './support/truth.js'
import { seedRun, startRun, storedCursor, until, type Run } from './support/run.js'

const EVENTS = 1200
let frames: GeneratedFrame[]
const cleanups: (() => Promise<unknown>)[] = []

beforeAll(async () => {
  frames = await generateFrames({ seed: 'faults-source', accounts: 16, events: EVENTS, workers: 0 })
  await groundTruth(frames)
}, 60_000)

afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup().catch(() => {})
})

/** A source with these frames and faults, a fresh database seeded with a run from `cursor`, and skyfill on it. */
async function scenario(
  opts: Omit<SyntheticFirehoseOptions, 'frames' | 'store'> & { frames?: GeneratedFrame[] },
  seed: { cursor: number; headSeq?: number },
  env: Record<string, string> = {},
): Promise<{ source: SyntheticFirehose; run: Run; db: TestDatabase }> {
  const source = await startSyntheticFirehose({ ...opts, frames: opts.frames ?? frames })
  cleanups.push(() => source.close())
  const db = await testDatabase()
  cleanups.push(() => db.drop())
  await seedRun(db.url, { relay: source.url, headSeq: seed.headSeq ?? source.headSeq, cursor: seed.cursor })
  const run = await startRun(source.url, db.url, env)
  cleanups.push(() => run.close())
  return { source, run, db }
}

/** The replay asked for no seq twice and skipped none: every frame was decoded exactly once. */
function expectEveryFrameOnce(run: Run) {
  const p = run.progress()
  expect(p.state).toBe('complete')
  expect(p.cursor).toBe(EVENTS)
  expect(p.gaps).toEqual([])
  expect(p.counts.received).toBe(EVENTS)
  expect(run.matching(/\[BACKFILL\] Gap:/)).toEqual([])
}

describe('source faults', () => {
  it('an unreadable frame at the head of a quiet source: the backfill completes, the frame kept as a reject', async () => {
    // The last event (seq EVENTS) arrives as bytes no decoder can read, and then the source falls silent.
    const garbage = new Uint8Array([0xa2, 0x61, 0x74, 0x67, 0xff, 0x00, 0x13])
    const { run } = await scenario(
      { frames: frames.slice(0, EVENTS - 1), faults: { inject: [{ afterSeq: EVENTS - 1, bytes: garbage }] } },
      { cursor: 0, headSeq: EVENTS },
      { BACKFILL_STALL_TIMEOUT_MS: '3000' },
    )
    await until(() => run.progress().state === 'complete', 30_000, 'the backfill to complete')
    expect(run.progress().cursor).toBe(EVENTS)
    expect(run.matching(/\[BACKFILL\] Nothing readable lies between cursor 1199 and head 1200: the 1 unreadable frame\(s\)/)).toHaveLength(1)
    const { rows } = await run.pool.query(`SELECT seq, seq_known, category FROM rejects WHERE category = 'frame'`)
    expect(rows).toEqual([{ seq: '1199', seq_known: false, category: 'frame' }])
    expect(await storedCursor(run.pool)).toBe(EVENTS)
  })

  it('a dropped connection (TCP reset) is logged, and the backfill reconnects from the last decoded seq with no gap', async () => {
    const { source, run } = await scenario({ faults: { dropAfterFrames: 300, connections: 3 } }, { cursor: 0 })
    await run.sky.backfill.whenDone()
    // received === EVENTS: no frame decoded twice (a resume from too early) and none missed (from too late).
    expectEveryFrameOnce(run)
    const { cursors } = source.stats()
    // Three connections were reset: each reconnect resumed from where decoding stopped, never beyond what that
    // connection sent (a reset discards what was still in flight, and frames buffered but not yet decoded are
    // fetched again rather than lost).
    expect(cursors).toHaveLength(4)
    expect(cursors[0]).toBe(0)
    for (let i = 1; i < cursors.length; i++) {
      expect(cursors[i]!).toBeGreaterThanOrEqual(cursors[i - 1]!)
      expect(cursors[i]! - cursors[i - 1]!).toBeLessThanOrEqual(300)
    }
    expect(cursors[3]!).toBeGreaterThan(0)
    expect(run.matching(/\[BACKFILL\] Source disconnected: (read ECONNRESET|closed with code 1006)/)).toHaveLength(3)
    expect(await readState(run.pool)).toEqual(await groundTruth(frames))
  })

  it('a clean close (code 1000) is logged and the backfill reconnects instead of ending, as @atproto/sync would have', async () => {
    const { source, run } = await scenario({ faults: { closeAfterFrames: 400, connections: 2 } }, { cursor: 0 })
    await run.sky.backfill.whenDone()
    expectEveryFrameOnce(run)
    const { cursors } = source.stats()
    expect(cursors).toHaveLength(3)
    expect(cursors[1]!).toBeGreaterThan(0)
    expect(cursors[1]!).toBeLessThanOrEqual(400)
    expect(run.matching(/\[BACKFILL\] Source disconnected: closed cleanly by the source/)).toHaveLength(2)
    expect(await readState(run.pool)).toEqual(await groundTruth(frames))
  })

  it('a stalled socket is dropped after BACKFILL_STALL_TIMEOUT_MS with a "stalled" line, and the backfill completes', async () => {
    const { source, run } = await scenario(
      { faults: { stallAfterFrames: 500, connections: 1 } },
      { cursor: 0 },
      { BACKFILL_STALL_TIMEOUT_MS: '1000' },
    )
    const started = Date.now()
    await run.sky.backfill.whenDone()
    expectEveryFrameOnce(run)
    const stalled = run.matching(/\[BACKFILL\] Source disconnected: stalled, no frames for \d+ s/)
    expect(stalled).toHaveLength(1)
    expect(source.stats().cursors).toEqual([0, 500])
    // Dropped after about a second of silence, not after the default minute.
    expect(Date.now() - started).toBeLessThan(15_000)
    expect(await readState(run.pool)).toEqual(await groundTruth(frames))
  })

  it('a stored cursor beyond the source head (FutureCursor) fails the backfill, naming RELAY_URL, and writes nothing', async () => {
    const { run } = await scenario({}, { cursor: EVENTS + 5000, headSeq: EVENTS + 9000 })
    await run.sky.backfill.whenDone()
    const p = run.progress()
    expect(p.state).toBe('failed')
    expect(p.error).toMatch(/FutureCursor/)
    expect(p.error).toMatch(/RELAY_URL/)
    expect(run.matching(/\[BACKFILL\] Failed: .*FutureCursor.*RELAY_URL/)).toHaveLength(1)
    expect(p.counts.received).toBe(0)
    expect(recordCount(await readState(run.pool))).toBe(0)
    expect(await storedCursor(run.pool)).toBe(EVENTS + 5000)
  })

  it('a source that lost the history after the stored cursor (OutdatedCursor) is told in one line, recorded as a gap, and the backfill completes', async () => {
    const { run } = await scenario({ oldestSeq: 700 }, { cursor: 300 })
    await run.sky.backfill.whenDone()
    const p = run.progress()
    expect(p.state).toBe('complete')
    expect(p.cursor).toBe(EVENTS)
    expect(run.matching(/\[BACKFILL\] Source no longer holds events after seq 300 \(OutdatedCursor/)).toHaveLength(1)
    expect(p.gaps).toHaveLength(1)
    expect(p.gaps[0]).toMatchObject({ afterSeq: 300, resumedAt: 700 })
    expect(run.matching(/\[BACKFILL\] Gap: .*seqs 301\.\.699 were not delivered/)).toHaveLength(1)
    expect(p.counts.received).toBe(EVENTS - 699)
    // What was delivered is all there: the state a sequential replay of the frames from 700 on leaves.
    expect(await readState(run.pool)).toEqual(await groundTruth(frames.filter((f) => f.seq >= 700)))
  })
})
