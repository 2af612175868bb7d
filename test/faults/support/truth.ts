// The ground truth for "nothing lost": what a sequential replay of every frame leaves behind. Each frame is decoded
// and written on its own, in seq order, by the writer, into a fresh database; the indexed tables and the actors are
// then read back in a form tests compare with toEqual.
import pg from 'pg'
import type { GeneratedFrame } from '../../../bench/source/generator.js'
import type { StoredFrame } from '../../../bench/source/store.js'
import { BatchWriter } from '../../../server/indexer/writer.js'
import { ACCOUNT_ROW_LOCKS } from '../../../server/indexer/write-locks.js'
import { decodeLean } from '../../../server/pipeline/decoder/lean.js'
import { testDatabase } from '../../harness/db.js'
import { indexedState, type IndexedState } from '../../support/db-state.js'

export type State = {
  records: IndexedState
  actors: { did: string; handle: string | null; status: string }[]
}

export async function readState(pool: pg.Pool): Promise<State> {
  const { rows: actors } = await pool.query<State['actors'][number]>('SELECT did, handle, status FROM actors ORDER BY did')
  return { records: await indexedState(pool), actors }
}

/** How many rows a state holds across the record tables. */
export function recordCount(state: State): number {
  return Object.values(state.records).reduce((n, rows) => n + rows.length, 0)
}

const cache = new WeakMap<readonly StoredFrame[], Promise<State>>()

/** The state a one-frame-at-a-time replay of `frames` leaves (computed once per frames array). */
export function groundTruth(frames: readonly (StoredFrame | GeneratedFrame)[]): Promise<State> {
  let truth = cache.get(frames)
  if (!truth) {
    truth = replaySequentially(frames)
    cache.set(frames, truth)
  }
  return truth
}

async function replaySequentially(frames: readonly StoredFrame[]): Promise<State> {
  const db = await testDatabase()
  const pool = new pg.Pool({ connectionString: db.url, max: 1 })
  try {
    const writer = new BatchWriter(pool, 'truth', ACCOUNT_ROW_LOCKS)
    for (const frame of frames) {
      const decoded = decodeLean(frame.bytes)
      if (decoded.kind !== 'frame') continue
      await writer.write(decoded.frame.items, decoded.frame.seq, null)
    }
    return await readState(pool)
  } finally {
    await pool.end()
    await db.drop()
  }
}
