// The live firehose lock: one holder among the instances on one database, named to the others, and lost (and known
// to be lost) the moment its session ends, as it does when the holder dies or the database restarts.
import pg from 'pg'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { SessionLock, type LockAttempt } from '../../server/db/session-lock.js'
import { testDatabase } from '../harness/db.js'
import type { TestDatabase } from '../harness/postgres.js'

let db: TestDatabase
let admin: pg.Pool
const locks: SessionLock[] = []

beforeAll(async () => {
  db = await testDatabase()
  admin = new pg.Pool({ connectionString: db.url, max: 1 })
})

afterAll(async () => {
  await Promise.all(locks.map((l) => l.release()))
  await admin.end()
  await db.drop()
})

function lock(owner: string, key: readonly [number, number] = [7, 1]): SessionLock {
  const l = new SessionLock({ databaseUrl: db.url, key, owner, checkEveryMs: 200, queryTimeoutMs: 2000 })
  locks.push(l)
  return l
}

function held(attempt: LockAttempt): Promise<string> {
  if (!attempt.held) throw new Error(`expected to hold the lock, held by ${attempt.holder}`)
  return attempt.lost
}

describe('the live firehose lock', () => {
  it('is held by one instance at a time, and the others are told which', async () => {
    const a = lock('indexer-a')
    const b = lock('indexer-b')
    void held(await a.tryAcquire())
    expect(await b.tryAcquire()).toEqual({ held: false, holder: 'indexer-a' })
    expect(await b.tryAcquire()).toEqual({ held: false, holder: 'indexer-a' })
    await a.release()
    void held(await b.tryAcquire())
    expect(await a.tryAcquire()).toEqual({ held: false, holder: 'indexer-b' })
    await b.release()
  })

  it('is lost, and the holder knows it, when its session ends; then another instance takes it', async () => {
    const a = lock('indexer-c', [7, 2])
    const b = lock('indexer-d', [7, 2])
    const lost = held(await a.tryAcquire())
    const { rows } = await admin.query<{ pid: number }>(
      `SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND application_name = 'skyfill-lock indexer-c'`,
    )
    expect(rows).toHaveLength(1)
    // What a database restart does to every session, here to the holder's alone.
    await admin.query('SELECT pg_terminate_backend($1)', [rows[0]!.pid])
    expect(await lost).toMatch(/connection/)
    void held(await b.tryAcquire())
    // The old holder, trying again on a new connection, stands by.
    expect(await a.tryAcquire()).toEqual({ held: false, holder: 'indexer-d' })
    await b.release()
  })

  it('is released when its holder lets go, and its loss then says so', async () => {
    const a = lock('indexer-a', [7, 3])
    const lost = held(await a.tryAcquire())
    await a.release()
    expect(await lost).toBe('released')
    const { rows } = await admin.query(`SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND classid = 7 AND objid = 3`)
    expect(rows).toEqual([])
  })
})
