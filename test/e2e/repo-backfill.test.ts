// Beyond the relay's window: a reference PDS that replays only its last few seconds, history older than that, more
// writes, then a backfill of the last 7 days (and, separately, of everything): the records that no longer replay
// come from the repositories, every table equals the PDS's repos record for record, and every account is served
// with its real handle, verified, whether or not its #identity event still replays.
import { AtpAgent } from '@atproto/api'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startPds, type PdsHandle } from '../harness/pds.js'
import { dumpPdsRepos } from '../harness/pds-repos.js'
import { seedWorkload } from '../harness/seed.js'
import { pdsIdentityEnv, startBackfill, until, type BackfillRun } from '../support/backfill.js'
import { compareWithPds } from '../support/compare.js'

const REPLAY_MS = 3000
let pds: PdsHandle

beforeAll(async () => {
  pds = await startPds({ repoBackfillLimitMs: REPLAY_MS })
  await seedWorkload(pds.url, { accounts: 4, actionsPerAccount: 30, seed: 11 })
  // Let that history age out of what the PDS replays, then write some more that it still replays.
  await new Promise((r) => setTimeout(r, REPLAY_MS + 1000))
  await seedWorkload(pds.url, { accounts: 2, actionsPerAccount: 10, seed: 12, firstIndex: 50 })
}, 180_000)

afterAll(async () => {
  await pds?.stop()
})

function env(extra: Record<string, string>): Record<string, string> {
  return {
    ...pdsIdentityEnv(pds),
    BACKFILL_PROFILE: 'max',
    ...extra,
  }
}

async function runToCompletion(days: string): Promise<BackfillRun> {
  const run = await startBackfill(pds.url, env({ BACKFILL_DAYS: days }))
  await run.sky.backfill.whenDone()
  return run
}

describe('a backfill beyond what the source replays', () => {
  it('BACKFILL_DAYS=7 replays what the PDS holds and fetches the rest from the repositories', async () => {
    const run = await runToCompletion('7')
    try {
      const p = run.sky.backfill.getProgress()
      expect(p.state).toBe('complete')
      expect(p.percent).toBe(100)
      expect(p.repos).not.toBeNull()
      expect(p.repos!.jobs).toMatchObject({ total: 6, done: 6, failed: 0, pending: 0, fetching: 0 })
      expect(await compareWithPds(run.pool, await dumpPdsRepos(pds.url))).toEqual([])
      const { rows } = await run.pool.query(`SELECT count(*)::int AS n FROM repos WHERE state = 'done' AND since IS NOT NULL AND rev IS NOT NULL`)
      expect(rows[0].n).toBe(6)
      expect(run.lines.some((l) => /\[BACKFILL\] Repos: fetching what changed since rev \w+ from relay/.test(l))).toBe(true)
      // The first accounts' #identity events aged out of the replay: their handles come from verification alone.
      const { handles } = await dumpPdsRepos(pds.url)
      await until(() => run.sky.identity.progress().verified === handles.size, 20_000, 'every handle to be verified')
      const agent = new AtpAgent({ service: run.sky.url })
      for (const [did, handle] of handles) expect((await agent.getProfile({ actor: did })).data.handle).toBe(handle)
    } finally {
      await run.close()
    }
  })

  it('BACKFILL_DAYS=all fetches every repository whole, with live writes going on meanwhile', async () => {
    const run = await startBackfill(pds.url, env({ BACKFILL_DAYS: 'all', FIREHOSE_ENABLED: 'true' }))
    try {
      await seedWorkload(pds.url, { accounts: 1, actionsPerAccount: 15, seed: 13, firstIndex: 80 })
      await run.sky.backfill.whenDone()
      expect(run.sky.backfill.getProgress().state).toBe('complete')
      const { rows } = await run.pool.query(`SELECT count(*)::int AS n FROM repos WHERE state = 'done' AND since IS NULL`)
      expect(rows[0].n).toBeGreaterThanOrEqual(6)
      const truth = await dumpPdsRepos(pds.url)
      await until(async () => (await compareWithPds(run.pool, truth)).length === 0, 30_000, 'the live writes to arrive')
    } finally {
      await run.close()
    }
  })
})
