// The repository job store on a real database: exclusive claims under leases, resume after a restart, backoff.
import pg from 'pg'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { createPool } from '../../../server/db/pools.js'
import type { RetryPolicy } from '../../../server/repos/job-state.js'
import { type EnqueueEntry, PgRepoJobStore } from '../../../server/repos/job-store.js'
import { testDatabase } from '../../harness/db.js'
import type { TestDatabase } from '../../harness/postgres.js'

const FAST_RETRY: RetryPolicy = { baseDelayMs: 200, maxDelayMs: 10_000, maxAttempts: 3, jitter: 0 }

let db: TestDatabase
let pool: pg.Pool
let store: PgRepoJobStore

const did = (n: number) => `did:plc:${String(n).padStart(24, 'a')}`
const entry = (n: number, over: Partial<EnqueueEntry> = {}): EnqueueEntry => ({
  did: did(n),
  discoveredVia: 'relay',
  since: null,
  active: true,
  status: null,
  ...over,
})
const range = (from: number, to: number) => Array.from({ length: to - from }, (_, i) => from + i)
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))
const done = { rev: '3l4abc', dataCid: 'bafyreidata', records: 7, host: 'pds.example.com' }

beforeAll(async () => {
  db = await testDatabase()
  pool = createPool(db.url, 'backfill', 4)
  store = new PgRepoJobStore(pool, FAST_RETRY, () => 0)
})

afterEach(async () => {
  await pool.query('TRUNCATE repos')
})

afterAll(async () => {
  await pool.end()
  await db.drop()
})

describe('enqueue', () => {
  it('adds new repositories as pending and says how many were new', async () => {
    expect(await store.enqueue([entry(1), entry(2), entry(2)])).toBe(2)
    expect(await store.enqueue([entry(2), entry(3)])).toBe(1)
    expect(await store.counts()).toEqual({ pending: 3, fetching: 0, done: 0, failed: 0, unavailable: 0, total: 3 })
  })

  it('records an inactive account as unavailable with its status, and never claims it', async () => {
    await store.enqueue([entry(1, { active: false, status: 'deactivated' }), entry(2)])
    expect((await store.get(did(1)))?.status).toEqual({
      state: 'unavailable',
      accountStatus: 'deactivated',
      reason: 'listed as inactive by relay',
    })
    expect((await store.claim('a', 10, 60_000)).map((j) => j.did)).toEqual([did(2)])
  })

  it('does not reset a done repository listed again', async () => {
    await store.enqueue([entry(1, { since: 'since1' })])
    await store.claim('a', 1, 60_000)
    expect(await store.markDone(pool, did(1), 'a', done)).toBe(true)
    expect(await store.enqueue([entry(1, { discoveredVia: 'pds:other', host: 'other' })])).toBe(0)
    const row = await store.get(did(1))
    expect(row?.status).toEqual({ state: 'done', rev: '3l4abc', dataCid: 'bafyreidata', records: 7 })
    expect(row?.host).toBe('pds.example.com')
    expect(row?.discoveredVia).toBe('relay')
  })

  it('a pending job the relay listed takes the host a PDS listing gives it', async () => {
    await store.enqueue([entry(1)])
    expect(await store.enqueue([entry(1, { discoveredVia: 'pds:a.test', host: 'a.test' })])).toBe(0)
    expect((await store.get(did(1)))?.host).toBe('a.test')
  })
})

