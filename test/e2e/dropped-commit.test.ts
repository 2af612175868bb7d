// A relay that loses one commit of one repository (issue 12): the next commit of that repo names a `since` this
// consumer never applied, so exactly that repository is marked desynchronized, resynced from its PDS, and ends right.
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startPds, type PdsHandle } from '../harness/pds.js'
import { dumpPdsRepos } from '../harness/pds-repos.js'
import { seedWorkload, type SeedSummary } from '../harness/seed.js'
import { pdsIdentityEnv, startBackfill, until } from '../support/backfill.js'
import { compareWithPds } from '../support/compare.js'
import { nthCommitSeq, startDroppingRelay, type DroppingRelay } from '../support/dropping-relay.js'

let pds: PdsHandle
let seeded: SeedSummary
let relay: DroppingRelay

beforeAll(async () => {
  pds = await startPds()
  seeded = await seedWorkload(pds.url, { accounts: 4, actionsPerAccount: 20, seed: 31 })
}, 180_000)

afterAll(async () => {
  await relay?.close()
  await pds?.stop()
})

describe('a relay that drops one commit of one repository', () => {
  it('leads to exactly that repository resynced, and the tables equal the PDS', { timeout: 90_000 }, async () => {
    const victim = seeded.accounts[1]!
    relay = await startDroppingRelay(pds.url, await nthCommitSeq(pds.url, victim.did, 3))
    const run = await startBackfill(relay.url, { ...pdsIdentityEnv(pds), BACKFILL_PROFILE: 'max' })
    try {
      await run.sky.backfill.whenDone()
      expect(relay.dropped).toHaveLength(1)
      // The gap is confirmed once every event before it is written, then the repository is queued and fetched.
      const resynced = async () => (await run.pool.query(`SELECT 1 FROM repos WHERE state = 'done'`)).rowCount === 1
      await until(resynced, 45_000, 'the resync of the repository').catch(async (err) => {
        console.log(run.lines.filter((l) => !l.includes('Progress')).slice(-30).join('\n'))
        console.log(JSON.stringify((await run.pool.query('SELECT did, rev, sync_state, reason, holes, gap FROM repo_positions')).rows, null, 1))
        throw err
      })
      expect(await compareWithPds(run.pool, await dumpPdsRepos(pds.url))).toEqual([])
      const { rows: jobs } = await run.pool.query(`SELECT did, state, since FROM repos`)
      expect(jobs).toEqual([{ did: victim.did, state: 'done', since: null }])
      await until(async () => (await run.pool.query(`SELECT 1 FROM repo_positions WHERE sync_state <> 'active'`)).rowCount === 0, 10_000, 'active')
      const { rows: gaps } = await run.pool.query(`SELECT did, resolved_at FROM rejects WHERE category = 'gap'`)
      expect(gaps).toEqual([{ did: victim.did, resolved_at: expect.any(Date) }])
    } finally {
      await run.close()
    }
  })
})
