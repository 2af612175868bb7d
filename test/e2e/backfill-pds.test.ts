// End to end against Bluesky's reference PDS: the backfill replays its firehose into Postgres and the database ends
// equal to the PDS's own repos, also across SIGKILLs and restarts, and the live firehose takes over at the head.
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import pg from 'pg'
import { parseConfig } from '../../server/config/index.js'
import { startSkyfill } from '../../server/main.js'
import { testDatabase } from '../harness/db.js'
import { startPds, type PdsHandle } from '../harness/pds.js'
import { dumpPdsRepos, type PdsDump } from '../harness/pds-repos.js'
import { freePort, type TestDatabase } from '../harness/postgres.js'
import { seedWorkload } from '../harness/seed.js'
import { spawnServer } from '../harness/server-process.js'
import { pdsIdentityEnv } from '../support/backfill.js'
import { compareWithPds, expectDatabaseEqualsPds } from '../support/compare.js'

let pds: PdsHandle
let dump: PdsDump
const dbs: TestDatabase[] = []
const pools: pg.Pool[] = []

async function freshDatabase() {
  const db = await testDatabase()
  dbs.push(db)
  const pool = new pg.Pool({ connectionString: db.url, max: 2 })
  pools.push(pool)
  return { db, pool }
}

beforeAll(async () => {
  pds = await startPds()
  await seedWorkload(pds.url, { accounts: 6, actionsPerAccount: 40, seed: 42 })
  dump = await dumpPdsRepos(pds.url)
}, 180_000)

afterAll(async () => {
  await Promise.all(pools.map((p) => p.end()))
  await Promise.all(dbs.map((d) => d.drop()))
  await pds?.stop()
})

function env(dbUrl: string, extra: Record<string, string> = {}) {
  return {
    DATABASE_URL: dbUrl,
    HOST: '127.0.0.1',
    RELAY_URL: pds.url,
    BACKFILL_DAYS: '-1',
    FIREHOSE_ENABLED: 'false',
    ...pdsIdentityEnv(pds),
    ...extra,
  }
}

describe('backfill from the reference PDS', () => {
  it('leaves the database equal to the PDS repos, record for record', async () => {
    const { db, pool } = await freshDatabase()
    const sky = await startSkyfill(parseConfig({ ...env(db.url, { BACKFILL_PROFILE: 'max' }), PORT: String(await freePort()) }), () => {})
    try {
      await sky.backfill.whenDone()
      const progress = sky.backfill.getProgress()
      expect(progress.state).toBe('complete')
      expect(progress.cursor).toBe(progress.head)
      expect(progress.percent).toBe(100)
      expect(progress.counts.invalid).toBe(0)
      await expectDatabaseEqualsPds(pool, dump)
      const { rows } = await pool.query(`SELECT seq, meta->>'state' AS state FROM cursors WHERE name = 'backfill'`)
      expect(rows).toEqual([{ seq: String(progress.head), state: 'complete' }])
      const api = await (await fetch(`${sky.url}/api/backfill`)).json()
      expect(api).toMatchObject({ state: 'complete', cursor: progress.head, head: progress.head })
    } finally {
      await sky.stop()
    }
  })

  it('a restart after completion does nothing and changes nothing', async () => {
    const { db, pool } = await freshDatabase()
    const first = await startSkyfill(parseConfig({ ...env(db.url, { BACKFILL_PROFILE: 'max' }), PORT: String(await freePort()) }), () => {})
    await first.backfill.whenDone()
    await first.stop()
    const lines: string[] = []
    const second = await startSkyfill(parseConfig({ ...env(db.url, { BACKFILL_PROFILE: 'max' }), PORT: String(await freePort()) }), (l) => lines.push(l))
    await second.backfill.whenDone()
    await second.stop()
    expect(lines.some((l) => /\[BACKFILL\] Complete: this window was backfilled up to seq \d+/.test(l))).toBe(true)
    expect(second.backfill.getProgress().counts.received).toBe(0)
    await expectDatabaseEqualsPds(pool, dump)
  })

  it('survives SIGKILL at several points and, after the last restart, has no gap', async () => {
    const { db, pool } = await freshDatabase()
    // Slow enough to be killed mid-run: 2 events per batch, 150 ms between batches.
    const slow = env(db.url, { BACKFILL_BATCH_SIZE: '2', BACKFILL_BATCH_DELAY_MS: '150', BACKFILL_MAX_CONCURRENT: '2' })
    const cursors: number[] = []
    for (let round = 0; round < 3; round++) {
      const server = spawnServer({ ...slow, PORT: String(await freePort()) })
      await server.waitForLine(/\[BACKFILL\] Replaying from cursor/)
      // Let it write a few batches past where it started, then kill it without warning.
      const start = cursors.at(-1) ?? -1
      const deadline = Date.now() + 30_000
      for (;;) {
        const { rows } = await pool.query(`SELECT seq FROM cursors WHERE name = 'backfill'`)
        const seq = rows[0]?.seq === null || rows[0] === undefined ? -1 : Number(rows[0].seq)
        if (seq >= start + 4 + round * 3 || Date.now() > deadline) break
        await new Promise((r) => setTimeout(r, 50))
      }
      server.kill('SIGKILL')
      await server.exited
      const { rows } = await pool.query(`SELECT seq FROM cursors WHERE name = 'backfill'`)
      cursors.push(Number(rows[0].seq))
    }
    // Each run resumed where the last one's committed cursor stood, and moved it on.
    expect(cursors[1]!).toBeGreaterThan(cursors[0]!)
    expect(cursors[2]!).toBeGreaterThan(cursors[1]!)
    expect(await compareWithPds(pool, dump)).not.toEqual([])
    const final = spawnServer({ ...env(db.url, { BACKFILL_PROFILE: 'max' }), PORT: String(await freePort()) })
    await final.waitForLine(/\[BACKFILL\] Resuming from cursor \d+/)
    await final.waitForLine(/\[BACKFILL\] Complete: reached head seq/, 60_000)
    final.kill('SIGTERM')
    await final.exited
    await expectDatabaseEqualsPds(pool, dump)
  })

  it('the live firehose takes over at the head and indexes what is written afterwards', async () => {
    const { db, pool } = await freshDatabase()
    const sky = await startSkyfill(
      parseConfig({ ...env(db.url, { BACKFILL_PROFILE: 'max', FIREHOSE_ENABLED: 'true' }), PORT: String(await freePort()) }),
      () => {},
    )
    try {
      await sky.backfill.whenDone()
      await seedWorkload(pds.url, { accounts: 2, actionsPerAccount: 15, seed: 7, firstIndex: 100 })
      const after = await dumpPdsRepos(pds.url)
      const deadline = Date.now() + 30_000
      while ((await compareWithPds(pool, after)).length && Date.now() < deadline) await new Promise((r) => setTimeout(r, 200))
      await expectDatabaseEqualsPds(pool, after)
      expect(sky.firehose!.getStatus()).toMatchObject({ state: 'live' })
      // later tests compare against the grown PDS
      dump = after
    } finally {
      await sky.stop()
    }
  })
})
