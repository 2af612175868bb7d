// A fresh migrated database with a pool and a BatchWriter on it, for tests that write batches and read rows back.
import type pg from 'pg'
import { afterAll, beforeAll } from 'vitest'
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

/** One writer database for every test of a file: made before the first, dropped after the last; read it in tests. */
export function writerDatabaseForFile(): Pick<WriterDatabase, 'pool' | 'writer'> {
  let db: WriterDatabase | null = null
  beforeAll(async () => {
    db = await writerDatabase()
  })
  afterAll(() => db?.close())
  const opened = () => {
    if (!db) throw new Error('the writer database is opened in beforeAll: use it inside a test')
    return db
  }
  return {
    get pool() {
      return opened().pool
    },
    get writer() {
      return opened().writer
    },
  }
}
