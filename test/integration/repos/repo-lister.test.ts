// The repository lister against Bluesky's reference PDS: every account becomes a job, a restart continues from the
// persisted cursor, inactive accounts are recorded with their status, requests go through the host limiter.
import pg from 'pg'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { createPool } from '../../../server/db/pools.js'
import { PerHostLimiter } from '../../../server/net/host-limiter.js'
import { type EnqueueEntry, PgRepoJobStore } from '../../../server/repos/job-store.js'
import { type FetchJson, RepoLister, listingSources } from '../../../server/repos/repo-lister.js'
import { testDatabase } from '../../harness/db.js'
import { type PdsHandle, startPds } from '../../harness/pds.js'
import type { TestDatabase } from '../../harness/postgres.js'
import { type SeedSummary, seedAccount, seedWorkload } from '../../harness/seed.js'

let db: TestDatabase
let pool: pg.Pool
let store: PgRepoJobStore
let pds: PdsHandle
let pds2: PdsHandle
let seed: SeedSummary
let inactiveDid: string
let otherDid: string

/** Plain fetch behind the host limiter, standing in for safeFetch until it is wired. */
const limitedFetchJson = (limiter: PerHostLimiter): FetchJson => async (url, signal) => {
  const permit = await limiter.acquire(new URL(url).host, signal)
  let status: number | null = null
  let headers: Record<string, string> | null = null
  try {
    const res = await fetch(url, { signal })
    status = res.status
    headers = Object.fromEntries(res.headers)
    if (!res.ok) throw new Error(`GET ${url}: HTTP ${res.status}`)
    return await res.json()
  } finally {
    permit.release({ status, headers })
  }
}

/** A store that remembers every entry it was asked to enqueue. */
const recordingStore = (seen: EnqueueEntry[]) => ({
  enqueue: (entries: EnqueueEntry[]) => {
    seen.push(...entries)
    return store.enqueue(entries)
  },
})

const jobs = async () =>
  (await pool.query<{ did: string; state: string; discovered_via: string; host: string | null; account_status: string | null }>(
    'SELECT did, state, discovered_via, host, account_status FROM repos ORDER BY did',
  )).rows

beforeAll(async () => {
  db = await testDatabase()
  pool = createPool(db.url, 'backfill', 4)
  store = new PgRepoJobStore(pool)
  pds = await startPds()
  pds2 = await startPds({ plcUrl: pds.plcUrl, handleDomain: '.pds2.test' })
  seed = await seedWorkload(pds.url, { accounts: 7, actionsPerAccount: 3, seed: 3 })
  const quitter = await seedAccount(pds.url, { index: 50 })
  await quitter.agent.com.atproto.server.deactivateAccount({})
  inactiveDid = quitter.did
  otherDid = (await seedAccount(pds2.url, { index: 1, handle: 'user1.pds2.test' })).did
})

afterEach(async () => {
  await pool.query('TRUNCATE repos, repo_listings')
})

afterAll(async () => {
  await Promise.all([pds2?.stop(), pds?.stop()])
  await pool?.end()
  await db?.drop()
})

