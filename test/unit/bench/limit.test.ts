import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import pg from 'pg'
import { afterAll, beforeAll, expect, test } from 'vitest'
import { measureLimit } from '../../../bench/run/limit.js'
import { RECORD_MODULES } from '../../../server/indexer/records/index.js'
import { openOrGenerateWorkload, type WorkloadStore } from '../../../bench/source/store.js'
import { testDatabase } from '../../harness/db.js'
import type { TestDatabase } from '../../harness/postgres.js'

let dir: string
let store: WorkloadStore
let db: TestDatabase

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'skyfill-bench-limit-'))
  store = await openOrGenerateWorkload({ seed: 'bench-limit', accounts: 5, events: 300, workers: 0 }, { dir })
  db = await testDatabase()
})

afterAll(async () => {
  await db?.drop()
  await rm(dir, { recursive: true, force: true })
})

test('the limit decodes and writes every frame of the workload, in batches, and commits the cursor past the last', async () => {
  const limit = await measureLimit({
    workloadPath: store.path,
    databaseUrl: db.url,
    decoder: 'lean',
    // 300 frames in chunks of 70 and batches of 40: partial batches carried across chunks, and one at the end
    settings: { batchSize: 40, maxConcurrent: 2, dbPoolSize: 2 },
    events: null,
    chunkFrames: 70,
    postmasterPid: null,
  })
  const client = new pg.Client({ connectionString: db.url })
  await client.connect()
  try {
    const { rows } = await client.query<{ seq: string }>(`SELECT seq FROM cursors WHERE name = 'bench-limit'`)
    let records = 0
    for (const { table: t } of RECORD_MODULES) records += Number((await client.query<{ n: string }>(`SELECT count(*) AS n FROM ${t}`)).rows[0].n)
    expect(limit.events).toBe(300)
    expect(Number(rows[0]?.seq)).toBe(300)
    expect(records).toBeGreaterThan(0)
    // every record row standing was written by the limit's write part (deletes also count there)
    expect(limit.recordsWritten).toBeGreaterThanOrEqual(records)
  } finally {
    await client.end()
  }
  expect(limit.eventsPerSecond).toBeCloseTo(1 / (1 / limit.decodePerSecond + 1 / limit.writePerSecond), -1)
  expect(limit.writeCpuSeconds.postgres).toBeNull()
})

test('the limit can stop short of the workload', async () => {
  const other = await testDatabase()
  try {
    const limit = await measureLimit({
      workloadPath: store.path,
      databaseUrl: other.url,
      decoder: 'lean',
      settings: { batchSize: 40, maxConcurrent: 2, dbPoolSize: 2 },
      events: 100,
      chunkFrames: 70,
      postmasterPid: null,
    })
    expect(limit.events).toBe(100)
  } finally {
    await other.drop()
  }
})
