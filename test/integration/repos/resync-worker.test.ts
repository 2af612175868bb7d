// The worker that keeps the index true runs with the backfill off too: it fetches the repositories queued for a
// resync, and leaves alone the jobs an earlier backfill run did not finish, which wait for the next run.
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { PgRepoJobStore } from '../../../server/repos/job-store.js'
import { queueResync } from '../../../server/repos/resync-scheduler.js'
import { startServer, until, type BackfillRun } from '../../support/backfill.js'

const LEFTOVER = `did:plc:${'a'.repeat(24)}`
const RESYNC = `did:plc:${'b'.repeat(24)}`

let run: BackfillRun

beforeAll(async () => {
  // No PLC answers here: the resync's fetch fails, which is enough to see that it was taken.
  run = await startServer({ BACKFILL_DAYS: '0', PLC_URL: 'http://127.0.0.1:1', ALLOW_PRIVATE_HOSTS: 'true' })
})

afterAll(async () => {
  await run?.close()
})

const job = async (did: string) =>
  (await run.pool.query<{ state: string; attempts: number }>('SELECT state, attempts FROM repos WHERE did = $1', [did])).rows[0]

describe('with the backfill off', () => {
  it('the resync worker takes a queued resync, and never a leftover backfill job', async () => {
    const store = new PgRepoJobStore(run.pool)
    // The leftover sorts first, so a worker claiming any job would take it before the resync.
    await store.enqueue([{ did: LEFTOVER, discoveredVia: 'relay', since: null, active: true, status: null }])
    await queueResync(run.pool, store, RESYNC, 'a test asked for it')

    await until(async () => (await job(RESYNC))!.attempts > 0, 20_000, 'the resync to be tried')
    // The worker found the resync at once; with nothing else it may take, it waits 2 s between looks.
    await new Promise((r) => setTimeout(r, 5000))
    expect(await job(LEFTOVER)).toEqual({ state: 'pending', attempts: 0 })
    const { rows } = await run.pool.query(`SELECT sync_state FROM repo_positions WHERE did = $1`, [RESYNC])
    expect(rows[0].sync_state).toBe('resyncing')
  }, 40_000)
})
