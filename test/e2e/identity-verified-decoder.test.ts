// BACKFILL_DECODER=verified takes no handle from a frame (nothing signs it): the replay's and the live firehose's
// #identity events only mark the actor due, and the identity service verifies the handle both ways. Against Bluesky's
// reference PDS and PLC: every replayed actor ends with its real handle verified, and a handle changed on the PDS is
// served within seconds of its #identity event, verified, while no row ever held a handle the service did not check.
import { AtpAgent } from '@atproto/api'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startPds, type PdsHandle } from '../harness/pds.js'
import { seedWorkload, type SeedSummary } from '../harness/seed.js'
import { pdsIdentityEnv, startBackfill, until, type BackfillRun } from '../support/backfill.js'

let pds: PdsHandle
let seed: SeedSummary
let run: BackfillRun

type ActorRow = { did: string; handle: string | null; checked: boolean }

async function actorRows(): Promise<ActorRow[]> {
  const { rows } = await run.pool.query<ActorRow>(
    'SELECT did, handle, identity_checked_at IS NOT NULL AS checked FROM actors WHERE did = ANY($1) ORDER BY did',
    [seed.dids],
  )
  return rows
}

beforeAll(async () => {
  pds = await startPds()
  seed = await seedWorkload(pds.url, { accounts: 3, actionsPerAccount: 3, seed: 91 })
  run = await startBackfill(pds.url, {
    ...pdsIdentityEnv(pds),
    FIREHOSE_ENABLED: 'true',
    BACKFILL_PROFILE: 'max',
    BACKFILL_DECODER: 'verified',
  })
  await run.sky.backfill.whenDone()
  expect(run.sky.backfill.getProgress().state).toBe('complete')
}, 60_000)

afterAll(async () => {
  await run?.close()
  await pds?.stop()
})

describe('handles under the verified decoder', () => {
  it('verifies every replayed actor, and no actor holds a handle before its check', async () => {
    // sampled while the identity service catches up: an unchecked row has no handle at all
    await until(
      async () => {
        const rows = await actorRows()
        for (const row of rows) if (!row.checked) expect(row.handle).toBeNull()
        return rows.length === seed.accounts.length && rows.every((r) => r.checked)
      },
      20_000,
      'every seeded actor to have its identity checked',
    )
    const byDid = new Map(seed.accounts.map((a) => [a.did, a.handle]))
    expect(await actorRows()).toEqual([...byDid].sort(([a], [b]) => (a < b ? -1 : 1)).map(([did, handle]) => ({ did, handle, checked: true })))
  })

  it('serves a handle changed on the PDS, verified, from the live #identity event', async () => {
    const account = seed.accounts[0]
    const renamed = `verified${account.index}.test`
    await account.agent.com.atproto.identity.updateHandle({ handle: renamed })
    await until(async () => (await actorRows()).find((r) => r.did === account.did)?.handle === renamed, 10_000, 'the new handle to be verified')
    expect((await actorRows()).find((r) => r.did === account.did)).toEqual({ did: account.did, handle: renamed, checked: true })
    const agent = new AtpAgent({ service: run.sky.url })
    expect((await agent.getProfile({ actor: renamed })).data.did).toBe(account.did)
  })
})
