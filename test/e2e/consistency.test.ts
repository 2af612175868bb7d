// Every repository stays true (issue 12): a server backfills and indexes live, is SIGKILLed, accounts write and
// delete while it is down until its cursor is older than what the PDS replays, and after a restart the tables equal
// the PDS's repos record for record, deletes included, with only the repositories that changed fetched again.
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import pg from 'pg'
import { testDatabase } from '../harness/db.js'
import { startPds, type PdsHandle } from '../harness/pds.js'
import { dumpPdsRepos } from '../harness/pds-repos.js'
import type { TestDatabase } from '../harness/postgres.js'
import { freePort } from '../harness/postgres.js'
import { seedWorkload, type SeedSummary } from '../harness/seed.js'
import { spawnServer, type ServerProcess } from '../harness/server-process.js'
import { pdsIdentityEnv, until } from '../support/backfill.js'
import { compareWithPds } from '../support/compare.js'

const REPLAY_MS = 3000
let pds: PdsHandle
let seeded: SeedSummary
let db: TestDatabase
let pool: pg.Pool

beforeAll(async () => {
  pds = await startPds({ repoBackfillLimitMs: REPLAY_MS })
  seeded = await seedWorkload(pds.url, { accounts: 5, actionsPerAccount: 20, seed: 21 })
  db = await testDatabase()
  pool = new pg.Pool({ connectionString: db.url, max: 2 })
}, 180_000)

afterAll(async () => {
  await pool?.end()
  await db?.drop()
  await pds?.stop()
})

async function server(): Promise<ServerProcess> {
  return spawnServer({
    DATABASE_URL: db.url,
    HOST: '127.0.0.1',
    PORT: String(await freePort()),
    RELAY_URL: pds.url,
    BACKFILL_DAYS: 'all',
    BACKFILL_PROFILE: 'max',
    FIREHOSE_ENABLED: 'true',
    ...pdsIdentityEnv(pds),
  })
}

const doneAt = async () =>
  new Map((await pool.query<{ did: string; done_at: Date }>(`SELECT did, done_at FROM repos`)).rows.map((r) => [r.did, r.done_at.getTime()]))

describe('after a SIGKILL and a downtime longer than the replay window', () => {
  it('the tables equal the PDS, deletes included, and only the changed repositories are fetched again', { timeout: 150_000 }, async () => {
    const first = await server()
    await first.waitForLine(/\[BACKFILL\] Repos complete/, 60_000)
    await until(async () => (await compareWithPds(pool, await dumpPdsRepos(pds.url))).length === 0, 30_000, 'the first backfill')
    const before = await doneAt()
    expect(before.size).toBe(5)
    first.kill('SIGKILL')
    await first.exited

    // While it is down: two accounts post, delete a record each, and change their profile.
    const [a, b] = seeded.accounts
    for (const account of [a!, b!]) {
      await account.agent.post({ text: `written while the appview was down (${account.handle})`, createdAt: new Date().toISOString() })
      const listed = await account.agent.com.atproto.repo.listRecords({ repo: account.did, collection: 'app.bsky.feed.post', limit: 1 })
      const rkey = listed.data.records[0]!.uri.split('/').pop()!
      await account.agent.com.atproto.repo.deleteRecord({ repo: account.did, collection: 'app.bsky.feed.post', rkey })
      await account.agent.upsertProfile((p) => ({ ...p, displayName: `changed while down ${account.index}` }))
    }
    // Long enough that the PDS no longer replays from the stored cursor.
    await new Promise((r) => setTimeout(r, REPLAY_MS + 1500))

    const second = await server()
    try {
      await second.waitForLine(/\[BACKFILL\] Repos: checked \d+ repositories: \d+ changed/, 60_000)
      const truth = await dumpPdsRepos(pds.url)
      await until(async () => (await compareWithPds(pool, truth)).length === 0, 60_000, 'the resynced repositories')
      const after = await doneAt()
      const refetched = [...after].filter(([did, t]) => t !== before.get(did)).map(([did]) => did).sort()
      expect(refetched).toEqual([a!.did, b!.did].sort())
      const { rows } = await pool.query(`SELECT did, sync_state FROM repo_positions ORDER BY did`)
      expect(rows.every((r: { sync_state: string }) => r.sync_state === 'active')).toBe(true)
    } catch (err) {
      console.log(second.lines.filter((l) => !l.includes('Progress:')).slice(-40).join('\n'))
      throw err
    } finally {
      second.kill('SIGTERM')
      await second.exited
    }
  })
})