describe('listing repositories', () => {
  it('enqueues every account of a PDS, through the host limiter', async () => {
    const limiter = new PerHostLimiter()
    const [source] = listingSources(null, [pds.url])
    const lister = new RepoLister(pool, { store, fetchJson: limitedFetchJson(limiter), since: '3kwindowstart', pageSize: 3 })
    const outcome = await lister.list(source, new AbortController().signal)
    expect(outcome).toMatchObject({ source: `pds:${new URL(pds.url).host}`, listed: 8, enqueued: 8, rejected: 0, complete: true })
    // 8 accounts in pages of 3: 3 + 3 + 2, then an empty page ends it
    expect(outcome.pages).toBe(4)
    expect(limiter.snapshot()).toMatchObject([{ host: new URL(pds.url).host, requests: 4, inFlight: 0 }])
    const rows = await jobs()
    expect(rows.map((r) => r.did).sort()).toEqual([...seed.dids, inactiveDid].sort())
    expect(rows.every((r) => r.discovered_via === source.name && r.host === source.host)).toBe(true)
    const { rows: since } = await pool.query('SELECT DISTINCT since FROM repos')
    expect(since).toEqual([{ since: '3kwindowstart' }])
    const { rows: listing } = await pool.query('SELECT source, cursor, complete, repos FROM repo_listings')
    expect(listing).toMatchObject([{ source: source.name, complete: true, repos: '8' }])
  })

  it('records a deactivated account as unavailable with its status', async () => {
    const lister = new RepoLister(pool, { store, fetchJson: limitedFetchJson(new PerHostLimiter()), since: null })
    await lister.list(listingSources(null, [pds.url])[0], new AbortController().signal)
    const row = (await jobs()).find((r) => r.did === inactiveDid)
    expect(row).toMatchObject({ state: 'unavailable', account_status: 'deactivated' })
    expect((await store.counts()).pending).toBe(7)
  })

  it('a restart in the middle continues from the persisted cursor and enqueues each account once', async () => {
    const source = listingSources(null, [pds.url])[0]
    const seen: EnqueueEntry[] = []
    const urls: string[] = []
    const base = limitedFetchJson(new PerHostLimiter())
    const stop = new AbortController()
    const crashing = new RepoLister(pool, {
      store: recordingStore(seen),
      since: null,
      pageSize: 2,
      // the third page's request is cut off by the shutdown
      fetchJson: async (url, signal) => {
        urls.push(url)
        if (urls.length === 3) stop.abort(new Error('shutdown'))
        return base(url, signal)
      },
    })
    const first = await crashing.list(source, stop.signal)
    expect(first).toMatchObject({ pages: 2, listed: 4, complete: false, stopped: 'aborted' })
    const { rows } = await pool.query<{ cursor: string }>('SELECT cursor FROM repo_listings')
    expect(new URL(urls[2]).searchParams.get('cursor')).toBe(rows[0].cursor)

    const restartedUrls: string[] = []
    const restarted = new RepoLister(pool, {
      store: recordingStore(seen),
      since: null,
      pageSize: 2,
      fetchJson: (url, signal) => (restartedUrls.push(url), base(url, signal)),
    })
    const second = await restarted.list(source, new AbortController().signal)
    expect(second).toMatchObject({ listed: 4, enqueued: 4, complete: true, stopped: null })
    expect(new URL(restartedUrls[0]).searchParams.get('cursor')).toBe(rows[0].cursor)
    const dids = seen.map((e) => e.did)
    expect(dids.length).toBe(8)
    expect(new Set(dids).size).toBe(8)
    expect((await store.counts()).total).toBe(8)

    // a listing that reached its end is not listed again
    const again: string[] = []
    const third = new RepoLister(pool, { store, since: null, fetchJson: async (url) => (again.push(url), {}) })
    expect(await third.list(source, new AbortController().signal)).toMatchObject({ complete: true, pages: 0 })
    expect(again).toEqual([])
  })

  it('lists two PDSes on one PLC side by side, each job with its own host', async () => {
    const limiter = new PerHostLimiter()
    const lister = new RepoLister(pool, { store, fetchJson: limitedFetchJson(limiter), since: null })
    const sources = listingSources(null, [pds.url, pds2.url])
    const outcomes = await lister.listAll(sources, new AbortController().signal)
    expect(outcomes.map((o) => [o.source, o.enqueued, o.complete])).toEqual([
      [sources[0].name, 8, true],
      [sources[1].name, 1, true],
    ])
    const row = (await jobs()).find((r) => r.did === otherDid)
    expect(row).toMatchObject({ state: 'pending', host: new URL(pds2.url).host, discovered_via: sources[1].name })
    expect((await store.hosts()).map((h) => [h.host, h.pending])).toEqual([
      [new URL(pds.url).host, 7],
      [new URL(pds2.url).host, 1],
    ].sort())
  })

  it('a second lister of the same source stops once the first has written a page', async () => {
    const source = listingSources(null, [pds.url])[0]
    const base = limitedFetchJson(new PerHostLimiter())
    let firstPageWritten!: () => void
    const written = new Promise<void>((r) => (firstPageWritten = r))
    const slow = new RepoLister(pool, {
      store,
      since: null,
      pageSize: 2,
      // holds its first page back until the other lister has saved its own
      fetchJson: async (url, signal) => {
        const body = await base(url, signal)
        await written
        return body
      },
    })
    const fast = new RepoLister(pool, {
      store: {
        enqueue: async (entries) => {
          const n = await store.enqueue(entries)
          setTimeout(firstPageWritten, 50)
          return n
        },
      },
      since: null,
      pageSize: 2,
      fetchJson: base,
    })
    const [a, b] = await Promise.all([
      slow.list(source, new AbortController().signal),
      fast.list(source, new AbortController().signal),
    ])
    expect(a).toMatchObject({ pages: 1, stopped: 'taken over by another lister', complete: false })
    expect(b).toMatchObject({ complete: true, stopped: null })
    expect((await store.counts()).total).toBe(8)
  })

  it('rejects entries with a bad DID, logs how many, and keeps the good ones', async () => {
    const lines: string[] = []
    const good = 'did:plc:ewvi7nxzyoun6zhxrhs64oiz'
    const lister = new RepoLister(pool, {
      store,
      since: null,
      log: (l) => lines.push(l),
      fetchJson: async () => ({
        repos: [{ did: good, head: 'x', rev: 'y' }, { did: 'did:bad' }, { did: 42 }, null, { did: 'did:plc:UPPER' }],
      }),
    })
    const outcome = await lister.list({ name: 'relay', baseUrl: 'http://relay.invalid', host: null }, new AbortController().signal)
    expect(outcome).toMatchObject({ listed: 5, enqueued: 1, rejected: 4, complete: true })
    expect((await jobs()).map((r) => r.did)).toEqual([good])
    expect(lines).toHaveLength(1)
    expect(lines[0]).toMatch(/^listRepos relay: 4 of 5 entries rejected \(first \{"did":"did:bad"\}: /)
  })

  it('stops a source whose answer is not a listing, and says which and why', async () => {
    const lister = new RepoLister(pool, { store, since: null, fetchJson: async () => ({ error: 'InternalServerError' }) })
    const outcome = await lister.list({ name: 'relay', baseUrl: 'http://relay.invalid', host: null }, new AbortController().signal)
    expect(outcome.complete).toBe(false)
    expect(outcome.stopped).toMatch(/^listRepos relay after 0 pages: listRepos http:\/\/relay\.invalid\/xrpc\/com\.atproto\.sync\.listRepos\?limit=1000: expected an object with a repos array/)
  })
})
