// The API pool's connections prepare each parameterised text once, and nothing else.
import type pg from 'pg'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createPool } from '../../server/db/pools.js'
import { MAX_PREPARED_PER_CONNECTION, statementName } from '../../server/db/preparing-client.js'
import { testDatabase } from '../harness/db.js'
import type { TestDatabase } from '../harness/postgres.js'

let db: TestDatabase
let api: pg.Pool

beforeAll(async () => {
  db = await testDatabase()
  // one connection, so every query below runs in the backend whose statements are listed
  api = createPool(db.url, 'api', 1)
})

afterAll(async () => {
  await api?.end()
  await db?.drop()
})

type Prepared = { name: string; statement: string; custom_plans: string; generic_plans: string }
const prepared = async () =>
  (await api.query<Prepared>(`SELECT name, statement, custom_plans, generic_plans FROM pg_prepared_statements ORDER BY name`)).rows

describe('the API pool prepares its statements', () => {
  it('prepares a text with parameters once and runs it again by name, with the right answers', async () => {
    const text = 'SELECT $1::int + 1 AS n'
    const answers: number[] = []
    for (const n of [1, 2, 3]) answers.push((await api.query<{ n: number }>(text, [n])).rows[0]!.n)
    expect(answers).toEqual([2, 3, 4])
    const rows = await prepared()
    expect(rows.map((r) => r.name)).toEqual([statementName(text)])
    expect(rows[0]!.statement).toBe(text)
    expect(Number(rows[0]!.custom_plans) + Number(rows[0]!.generic_plans)).toBe(3)
  })

  it('leaves texts without parameters, and transactions, unprepared', async () => {
    const client = await api.connect()
    try {
      await client.query('BEGIN READ ONLY')
      await client.query('SELECT 42 AS n')
      await client.query('SELECT $1::text AS t', ['in a transaction'])
      await client.query('COMMIT')
    } finally {
      client.release()
    }
    const names = (await prepared()).map((r) => r.name)
    expect(names).toHaveLength(2)
    expect(names).toContain(statementName('SELECT $1::text AS t'))
  })

  it('stops preparing new texts at the cap, and still runs them', async () => {
    const before = (await prepared()).length
    const sums: number[] = []
    for (let i = 0; i < MAX_PREPARED_PER_CONNECTION + 5; i++) sums.push((await api.query<{ n: number }>(`SELECT $1::int + ${i} AS n`, [1])).rows[0]!.n)
    expect(sums.at(-1)).toBe(MAX_PREPARED_PER_CONNECTION + 5)
    // the cap counts every text the connection prepared, those of the earlier cases included
    expect(before).toBe(2)
    expect((await prepared()).length).toBe(MAX_PREPARED_PER_CONNECTION)
  })

  it('gives a failing text its error and leaves the connection usable', async () => {
    await expect(api.query('SELECT $1::int FROM no_such_table', [1])).rejects.toThrow(/no_such_table/)
    expect((await api.query<{ n: number }>('SELECT $1::int + 1 AS n', [9])).rows[0]!.n).toBe(10)
  })
})
