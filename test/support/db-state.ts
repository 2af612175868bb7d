// Reads the indexed state back, table by table, in a form tests compare with toEqual.
import type pg from 'pg'
import { RECORD_MODULES } from '../../server/indexer/records/index.js'

export type IndexedState = Record<string, { uri: string; cid: string; rev: string }[]>

export async function indexedState(pool: pg.Pool): Promise<IndexedState> {
  const state: IndexedState = {}
  for (const module of RECORD_MODULES) {
    const { rows } = await pool.query<{ uri: string; cid: string; rev: string }>(
      `SELECT uri, cid, rev FROM ${module.table} ORDER BY uri`,
    )
    state[module.table] = rows
  }
  return state
}

export async function truncateAll(pool: pg.Pool): Promise<void> {
  const tables = [...RECORD_MODULES.map((m) => m.table), 'actors', 'tombstones', 'rejects', 'cursors', 'unindexed_collections', 'repo_positions', 'tombstone_horizons']
  await pool.query(`TRUNCATE ${tables.join(', ')}`)
  await pool.query(`UPDATE unindexed_counted SET seqs = '{}'`)
}
