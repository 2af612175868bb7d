// The embedded Postgres runs with page and WAL buffers sized from this machine's memory.
import os from 'node:os'
import pg from 'pg'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { embeddedSettings } from '../../server/db/embedded-settings.js'
import { testDatabase } from '../harness/db.js'
import type { TestDatabase } from '../harness/postgres.js'

let db: TestDatabase

beforeAll(async () => {
  db = await testDatabase()
})

afterAll(async () => {
  await db?.drop()
})

const GB = 1024 ** 3

describe('embedded Postgres settings', () => {
  it('gives an eighth of memory to pages, from 128 MB to 1 GB, and a sixteenth of that to WAL, from 4 to 64 MB', () => {
    expect(embeddedSettings(0.5 * GB)).toEqual({ sharedBuffersMb: 128, walBuffersMb: 8 })
    expect(embeddedSettings(2 * GB)).toEqual({ sharedBuffersMb: 256, walBuffersMb: 16 })
    expect(embeddedSettings(4 * GB)).toEqual({ sharedBuffersMb: 512, walBuffersMb: 32 })
    expect(embeddedSettings(24 * GB)).toEqual({ sharedBuffersMb: 1024, walBuffersMb: 64 })
    expect(embeddedSettings(512 * GB)).toEqual({ sharedBuffersMb: 1024, walBuffersMb: 64 })
  })

  it('starts the cluster with them', async () => {
    const client = new pg.Client({ connectionString: db.url })
    await client.connect()
    try {
      const { rows } = await client.query<{ name: string; mb: number }>(
        `SELECT name, setting::bigint * 8 / 1024 AS mb FROM pg_settings WHERE name IN ('shared_buffers', 'wal_buffers') ORDER BY name`,
      )
      const expected = embeddedSettings(os.totalmem())
      expect(rows.map((r) => [r.name, Number(r.mb)])).toEqual([
        ['shared_buffers', expected.sharedBuffersMb],
        ['wal_buffers', expected.walBuffersMb],
      ])
    } finally {
      await client.end()
    }
  })
})
