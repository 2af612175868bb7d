// The backfill pool's Postgres backends run at a lower CPU priority than the API's, when Postgres is on this machine.
import pg from 'pg'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { isLocalPostgres, lowerBackendPriority, processNice } from '../../server/db/backend-priority.js'
import { createPool } from '../../server/db/pools.js'
import { testDatabase } from '../harness/db.js'
import type { TestDatabase } from '../harness/postgres.js'

let db: TestDatabase
const pools: pg.Pool[] = []

beforeAll(async () => {
  db = await testDatabase()
})

afterAll(async () => {
  await Promise.all(pools.map((p) => p.end()))
  await db.drop()
})

async function backendPid(pool: pg.Pool): Promise<number> {
  const { rows } = await pool.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')
  return rows[0]!.pid
}

describe('backend priority', () => {
  it("gives each of the backfill pool's backends the nice value asked for, and leaves the API's alone", async () => {
    const lines: string[] = []
    const backfill = createPool(db.url, 'backfill', 2)
    const api = createPool(db.url, 'api', 1)
    pools.push(backfill, api)
    lowerBackendPriority(backfill, db.url, 7, (line) => lines.push(line))
    // two connections at once: both are new backends
    const clients = await Promise.all([backfill.connect(), backfill.connect()])
    const pids = await Promise.all(clients.map(async (c) => (await c.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')).rows[0]!.pid))
    clients.forEach((c) => c.release())
    expect(new Set(pids).size).toBe(2)
    expect(pids.map((pid) => processNice(pid))).toEqual([
      { command: 'postgres', nice: 7 },
      { command: 'postgres', nice: 7 },
    ])
    expect(processNice(await backendPid(api)).nice).toBe(0)
    expect(lines).toEqual([])
  })

  it('leaves a Postgres on another machine alone, saying so once', () => {
    const lines: string[] = []
    const pool = new pg.Pool({ connectionString: 'postgres://u:p@db.example.net:5432/x' })
    pools.push(pool)
    lowerBackendPriority(pool, 'postgres://u:p@db.example.net:5432/x', 7, (line) => lines.push(line))
    expect(lines).toEqual(['[DB] backfill connections keep their CPU priority: Postgres at db.example.net:5432 is not on this machine'])
    expect(pool.listenerCount('connect')).toBe(0)
  })

  it('counts loopback, localhost and Unix sockets as this machine, and nothing else', () => {
    expect(
      [
        'postgres://u@127.0.0.1:5432/x',
        'postgres://u@localhost/x',
        'postgres://u@[::1]:5432/x',
        'postgres://u@%2Fvar%2Frun%2Fpostgresql/x',
        'postgres:///x?host=/tmp',
        'postgres://u@10.0.0.5/x',
        'postgres://u@db.internal/x',
      ].map(isLocalPostgres),
    ).toEqual([true, true, true, true, true, false, false])
  })
})
