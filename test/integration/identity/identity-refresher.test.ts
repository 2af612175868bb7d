// The identity refresher on a real database: actors met by the indexer get verified handles and their PDS from the
// reference PDS's PLC; faults come from a local PLC stand-in; claiming is shown with several refreshers at once.
import pg from 'pg'
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest'
import { createPool } from '../../../server/db/pools.js'
import { IdentityRefresher, type IdentityRefresherOptions } from '../../../server/identity/identity-refresher.js'
import {
  networkIdentityDeps,
  resolveIdentity,
  type IdentityNetworkOptions,
  type ResolvedIdentity,
} from '../../../server/identity/resolve-identity.js'
import { testDatabase } from '../../harness/db.js'
import { startPds, type PdsHandle } from '../../harness/pds.js'
import type { TestDatabase } from '../../harness/postgres.js'
import { seedWorkload, type SeedSummary } from '../../harness/seed.js'
import { startHttpServer, type TestHttpServer } from '../../support/http-server.js'
import { didDocument, didWebOf, serveDidWeb, servePlcDid } from '../../support/identity-fixtures.js'

const TTL_MS = 86_400_000
const RETRY_MS = 400
const refresherOptions: IdentityRefresherOptions = {
  concurrency: 3,
  ttlMs: TTL_MS,
  retryMs: RETRY_MS,
  batch: 10,
  pollMs: 50,
}

let pds: PdsHandle
let seed: SeedSummary
let web: TestHttpServer
let plc: TestHttpServer
let network: IdentityNetworkOptions
let db: TestDatabase
let pool: pg.Pool
const refreshers: IdentityRefresher[] = []
const lines: string[] = []

beforeAll(async () => {
  pds = await startPds()
  seed = await seedWorkload(pds.url, { accounts: 3, actionsPerAccount: 2, seed: 12 })
  web = await startHttpServer()
  plc = await startHttpServer()
  network = { plcUrl: pds.plcUrl, handleResolverUrl: pds.url, allowPrivate: true, timeoutMs: 3000 }
})

afterAll(async () => {
  await Promise.all([pds?.stop(), web?.close(), plc?.close()])
})

beforeEach(async () => {
  db = await testDatabase()
  pool = createPool(db.url, 'backfill', 4)
})

afterEach(async () => {
  await Promise.all(refreshers.splice(0).map((r) => r.stop()))
  await pool.end()
  await db.drop()
})

const refresher = (
  resolve: (did: string) => Promise<ResolvedIdentity>,
  opts: Partial<IdentityRefresherOptions> = {},
) => {
  const r = new IdentityRefresher(pool, { ...refresherOptions, ...opts }, resolve, (l) => lines.push(l))
  refreshers.push(r)
  r.start()
  return r
}

const networkResolve = (over: Partial<IdentityNetworkOptions> = {}) => {
  const deps = networkIdentityDeps({ ...network, ...over })
  return (did: string) => resolveIdentity(did, deps)
}

/** What a resolver stand-in answers, for the tests about claiming rather than resolving. */
const fakeIdentity = (did: string, handle: string | null): ResolvedIdentity => ({
  did,
  handle,
  claimedHandle: handle,
  pdsUrl: 'https://pds.example.com',
  signingKey: null,
  problem: handle ? null : 'no handle',
  retryable: false,
})

const insertActors = (rows: { did: string; handle?: string | null }[]) =>
  pool.query(`INSERT INTO actors (did, handle) SELECT * FROM unnest($1::text[], $2::text[])`, [
    rows.map((r) => r.did),
    rows.map((r) => r.handle ?? null),
  ])

type Row = {
  did: string
  handle: string | null
  pds_url: string | null
  identity_error: string | null
  checked: boolean
  due_in_ms: number | null
}

const actorRows = async (): Promise<Map<string, Row>> => {
  const { rows } = await pool.query<Row>(`
    SELECT did, handle, pds_url, identity_error, identity_checked_at IS NOT NULL AS checked,
           (extract(epoch FROM identity_due_at - now()) * 1000)::float8 AS due_in_ms
    FROM actors`)
  return new Map(rows.map((r) => [r.did, r]))
}

