// The chain rules against real chains: replaying the reference PDS's firehose (in small batches written out of
// order by concurrent writers) leaves every seeded repository active at the PDS's current rev, with no gap found,
// and the #sync events the PDS emits at account creation desynchronize nothing.
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { confirmGaps } from '../../server/repos/resync-scheduler.js'
import { startPds, type PdsHandle } from '../harness/pds.js'
import { seedWorkload, type SeedSummary } from '../harness/seed.js'
import { type BackfillRun, startBackfill } from '../support/backfill.js'

let pds: PdsHandle
let seed: SeedSummary
let run: BackfillRun

beforeAll(async () => {
  pds = await startPds()
  seed = await seedWorkload(pds.url, { accounts: 5, actionsPerAccount: 30, seed: 12 })
  // batches of 5 frames, 4 writers at once: batches commit out of seq order, as they do under load
  run = await startBackfill(pds.url, { BACKFILL_PROFILE: 'fast', BACKFILL_BATCH_SIZE: '5', BACKFILL_BATCH_DELAY_MS: '0', BACKFILL_MAX_CONCURRENT: '4' })
  await run.sky.backfill.whenDone()
}, 120_000)

afterAll(async () => {
  await run?.close()
  await pds?.stop()
})

async function latestRev(did: string): Promise<string> {
  const res = await fetch(`${pds.url}/xrpc/com.atproto.sync.getLatestCommit?did=${encodeURIComponent(did)}`)
  expect(res.status).toBe(200)
  return ((await res.json()) as { rev: string }).rev
}

describe('positions after replaying the reference PDS', () => {
  it("leaves every seeded repo active at the PDS's latest commit", async () => {
    expect(run.sky.backfill.getProgress().state).toBe('complete')
    const { rows } = await run.pool.query<{ did: string; rev: string; sync_state: string; holes: unknown }>(
      'SELECT did, rev, sync_state, holes FROM repo_positions ORDER BY did',
    )
    const expected = await Promise.all(
      [...seed.dids].sort().map(async (did) => ({ did, rev: await latestRev(did), sync_state: 'active', holes: null })),
    )
    expect(rows).toEqual(expected)
  })

  it('finds no gap once every event has been written', async () => {
    const head = run.sky.backfill.getProgress().head!
    expect(await confirmGaps(run.pool, head)).toEqual([])
    const { rows } = await run.pool.query(`SELECT count(*)::int AS n FROM rejects WHERE category = 'gap'`)
    expect(rows).toEqual([{ n: 0 }])
  })

  it("keeps each account's #sync as a resolved record that changed nothing", async () => {
    const { rows } = await run.pool.query<{ did: string; outcome: string; resolved: boolean }>(
      `SELECT did, detail->>'outcome' AS outcome, resolved_at IS NOT NULL AS resolved FROM rejects WHERE category = 'sync' ORDER BY did`,
    )
    // The account's first commit and its #sync name the same rev: whichever of their batches commits first (batches of
    // one account take turns in lock order, not seq order) sets the position, and the other changes nothing.
    expect(rows).toEqual(
      [...seed.dids].sort().map((did) => ({
        did,
        outcome: expect.stringMatching(/^(at or below the rev applied|first position of the repo)$/),
        resolved: true,
      })),
    )
  })
})
