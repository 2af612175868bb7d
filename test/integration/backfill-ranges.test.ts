// One instance replays a window split into seq ranges: it claims them in seq order and the run's cursor only moves
// forward; a source whose seqs skip over a range's end ends that range at its end without writing the next range's
// first frame (each frame is written once); and a run stored before ranges existed resumes from its single cursor.
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startSyntheticFirehose, type SyntheticFirehose } from '../../bench/source/server.js'
import type { StoredFrame } from '../../bench/source/store.js'
import { testDatabase } from '../harness/db.js'
import { bulkFrames } from '../faults/support/bulk.js'
import { seedRun, startRun, storedCursor } from '../faults/support/run.js'

const EVENTS = 4400
let frames: StoredFrame[]
const sources: SyntheticFirehose[] = []

beforeAll(async () => {
  frames = await bulkFrames({ accounts: 50, events: EVENTS, seed: 17 })
}, 30_000)

afterAll(async () => {
  await Promise.all(sources.map((s) => s.close()))
})

type RangeRow = { range_start: string; range_end: string; state: string; cursor: string; claims: number }

async function rangeRows(pool: import('pg').Pool): Promise<RangeRow[]> {
  const { rows } = await pool.query<RangeRow>(
    `SELECT r.range_start, r.range_end, r.state, c.seq AS cursor, r.claims
       FROM replay_ranges r JOIN cursors c ON c.name = r.cursor_name ORDER BY r.range_start`,
  )
  return rows
}

describe('a window replayed in ranges by one instance', () => {
  it('writes each frame once when the source skips the seqs around a range end, and ends each range at its end', async () => {
    // The window (0, 4400] is two ranges, (0, 2200] and (2200, 4400]; seqs 2190..2210 were never sequenced.
    const holed = frames.filter((f) => f.seq < 2190 || f.seq > 2210)
    const source = await startSyntheticFirehose({ frames: holed })
    sources.push(source)
    const db = await testDatabase()
    // The skipped seqs are a gap, so every known repository is checked against its PDS: through a directory here
    // that knows none of them (the synthetic source answers 404), not one out on the internet.
    const run = await startRun(source.url, db.url, { PLC_URL: source.url.replace(/^ws/, 'http'), ALLOW_PRIVATE_HOSTS: 'true' })
    try {
      const cursors: number[] = []
      while (run.progress().state !== 'complete' && run.progress().state !== 'failed') {
        const seq = await storedCursor(run.pool)
        if (seq !== null && seq !== cursors.at(-1)) cursors.push(seq)
        await new Promise((r) => setTimeout(r, 10))
      }
      const p = run.progress()
      expect(p).toMatchObject({ state: 'complete', cursor: EVENTS, head: EVENTS, percent: 100 })
      expect(p.counts.processed).toBe(holed.length)
      expect(await rangeRows(run.pool)).toEqual([
        { range_start: '0', range_end: '2200', state: 'done', cursor: '2200', claims: 1 },
        { range_start: '2200', range_end: '4400', state: 'done', cursor: '4400', claims: 1 },
      ])
      expect(cursors).toEqual([...cursors].sort((a, b) => a - b))
      expect(await storedCursor(run.pool)).toBe(EVENTS)
      expect(run.matching(/\[BACKFILL\] Range \(0, 2200\]: done/)).toHaveLength(1)
    } finally {
      await run.close()
      await db.drop()
    }
  })

  it('resumes a run stored with one cursor (from before ranges): what is below it is done, the rest is replayed', async () => {
    const source = await startSyntheticFirehose({ frames })
    sources.push(source)
    const db = await testDatabase()
    await seedRun(db.url, { relay: source.url, headSeq: EVENTS, cursor: 3000 })
    const run = await startRun(source.url, db.url)
    try {
      await run.sky.backfill.whenDone()
      expect(run.progress()).toMatchObject({ state: 'complete', cursor: EVENTS })
      expect(run.progress().counts.processed).toBe(EVENTS - 3000)
      expect(await rangeRows(run.pool)).toEqual([
        { range_start: '0', range_end: '2200', state: 'done', cursor: '2200', claims: 0 },
        { range_start: '2200', range_end: '4400', state: 'done', cursor: '4400', claims: 1 },
      ])
      expect(run.matching(/\[BACKFILL\] Resuming from cursor 3000 toward head 4400/)).toHaveLength(1)
      expect(source.stats().cursors).toEqual([3000])
    } finally {
      await run.close()
      await db.drop()
    }
  })
})
