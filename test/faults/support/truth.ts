// The ground truth for "nothing lost": what a sequential replay of every frame leaves behind. Each frame is decoded
// and written on its own (or, for tens of thousands, in batches of `batch` in seq order: any split leaves the same,
// invariant 3), by the writer, into a fresh database; the indexed tables and the actors are then read back in a form
// tests compare with toEqual.
import pg from 'pg'
import type { GeneratedFrame } from '../../../bench/source/generator.js'
import type { StoredFrame } from '../../../bench/source/store.js'
import type { PipelineItem } from '../../../server/events/index.js'
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

/** Records and actors, without handles: those are the identity service's to verify, and no PLC knows synthetic DIDs. */
export function withoutHandles(state: State) {
  return { records: state.records, actors: state.actors.map((a) => ({ did: a.did, status: a.status })) }
}

/** How many rows a state holds across the record tables. */
export function recordCount(state: State): number {
  return Object.values(state.records).reduce((n, rows) => n + rows.length, 0)
}

const cache = new WeakMap<readonly StoredFrame[], Map<number, Promise<State>>>()

/** The state a sequential replay of `frames`, `batch` frames per write (1: each on its own), leaves; computed once. */
export function groundTruth(frames: readonly (StoredFrame | GeneratedFrame)[], batch = 1): Promise<State> {
  let byBatch = cache.get(frames)
  if (!byBatch) cache.set(frames, (byBatch = new Map()))
  let truth = byBatch.get(batch)
  if (!truth) {
    truth = replaySequentially(frames, batch)
    byBatch.set(batch, truth)
  }
  return truth
}

async function replaySequentially(frames: readonly StoredFrame[], batch: number): Promise<State> {
  const db = await testDatabase()
  const pool = new pg.Pool({ connectionString: db.url, max: 1 })
  try {
    const writer = new BatchWriter(pool, 'truth', ACCOUNT_ROW_LOCKS)
    for (let i = 0; i < frames.length; i += batch) {
      const items: PipelineItem[] = []
      let seq: number | null = null
      for (const frame of frames.slice(i, i + batch)) {
        const decoded = decodeLean(frame.bytes)
        if (decoded.kind !== 'frame') continue
        items.push(...decoded.frame.items)
        seq = decoded.frame.seq
      }
      if (seq !== null) await writer.write(items, seq, null)
    }
    return await readState(pool)
  } finally {
    await pool.end()
    await db.drop()
  }
}