describe('claim', () => {
  it('two instances racing never claim the same repository', async () => {
    const n = 600
    await store.enqueue(range(0, n).map((i) => entry(i)))
    const other = createPool(db.url, 'backfill', 4)
    try {
      const stores = [store, new PgRepoJobStore(other)]
      const claimed = new Map<string, string>()
      const duplicates: string[] = []
      let rounds = 0
      for (;;) {
        rounds++
        const got = await Promise.all(
          [0, 1, 2, 3].map((k) => stores[k % 2].claim(`owner${k}`, 9, 60_000).then((jobs) => ({ k, jobs }))),
        )
        if (got.every((g) => g.jobs.length === 0)) break
        for (const { k, jobs } of got) {
          for (const j of jobs) {
            if (claimed.has(j.did)) duplicates.push(j.did)
            claimed.set(j.did, `owner${k}`)
          }
        }
      }
      expect(duplicates).toEqual([])
      expect(claimed.size).toBe(n)
      expect(rounds).toBeGreaterThan(10)
      // the rows agree with who was handed each job
      const { rows } = await pool.query<{ did: string; lease_owner: string }>(
        "SELECT did, lease_owner FROM repos WHERE state = 'fetching'",
      )
      expect(new Map(rows.map((r) => [r.did, r.lease_owner]))).toEqual(claimed)
    } finally {
      await other.end()
    }
  })

  it('a lease that ran out is taken over, and then only the new holder can finish the job', async () => {
    await store.enqueue([entry(1)])
    expect((await store.claim('a', 1, 50)).map((j) => j.did)).toEqual([did(1)])
    expect(await store.claim('b', 1, 60_000)).toEqual([])
    await sleep(120)
    const [taken] = await store.claim('b', 1, 60_000)
    expect(taken.did).toBe(did(1))
    expect(await store.markDone(pool, did(1), 'a', done)).toBe(false)
    expect(await store.markDone(pool, did(1), 'b', done)).toBe(true)
    expect((await store.get(did(1)))?.status.state).toBe('done')
  })

  it('a renewed lease is not taken over; renew returns only the leases still held', async () => {
    await store.enqueue([entry(1), entry(2)])
    await store.claim('a', 2, 50)
    await pool.query("UPDATE repos SET lease_owner = 'b' WHERE did = $1", [did(2)])
    expect(await store.renew('a', [did(1), did(2)], 60_000)).toEqual([did(1)])
    await sleep(120)
    expect((await store.claim('c', 10, 60_000)).map((j) => j.did)).toEqual([did(2)])
  })

  it('a done repository is never claimed again', async () => {
    await store.enqueue(range(0, 5).map((i) => entry(i)))
    const jobs = await store.claim('a', 10, 50)
    for (const j of jobs) expect(await store.markDone(pool, j.did, 'a', done)).toBe(true)
    await sleep(120)
    expect(await store.claim('b', 10, 60_000)).toEqual([])
    expect((await store.counts()).done).toBe(5)
  })

  it('markDone in the writer transaction commits with it, or not at all', async () => {
    await store.enqueue([entry(1)])
    await store.claim('a', 1, 60_000)
    const client = await pool.connect()
    try {
      await client.query('BEGIN')
      expect(await store.markDone(client, did(1), 'a', done)).toBe(true)
      await client.query('ROLLBACK')
    } finally {
      client.release()
    }
    expect((await store.get(did(1)))?.status.state).toBe('fetching')
  })

  it('takes the first job of every host before the second of any', async () => {
    await store.enqueue(range(0, 10).map((i) => entry(i, { discoveredVia: 'pds:a.test', host: 'a.test' })))
    await store.enqueue(range(10, 20).map((i) => entry(i, { discoveredVia: 'pds:b.test', host: 'b.test' })))
    await store.enqueue(range(20, 30).map((i) => entry(i)))
    const hosts = (await store.claim('a', 6, 60_000)).map((j) => j.host ?? 'unknown').sort()
    expect(hosts).toEqual(['a.test', 'a.test', 'b.test', 'b.test', 'unknown', 'unknown'])
  })

  it('leaves the jobs of hosts it is asked to avoid', async () => {
    await store.enqueue(range(0, 3).map((i) => entry(i, { discoveredVia: 'pds:a.test', host: 'a.test' })))
    await store.enqueue(range(3, 6).map((i) => entry(i, { discoveredVia: 'pds:b.test', host: 'b.test' })))
    const jobs = await store.claim('a', 10, 60_000, { avoidHosts: ['a.test'] })
    expect(jobs.map((j) => j.host)).toEqual(['b.test', 'b.test', 'b.test'])
  })

  it('resyncsOnly takes the repositories queued for a resync and leaves a backfill run’s jobs', async () => {
    await store.enqueue(range(0, 4).map((i) => entry(i)))
    // 1 resyncing, 2 desynchronized (not yet queued), 3 active: only 1 is a resync's
    await pool.query(
      `INSERT INTO repo_positions (did, sync_state) VALUES ($1, 'resyncing'), ($2, 'desynchronized'), ($3, 'active')`,
      [did(1), did(2), did(3)],
    )
    try {
      expect((await store.claim('a', 10, 60_000, { resyncsOnly: true })).map((j) => j.did)).toEqual([did(1)])
      expect((await store.claim('a', 10, 60_000)).map((j) => j.did).sort()).toEqual([did(0), did(2), did(3)])
    } finally {
      await pool.query('TRUNCATE repo_positions')
    }
  })
})