const until = async (what: string, check: () => Promise<boolean>, timeoutMs = 10_000) => {
  const deadline = Date.now() + timeoutMs
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting until ${what}`)
    await new Promise((r) => setTimeout(r, 50))
  }
}

describe('the identity refresher', () => {
  it('fills every actor with its verified handle and PDS, and says why the others have none', async () => {
    const impostor = didWebOf(web)
    serveDidWeb(web, didDocument(impostor, { alsoKnownAs: [`at://${seed.accounts[0].handle}`], pdsUrl: pds.publicUrl }))
    const missing = 'did:plc:cccccccccccccccccccccccc'
    await insertActors([
      { did: seed.accounts[0].did, handle: 'stale.test' },
      { did: seed.accounts[1].did },
      { did: seed.accounts[2].did },
      { did: impostor, handle: seed.accounts[0].handle },
      { did: missing, handle: 'gone.test' },
    ])
    const r = refresher(networkResolve())
    await r.whenIdle()

    const rows = await actorRows()
    for (const account of seed.accounts) {
      const row = rows.get(account.did)!
      expect(row).toMatchObject({ handle: account.handle, pds_url: pds.publicUrl, identity_error: null, checked: true })
      expect(row.due_in_ms).toBeGreaterThan(TTL_MS - 60_000)
    }
    expect(rows.get(impostor)).toMatchObject({ handle: null, pds_url: pds.publicUrl, checked: true })
    expect(rows.get(impostor)!.identity_error).toContain(`resolves to ${seed.accounts[0].did}, not to this DID`)
    expect(rows.get(missing)).toMatchObject({ handle: null, pds_url: null, checked: true })
    expect(rows.get(missing)!.identity_error).toContain('not-found')
    expect(await r.counts()).toEqual({ due: 0, verified: 3, invalid: 2, failed: 2 })
  })

  it('keeps what it knew while the PLC directory is down, records why, and succeeds on a later try', async () => {
    const account = seed.accounts[1]
    let down = true
    servePlcDid(plc, account.did, () => (down ? 503 : new URL(pds.plcUrl)))
    await insertActors([{ did: account.did, handle: account.handle }])
    const r = refresher(networkResolve({ plcUrl: plc.url }))
    await r.whenIdle()

    const failed = (await actorRows()).get(account.did)!
    expect(failed).toMatchObject({ handle: account.handle, pds_url: null, checked: false })
    expect(failed.identity_error).toContain('unavailable')
    expect(failed.identity_error).toContain('HTTP 503')
    expect(failed.due_in_ms).toBeGreaterThan(0)
    expect(failed.due_in_ms).toBeLessThanOrEqual(RETRY_MS)
    expect(await r.counts()).toMatchObject({ verified: 0, invalid: 0, failed: 1 })

    down = false
    await until('the actor is verified', async () => (await actorRows()).get(account.did)!.checked)
    expect((await actorRows()).get(account.did)).toMatchObject({
      handle: account.handle,
      pds_url: pds.publicUrl,
      identity_error: null,
    })
    expect(plc.requests.filter((p) => p.includes(encodeURIComponent(account.did))).length).toBeGreaterThanOrEqual(2)
  })

  it('shares the work between refreshers: each due actor is resolved once', async () => {
    const dids = Array.from({ length: 60 }, (_, i) => `did:web:actor${i}.example.com`)
    await insertActors(dids.map((did) => ({ did })))
    const resolved: string[] = []
    const slowFake = async (did: string): Promise<ResolvedIdentity> => {
      resolved.push(did)
      await new Promise((r) => setTimeout(r, 5))
      const handle = did.slice('did:web:'.length)
      return fakeIdentity(did, handle)
    }
    const all = [
      refresher(slowFake, { batch: 7 }),
      refresher(slowFake, { batch: 7 }),
      refresher(slowFake, { batch: 7 }),
    ]
    await Promise.all(all.map((r) => r.whenIdle()))
    expect(resolved.sort()).toEqual([...dids].sort())
    const rows = await actorRows()
    expect(dids.every((did) => rows.get(did)!.handle === did.slice('did:web:'.length))).toBe(true)
  })

  it('skips actors another process is claiming, without waiting for it', async () => {
    const dids = Array.from({ length: 6 }, (_, i) => `did:web:locked${i}.example.com`)
    await insertActors(dids.map((did) => ({ did })))
    const other = new pg.Client({ connectionString: db.url })
    await other.connect()
    try {
      await other.query('BEGIN')
      await other.query(`SELECT did FROM actors WHERE did = ANY($1) FOR UPDATE`, [dids.slice(0, 2)])
      const resolved: string[] = []
      const r = refresher(async (did) => {
        resolved.push(did)
        return fakeIdentity(did, null)
      })
      const idle = await Promise.race([r.whenIdle().then(() => true), new Promise((ok) => setTimeout(ok, 5000, false))])
      expect(idle).toBe(true)
      expect(resolved.sort()).toEqual(dids.slice(2))
      await other.query('COMMIT')
      await r.whenIdle()
      expect(resolved.sort()).toEqual(dids)
    } finally {
      await other.end()
    }
  })

  it('does not write a result over an #identity event that came while it was resolving', async () => {
    const did = seed.accounts[2].did
    await insertActors([{ did }])
    let calls = 0
    let release!: () => void
    const released = new Promise<void>((r) => (release = r))
    let started!: () => void
    const firstStarted = new Promise<void>((r) => (started = r))
    const resolve = async (d: string): Promise<ResolvedIdentity> => {
      calls++
      const handle = calls === 1 ? 'before-the-event.test' : 'after-the-event.test'
      if (calls === 1) {
        started()
        await released
      }
      return fakeIdentity(d, handle)
    }
    const r = refresher(resolve)
    await firstStarted
    // What the indexer does on #identity: the actor is due again now.
    await pool.query(`UPDATE actors SET identity_due_at = now() WHERE did = $1`, [did])
    release()
    await until('the actor is checked', async () => (await actorRows()).get(did)!.checked)
    await r.whenIdle()
    expect(calls).toBe(2)
    expect((await actorRows()).get(did)!.handle).toBe('after-the-event.test')
  })

  it('gives back the claims it had not started when stopped', async () => {
    const dids = Array.from({ length: 5 }, (_, i) => `did:web:stop${i}.example.com`)
    await insertActors(dids.map((did) => ({ did })))
    let started!: () => void
    const firstStarted = new Promise<void>((r) => (started = r))
    const resolve = async (did: string): Promise<ResolvedIdentity> => {
      started()
      await new Promise((r) => setTimeout(r, 100))
      return fakeIdentity(did, null)
    }
    const r = refresher(resolve, { concurrency: 1, batch: 5, leaseMs: 60_000 })
    await firstStarted
    await r.stop()
    const rows = [...(await actorRows()).values()]
    expect(rows.filter((row) => row.checked)).toHaveLength(1)
    expect(rows.filter((row) => !row.checked).every((row) => row.due_in_ms! <= 0)).toBe(true)
    expect(await r.counts()).toMatchObject({ due: 4, invalid: 1 })
  })

  it('gives back, without recording a failure, a claim whose resolution the shutdown cut short', async () => {
    const did = 'did:web:cut-short.example.com'
    await insertActors([{ did, handle: 'known.test' }])
    const shutdown = new AbortController()
    let started!: () => void
    const firstStarted = new Promise<void>((r) => (started = r))
    // As the network resolvers do when their signal aborts: the request in flight fails.
    const resolve = (): Promise<ResolvedIdentity> =>
      new Promise((_, reject) => {
        started()
        shutdown.signal.addEventListener('abort', () => reject(new Error('aborted')))
      })
    const r = refresher(resolve, { leaseMs: 60_000 })
    await firstStarted
    const stopped = r.stop()
    shutdown.abort()
    await stopped
    const row = (await actorRows()).get(did)!
    expect(row).toMatchObject({ handle: 'known.test', identity_error: null, checked: false })
    expect(row.due_in_ms).toBeLessThanOrEqual(0)
  })
})
