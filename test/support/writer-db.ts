// A fresh migrated database with a pool and a BatchWriter on it, for tests that write batches and read rows back.
import type pg from 'pg'
import { createPool } from '../../server/db/pools.js'
import { ACCOUNT_ROW_LOCKS } from '../../server/indexer/write-locks.js'
import { BatchWriter } from '../../server/indexer/writer.js'
import { testDatabase } from '../harness/db.js'

export type WriterDatabase = { pool: pg.Pool; writer: BatchWriter; close(): Promise<void> }

export async function writerDatabase(): Promise<WriterDatabase> {
  const db = await testDatabase()
  const pool = createPool(db.url, 'backfill', 4)
  return {
    pool,
    writer: new BatchWriter(pool, 'test', ACCOUNT_ROW_LOCKS),
    async close() {
      await pool.end()
      await db.drop()
    },
  }
}
