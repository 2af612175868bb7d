// The window is cut by each frame's sequencing time, found by probing cursors rather than replaying, and told
// honestly when the source holds less than asked. The synthetic source serves real commits with set times.
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { generateFrames, type GeneratedFrame } from '../../bench/source/generator.js'
import { startSyntheticFirehose, type SyntheticFirehose } from '../../bench/source/server.js'
import { freePort } from '../harness/postgres.js'
import { startBackfill, until } from '../support/backfill.js'

const DAY = 86_400_000
const EVENTS = 3000
let frames: GeneratedFrame[]

beforeAll(async () => {
  // Ten days of history ending now: one frame every ~5 minutes.
  frames = await generateFrames({ seed: 'window', accounts: 30, events: EVENTS, startTime: new Date(Date.now() - 10 * DAY), spacingMs: (10 * DAY) / EVENTS })
}, 120_000)

let source: SyntheticFirehose | null = null
afterAll(async () => {
  await source?.close()
})

async function minIndexedSeq(run: Awaited<ReturnType<typeof startBackfill>>): Promise<number> {
  const { rows } = await run.pool.query(`SELECT min(seq) AS seq FROM (SELECT seq FROM posts UNION ALL SELECT seq FROM likes UNION ALL SELECT seq FROM follows UNION ALL SELECT seq FROM reposts) r`)
  return Number(rows[0].seq)
}

describe('the backfill window', () => {
  it('starts at the first frame sequenced at or after now minus BACKFILL_DAYS, found by probing, not replaying', async () => {
    source = await startSyntheticFirehose({ frames })
    const run = await startBackfill(source.url, { BACKFILL_DAYS: '3', BACKFILL_PROFILE: 'max' })
    try {
      await run.sky.backfill.whenDone()
      const progress = run.sky.backfill.getProgress()
      expect(progress.state).toBe('complete')
      const cutoff = Date.parse(progress.window.requestedFrom!)
      expect(Date.now() - cutoff).toBeGreaterThan(3 * DAY - 60_000)
      const start = progress.start!
      // every frame up to the start cursor is older than the cutoff; the first one after it is not
      expect(frames.filter((f) => f.seq <= start).every((f) => Date.parse(f.time) < cutoff)).toBe(true)
      expect(Date.parse(frames.find((f) => f.seq === start + 1)!.time)).toBeGreaterThanOrEqual(cutoff)
      expect(start).toBeGreaterThan(EVENTS * 0.65)
      expect(start).toBeLessThan(EVENTS * 0.75)
      expect(await minIndexedSeq(run)).toBeGreaterThan(start)
      // Locating cost a few dozen short probes, not a replay of the 70% before the window.
      const stats = source.stats()
      expect(stats.connections).toBeLessThan(60)
      expect(progress.counts.received).toBe(EVENTS - start)
      expect(run.lines.some((l) => /\[BACKFILL\] Window: 3 days from .* starts after seq \d+/.test(l))).toBe(true)
    } finally {
      await run.close()
      await source.close()
      source = null
    }
  })

  it('says once, clearly, when the source holds less history than asked, and backfills what it has', async () => {
    source = await startSyntheticFirehose({ frames, oldestSeq: 2000 })
    const run = await startBackfill(source.url, { BACKFILL_DAYS: '7', BACKFILL_PROFILE: 'max' })
    try {
      await run.sky.backfill.whenDone()
      const progress = run.sky.backfill.getProgress()
      expect(progress.state).toBe('complete')
      expect(progress.window.availableFrom?.seq).toBe(2000)
      expect(progress.start).toBe(1999)
      const told = run.lines.filter((l) => /Window: 7 days asked .* but the source holds [\d.]+ (hours|days) of history \(from .*, seq 2000\)/.test(l))
      expect(told).toHaveLength(1)
      expect(told[0]).toMatch(/Relays keep only about 72 hours/)
      expect(await minIndexedSeq(run)).toBeGreaterThanOrEqual(2000)
    } finally {
      await run.close()
      await source.close()
      source = null
    }
  })

  it('retries locating the window until the source can be reached, then completes', async () => {
    const port = await freePort()
    const run = await startBackfill(`ws://127.0.0.1:${port}`, { BACKFILL_DAYS: '3', BACKFILL_PROFILE: 'max' })
    try {
      await until(() => run.lines.some((l) => /\[BACKFILL\] Could not locate the window: could not reach .*; retrying in 1 s/.test(l)), 10_000, 'a retry line')
      expect(run.sky.backfill.getProgress().state).toBe('locating')
      source = await startSyntheticFirehose({ frames, port })
      await run.sky.backfill.whenDone()
      expect(run.sky.backfill.getProgress().state).toBe('complete')
    } finally {
      await run.close()
      await source?.close()
      source = null
    }
  })
})
