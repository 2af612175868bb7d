// Handles as skyfill serves them after a backfill from Bluesky's reference PDS and its PLC directory: verified both
// ways for every account, handle.invalid for one whose handle resolves to someone else, and a handle changed on the
// PDS picked up from the live firehose's #identity event within seconds.
//
// HANDLE_RESOLVER_URL points at a small server of our own that answers resolveHandle as the PDS does, except for one
// handle, which it says belongs to another account: no real part lies on demand.
import { AtpAgent } from '@atproto/api'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startPds, type PdsHandle } from '../harness/pds.js'
import { seedWorkload, type SeededAccount, type SeedSummary } from '../harness/seed.js'
import { pdsIdentityEnv, startBackfill, until, type BackfillRun } from '../support/backfill.js'
import { startHttpServer, type TestHttpServer } from '../support/http-server.js'

let pds: PdsHandle
let seed: SeedSummary
let resolver: TestHttpServer
let run: BackfillRun
let agent: AtpAgent
/** The account whose handle the resolver gives to `claimant`. */
let hijacked: SeededAccount
let claimant: SeededAccount
let honest: SeededAccount[]

type ActorRow = { handle: string | null; pds_url: string | null; checked: boolean; identity_error: string | null }

async function actorRow(did: string): Promise<ActorRow | undefined> {
  const { rows } = await run.pool.query<ActorRow>(
    `SELECT handle, pds_url, identity_checked_at IS NOT NULL AS checked, identity_error FROM actors WHERE did = $1`,
    [did],
  )
  return rows[0]
}

const servedHandle = async (did: string) => (await agent.getProfile({ actor: did })).data.handle

beforeAll(async () => {
  pds = await startPds()
  seed = await seedWorkload(pds.url, { accounts: 4, actionsPerAccount: 4, seed: 77 })
  ;[hijacked, claimant] = seed.accounts
  honest = seed.accounts.slice(1)
  resolver = await startHttpServer({
    '/xrpc/com.atproto.identity.resolveHandle': (req, res) => {
      const handle = new URL(req.url!, resolver.url).searchParams.get('handle')
      if (handle === hijacked.handle) {
        res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ did: claimant.did }))
        return
      }
      void fetch(`${pds.url}${req.url}`).then(async (answer) => {
        res.writeHead(answer.status, { 'content-type': 'application/json' }).end(await answer.text())
      })
    },
  })
  run = await startBackfill(pds.url, {
    ...pdsIdentityEnv(pds, resolver.url),
    FIREHOSE_ENABLED: 'true',
    BACKFILL_PROFILE: 'max',
  })
  await run.sky.backfill.whenDone()
  expect(run.sky.backfill.getProgress().state).toBe('complete')
  await until(
    async () => (await Promise.all(seed.dids.map(actorRow))).every((row) => row?.checked),
    20_000,
    'every seeded actor to have its identity checked',
  )
  agent = new AtpAgent({ service: run.sky.url })
}, 60_000)

afterAll(async () => {
  await run?.close()
  await resolver?.close()
  await pds?.stop()
})

describe('identities after a backfill from the reference PDS', () => {
  it("verifies every account's real handle and records the PDS its DID document names", async () => {
    for (const account of honest) {
      expect(await actorRow(account.did)).toEqual({
        handle: account.handle,
        pds_url: pds.publicUrl,
        checked: true,
        identity_error: null,
      })
      expect(await servedHandle(account.did)).toBe(account.handle)
    }
  })

  it('serves handle.invalid for an account whose handle resolves to another DID, and says why', async () => {
    const row = await actorRow(hijacked.did)
    expect(row).toMatchObject({ handle: null, pds_url: pds.publicUrl, checked: true })
    expect(row!.identity_error).toContain(`resolves to ${claimant.did}, not to this DID`)
    expect(await servedHandle(hijacked.did)).toBe('handle.invalid')
  })

  it('counts the actors by identity state in /api/backfill', async () => {
    let identity: unknown
    await until(
      async () => {
        identity = ((await (await fetch(`${run.sky.url}/api/backfill`)).json()) as { identity: unknown }).identity
        return (identity as { verified?: number }).verified === honest.length
      },
      15_000,
      '/api/backfill to count the verified actors',
    )
    expect(identity).toMatchObject({ due: 0, verified: honest.length, invalid: 1, failed: 1 })
  })

  it('serves a handle changed on the PDS within seconds, from the #identity event on the live firehose', async () => {
    const account = honest[1]
    const renamed = `renamed${account.index}.test`
    // The backfill is complete and the handle was verified a TTL ahead: only the live #identity event can change it.
    await account.agent.com.atproto.identity.updateHandle({ handle: renamed })
    await until(async () => (await actorRow(account.did))?.handle === renamed, 10_000, 'the new handle to be verified')
    expect(run.sky.firehose!.getStatus()).toMatchObject({ state: 'live' })
    expect(await actorRow(account.did)).toEqual({ handle: renamed, pds_url: pds.publicUrl, checked: true, identity_error: null })
    expect(await servedHandle(account.did)).toBe(renamed)
    expect((await agent.getProfile({ actor: renamed })).data.did).toBe(account.did)
  })
})