describe('failures', () => {
  it('a failed repository says why, and is retried only after its backoff', async () => {
    await store.enqueue([entry(1)])
    await store.claim('a', 1, 60_000)
    const before = Date.now()
    expect(await store.markFailed(did(1), 'a', 'getRepo: HTTP 502', { retryable: true, host: 'pds.example.com' })).toBe('retrying')
    const row = await store.get(did(1))
    expect(row?.host).toBe('pds.example.com')
    expect(row?.status.state).toBe('failed')
    if (row?.status.state !== 'failed') return
    expect(row.status.reason).toBe('getRepo: HTTP 502')
    expect(row.status.attempts).toBe(1)
    const delay = row.status.nextTryAt!.getTime() - before
    expect(delay).toBeGreaterThan(100)
    expect(delay).toBeLessThan(1_000)
    expect(await store.claim('a', 1, 60_000)).toEqual([])
    await sleep(300)
    const [again] = await store.claim('b', 1, 60_000)
    expect(again).toMatchObject({ did: did(1), attempts: 1 })
    // the second failure waits twice as long
    await store.markFailed(did(1), 'b', 'getRepo: timeout', { retryable: true })
    const second = await store.get(did(1))
    if (second?.status.state !== 'failed') throw new Error('expected failed')
    expect(second.status.attempts).toBe(2)
    expect(second.status.nextTryAt!.getTime() - Date.now()).toBeGreaterThan(250)
    expect(await store.recentFailures(10)).toEqual([
      { did: did(1), host: 'pds.example.com', reason: 'getRepo: timeout', attempts: 2, nextTryAt: second.status.nextTryAt },
    ])
  })

  it('after the attempts cap a repository stays failed until retryFailed', async () => {
    await store.enqueue([entry(1)])
    for (let i = 0; i < FAST_RETRY.maxAttempts; i++) {
      await pool.query('UPDATE repos SET next_try_at = now()')
      expect(await store.claim('a', 1, 60_000)).toHaveLength(1)
      const outcome = await store.markFailed(did(1), 'a', `failure ${i + 1}`, { retryable: true })
      expect(outcome).toBe(i + 1 < FAST_RETRY.maxAttempts ? 'retrying' : 'given-up')
    }
    const row = await store.get(did(1))
    expect(row?.status).toEqual({ state: 'failed', reason: 'failure 3', attempts: 3, nextTryAt: null })
    expect(await store.claim('a', 1, 60_000)).toEqual([])
    expect(await store.retryFailed()).toBe(1)
    expect(await store.claim('a', 1, 60_000)).toMatchObject([{ did: did(1), attempts: 0 }])
  })

  it('a failure that is not retryable is not retried', async () => {
    await store.enqueue([entry(1)])
    await store.claim('a', 1, 60_000)
    expect(await store.markFailed(did(1), 'a', 'CAR larger than 1 GiB', { retryable: false })).toBe('given-up')
    expect((await store.get(did(1)))?.status).toMatchObject({ state: 'failed', attempts: 1, nextTryAt: null })
  })

  it('a repository found gone is unavailable with its status', async () => {
    await store.enqueue([entry(1)])
    await store.claim('a', 1, 60_000)
    expect(await store.markUnavailable(did(1), 'a', 'takendown', 'getRepo: RepoTakendown')).toBe(true)
    expect((await store.get(did(1)))?.status).toEqual({
      state: 'unavailable',
      accountStatus: 'takendown',
      reason: 'getRepo: RepoTakendown',
    })
  })

  it('the SQL refuses a move the transitions do not allow, even for the lease holder', async () => {
    await store.enqueue([entry(1)])
    await store.claim('a', 1, 60_000)
    await store.markDone(pool, did(1), 'a', done)
    // a done row that still names an owner (as a hand-edited or buggy row might)
    await pool.query("UPDATE repos SET lease_owner = 'a' WHERE did = $1", [did(1)])
    expect(await store.markFailed(did(1), 'a', 'late failure', { retryable: true })).toBe('not-held')
    expect(await store.markUnavailable(did(1), 'a', 'deleted', 'late')).toBe(false)
    expect(await store.markDone(pool, did(1), 'a', { ...done, rev: 'other' })).toBe(false)
    expect((await store.get(did(1)))?.status).toMatchObject({ state: 'done', rev: '3l4abc' })
  })
})

describe('restart', () => {
  it('a new store claims what was pending and what the dead instance held once its leases ran out', async () => {
    await store.enqueue(range(0, 10).map((i) => entry(i)))
    const crashed = createPool(db.url, 'backfill', 2)
    const dead = new PgRepoJobStore(crashed)
    const held = await dead.claim('dead', 4, 100)
    await dead.markDone(crashed, held[0].did, 'dead', done)
    await dead.markDone(crashed, held[1].did, 'dead', done)
    await crashed.end() // no release: the instance died

    const fresh = new PgRepoJobStore(pool)
    const first = await fresh.claim('new', 100, 60_000)
    expect(first).toHaveLength(6) // the pending ones; the two still leased wait for their lease
    await sleep(150)
    const second = await fresh.claim('new', 100, 60_000)
    expect(second.map((j) => j.did).sort()).toEqual([held[2].did, held[3].did].sort())
    const all = new Set([...first, ...second].map((j) => j.did))
    expect(all.has(held[0].did) || all.has(held[1].did)).toBe(false)
  })

  it('release hands an instance’s jobs back as pending, at once claimable by another', async () => {
    await store.enqueue(range(0, 3).map((i) => entry(i)))
    await store.claim('a', 2, 60_000)
    expect(await store.release('a')).toBe(2)
    expect(await store.counts()).toMatchObject({ pending: 3, fetching: 0 })
    expect(await store.claim('b', 10, 60_000)).toHaveLength(3)
  })

  it('release of some jobs hands back only those: the instance keeps the others it holds', async () => {
    await store.enqueue(range(0, 3).map((i) => entry(i)))
    await store.claim('a', 3, 60_000)
    expect(await store.release('a', [did(1)])).toBe(1)
    expect(await store.counts()).toMatchObject({ pending: 1, fetching: 2 })
    expect((await store.claim('b', 10, 60_000)).map((j) => j.did)).toEqual([did(1)])
  })
})

describe('reset for a resync', () => {
  it('a done repository is fetched again from the given since', async () => {
    await store.enqueue([entry(1)])
    await store.claim('a', 1, 60_000)
    await store.markDone(pool, did(1), 'a', done)
    await store.reset(did(1), '3l4abc')
    const [job] = await store.claim('a', 1, 60_000)
    expect(job).toMatchObject({ did: did(1), since: '3l4abc', rev: '3l4abc', attempts: 0 })
  })

  it('a job not yet done keeps the earlier of its since and the new one', async () => {
    await store.enqueue([entry(1, { since: '3kaaaaaaaaaaa' }), entry(2)])
    await store.reset(did(1), '3lzzzzzzzzzzz')
    await store.reset(did(2), '3lzzzzzzzzzzz')
    expect((await store.get(did(1)))?.since).toBe('3kaaaaaaaaaaa')
    expect((await store.get(did(2)))?.since).toBeNull()
  })

  it('an unknown repository is added as pending', async () => {
    await store.reset(did(9), null)
    expect(await store.get(did(9))).toMatchObject({ discoveredVia: 'resync', status: { state: 'pending' } })
  })
})

describe('views', () => {
  it('counts per state and per host', async () => {
    await store.enqueue(range(0, 3).map((i) => entry(i, { discoveredVia: 'pds:a.test', host: 'a.test' })))
    await store.enqueue([entry(3), entry(4, { active: false, status: 'takendown' })])
    const [first] = await store.claim('a', 1, 60_000)
    expect(first.host).toBe('a.test')
    await store.markFailed(first.did, 'a', 'boom', { retryable: true })
    // the next in line is the first job of the other queue (host not known yet)
    expect((await store.claim('a', 1, 60_000))[0].did).toBe(did(3))
    expect(await store.counts()).toEqual({ pending: 2, fetching: 1, done: 0, failed: 1, unavailable: 1, total: 5 })
    expect(await store.hosts()).toEqual([
      { host: 'a.test', pending: 2, fetching: 0, done: 0, failed: 1 },
      { host: null, pending: 0, fetching: 1, done: 0, failed: 0 },
    ])
  })
})
