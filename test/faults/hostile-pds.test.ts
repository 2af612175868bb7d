// Hostile or broken PDSes (issue 15 item 2): each case is a real backfill of every repository (BACKFILL_DAYS=all)
// from a test server that plays relay, PLC directory and PDS for a few DIDs, one of which misbehaves in one way.
// Each ends with that repository's job row saying what happened (state, reason, attempts, next try or account
// status), the healthy repositories done with every record in Postgres and nothing else there, and the server
// still answering. Cases run side by side, each on a database and a test server of its own.
import { describe, expect, it } from 'vitest'
import { indexedRecords } from '../support/compare.js'
import { startBackfill, until, type AdjustConfig, type BackfillRun } from '../support/backfill.js'
import { startHostilePds, type Fault, type HostileOptions, type HostilePds, type HostileRepo } from '../support/hostile-pds.js'

type JobRow = {
  state: string
  reason: string | null
  attempts: number
  next_try_at: Date | number
  account_status: string | null
  records: string
}

type Case = {
  pds: HostilePds
  run: BackfillRun
  row(name: string): Promise<JobRow>
}

const HEALTHY: Record<string, HostileRepo> = { alice: { records: 6 }, bob: { records: 4 }, carol: { records: 5 } }

/** A backfill of `repos` from a hostile server; `body` gets it running and asserts; everything is closed after. */
async function withCase(
  repos: Record<string, HostileRepo>,
  body: (c: Case) => Promise<void>,
  opts: { env?: Record<string, string>; server?: HostileOptions; adjust?: AdjustConfig } = {},
): Promise<void> {
  const pds = await startHostilePds(repos, opts.server)
  const env = { BACKFILL_DAYS: 'all', PLC_URL: pds.url, ALLOW_PRIVATE_HOSTS: 'true', BACKFILL_PROFILE: 'max', ...opts.env }
  const run = await startBackfill(pds.url, env, undefined, opts.adjust)
  const row = async (name: string) => {
    const { rows } = await run.pool.query<JobRow>(
      'SELECT state, reason, attempts, next_try_at, account_status, records FROM repos WHERE did = $1',
      [pds.dids[name]],
    )
    if (!rows[0]) throw new Error(`no job row for ${name} (${pds.dids[name]})`)
    return rows[0]
  }
  try {
    await body({ pds, run, row })
  } finally {
    await run.close()
    await pds.close()
  }
}

/** One misbehaving repository among the healthy three. */
const withFault = (fault: Fault, repo: Partial<HostileRepo> = {}) => ({ ...HEALTHY, bad: { records: 5, ...repo, fault } })

/** Waits until no job is pending or being fetched: done, unavailable, or failed (waiting for a retry or given up). */
async function settled(c: Case): Promise<void> {
  await until(async () => {
    const { rows } = await c.run.pool.query<{ n: number; open: number }>(
      `SELECT count(*)::int AS n, count(*) FILTER (WHERE state IN ('pending', 'fetching'))::int AS open FROM repos`,
    )
    return rows[0]!.n === Object.keys(c.pds.dids).length && rows[0]!.open === 0
  }, 40_000, 'every repository job to settle')
}

/** The healthy repositories are done with all their records, the database holds nothing else, the server answers. */
async function expectHealthyDone(c: Case, alsoIndexed: string[] = []): Promise<void> {
  for (const name of Object.keys(HEALTHY)) {
    const r = await c.row(name)
    expect({ name, state: r.state, records: Number(r.records), attempts: r.attempts }).toEqual({
      name,
      state: 'done',
      records: HEALTHY[name]!.records,
      attempts: 0,
    })
  }
  const expected = c.pds.recordsOf([...Object.keys(HEALTHY), ...alsoIndexed])
  const indexed = await indexedRecords(c.run.pool)
  for (const [collection, rows] of indexed) expect([collection, rows]).toEqual([collection, expected.get(collection) ?? new Map()])
  const health = await fetch(`${c.run.sky.url}/health`)
  expect(health.status).toBe(200)
  expect(c.run.sky.backfill.getProgress().state).not.toBe('failed')
}

/** A failed job that will be tried again later: its next try is in the future, by the retry policy (30 s first). */
function expectRetryLater(r: JobRow): void {
  expect(r.state).toBe('failed')
  expect(r.attempts).toBe(1)
  expect(r.next_try_at).toBeInstanceOf(Date)
  expect((r.next_try_at as Date).getTime()).toBeGreaterThan(Date.now() + 10_000)
}

/** A failed job that is not tried again until reset (next_try_at 'infinity'), and a backfill that completed. */
async function expectGivenUp(c: Case, r: JobRow): Promise<void> {
  expect(r.state).toBe('failed')
  expect(r.attempts).toBe(1)
  expect(r.next_try_at).toBe(Infinity)
  await c.run.sky.backfill.whenDone()
  expect(c.run.sky.backfill.getProgress().state).toBe('complete')
}

/** An account that cannot be fetched as it is: unavailable with its status, never retried, the backfill complete. */
async function expectUnavailable(c: Case, status: string, reason: RegExp): Promise<void> {
  await c.run.sky.backfill.whenDone()
  expect(c.run.sky.backfill.getProgress().state).toBe('complete')
  const r = await c.row('bad')
  expect({ state: r.state, account_status: r.account_status, attempts: r.attempts }).toEqual({
    state: 'unavailable',
    account_status: status,
    attempts: 0,
  })
  expect(r.reason).toMatch(reason)
}

/** The getRepo requests for a DID, and the gaps between them in ms. */
function getRepos(c: Case, name: string): { statuses: number[]; gaps: number[] } {
  const asked = c.pds.requests.filter((r) => r.path === '/xrpc/com.atproto.sync.getRepo' && r.did === c.pds.dids[name])
  return { statuses: asked.map((r) => r.status), gaps: asked.slice(1).map((r, i) => r.at - asked[i]!.at) }
}

describe.concurrent('a backfill from hostile PDSes', () => {
  it('healthy repositories only: every one done, every record written (the baseline the cases below depart from)', async () => {
    await withCase(HEALTHY, async (c) => {
      await c.run.sky.backfill.whenDone()
      expect(c.run.sky.backfill.getProgress().state).toBe('complete')
      await expectHealthyDone(c)
    })
  })

  it('429 with rate-limit headers: retried within the fetch as the headers ask, then failed with a later retry', async () => {
    await withCase(withFault({ kind: 'rate-limited', headers: true, times: Infinity }), async (c) => {
      await settled(c)
      const r = await c.row('bad')
      expectRetryLater(r)
      expect(r.reason).toMatch(/answered 429 RateLimitExceeded/)
      const { statuses, gaps } = getRepos(c, 'bad')
      expect(statuses).toEqual([429, 429, 429, 429, 429])
      // ratelimit-reset is a second ahead: no retry came sooner
      for (const gap of gaps) expect(gap).toBeGreaterThanOrEqual(900)
      await expectHealthyDone(c)
    })
  })

  it('429 without rate-limit headers: retried after 1 s, then 2 s, and the repository is done', async () => {
    await withCase(withFault({ kind: 'rate-limited', headers: false, times: 2 }), async (c) => {
      await c.run.sky.backfill.whenDone()
      const r = await c.row('bad')
      expect({ state: r.state, attempts: r.attempts, records: Number(r.records) }).toEqual({ state: 'done', attempts: 0, records: 5 })
      const { statuses, gaps } = getRepos(c, 'bad')
      expect(statuses).toEqual([429, 429, 200])
      expect(gaps[0]).toBeGreaterThanOrEqual(900)
      expect(gaps[1]).toBeGreaterThanOrEqual(1900)
      await expectHealthyDone(c, ['bad'])
    })
  })

  it('5xx: retried within the fetch, the host parked after three in a row, then failed with a later retry', async () => {
    await withCase(withFault({ kind: 'server-error', status: 500 }), async (c) => {
      await settled(c)
      const r = await c.row('bad')
      expectRetryLater(r)
      expect(r.reason).toMatch(/answered 500 InternalServerError/)
      const { statuses, gaps } = getRepos(c, 'bad')
      expect(statuses).toEqual([500, 500, 500, 500, 500])
      expect(gaps[2]).toBeGreaterThanOrEqual(900)
      expect(gaps[3]).toBeGreaterThanOrEqual(1900)
      await expectHealthyDone(c)
    })
  })

  it('a CAR that stalls halfway: the idle timeout ends the read, and the job is retried later', async () => {
    const adjust: AdjustConfig = (config) => {
      const repos = { ...config.backfill.repos, requestTimeoutMs: 2000 }
      return { ...config, backfill: { ...config.backfill, repos } }
    }
    await withCase(
      withFault({ kind: 'stall-mid-car' }),
      async (c) => {
        await settled(c)
        const r = await c.row('bad')
        expectRetryLater(r)
        expect(r.reason).toMatch(/body stalled: no bytes for 2000 ms/)
        expect(c.pds.carBytesSent(c.pds.dids.bad!)).toBeLessThan(c.pds.carSize(c.pds.dids.bad!))
        await expectHealthyDone(c)
      },
      { adjust },
    )
  })

  it('a truncated CAR: refused as truncated (a dropped connection may heal), retried later', async () => {
    await withCase(withFault({ kind: 'truncated-car' }), async (c) => {
      await settled(c)
      const r = await c.row('bad')
      expectRetryLater(r)
      expect(r.reason).toMatch(/repository CAR refused \(truncated\)/)
      await expectHealthyDone(c)
    })
  })

  it("a CAR whose root is another DID's commit: refused, not retried", async () => {
    await withCase(withFault({ kind: 'foreign-commit' }), async (c) => {
      await settled(c)
      const r = await c.row('bad')
      await expectGivenUp(c, r)
      expect(r.reason).toMatch(new RegExp(`\\(wrong-did\\): the commit is for did:plc:[a-z2-7]{24}, expected ${c.pds.dids.bad}`))
      await expectHealthyDone(c)
    })
  })

  it("BACKFILL_DECODER=verified: a CAR not signed by the DID's key is refused, not retried; the signed ones verify", async () => {
    await withCase(
      withFault({ kind: 'wrong-key' }),
      async (c) => {
        await settled(c)
        const r = await c.row('bad')
        await expectGivenUp(c, r)
        expect(r.reason).toMatch(/\(bad-signature\): the commit of did:plc:\S+ at rev \w+ is not signed by did:key:z/)
        await expectHealthyDone(c)
      },
      { env: { BACKFILL_DECODER: 'verified' } },
    )
  })

  it('a 3 MB CAR over BACKFILL_MAX_CAR_MB=1: the read stops near the cap, refused, not retried', async () => {
    await withCase(
      { ...HEALTHY, huge: { records: 30, recordBytes: 100_000 } },
      async (c) => {
        await settled(c)
        const r = await c.row('huge')
        await expectGivenUp(c, r)
        expect(r.reason).toMatch(/over the 1048576-byte limit/)
        const did = c.pds.dids.huge!
        expect(c.pds.carSize(did)).toBeGreaterThan(3_000_000)
        // what the socket took before the reader hung up: the cap and what was in flight, not the CAR
        expect(c.pds.carBytesSent(did)).toBeLessThan(2 * 1024 * 1024)
        expect(getRepos(c, 'huge').statuses).toEqual([200])
        await expectHealthyDone(c)
      },
      { env: { BACKFILL_MAX_CAR_MB: '1' } },
    )
  })

  it('a record over 1 MB: kept as a reject, the rest of its repository written and the job done', async () => {
    await withCase({ ...HEALTHY, big: { records: 5, oversizeRecordBytes: 1_200_000 } }, async (c) => {
      await c.run.sky.backfill.whenDone()
      const r = await c.row('big')
      expect({ state: r.state, attempts: r.attempts, records: Number(r.records) }).toEqual({ state: 'done', attempts: 0, records: 5 })
      const { rows } = await c.run.pool.query('SELECT source, category, reason, did, uri FROM rejects')
      expect(rows).toEqual([
        {
          source: 'repos',
          category: 'record',
          reason: expect.stringMatching(/^record block is 12\d{5} bytes, over the 1048576-byte cap$/),
          did: c.pds.dids.big,
          uri: c.pds.oversizeUri('big'),
        },
      ])
      await expectHealthyDone(c, ['big'])
    })
  })

  it('a block whose bytes do not match its CID: the CAR is refused, not retried, and nothing of it written', async () => {
    await withCase(withFault({ kind: 'bad-block' }), async (c) => {
      await settled(c)
      const r = await c.row('bad')
      await expectGivenUp(c, r)
      expect(r.reason).toMatch(/repository CAR refused \(bad-block\)/)
      await expectHealthyDone(c)
    })
  })

  it.each([
    ['RepoTakendown', 'takendown'],
    ['RepoDeactivated', 'deactivated'],
    ['RepoNotFound', 'not-found'],
  ])('getRepo answering 400 %s: unavailable with status %s, not retried', async (error, status) => {
    await withCase(withFault({ kind: 'account-error', error }), async (c) => {
      await expectUnavailable(c, status, new RegExp(`answered 400 ${error}: Repo is`))
      expect(getRepos(c, 'bad').statuses).toEqual([400])
      await expectHealthyDone(c)
    })
  })

  it('a DID with no document (404 from the PLC): unavailable, not-found, its PDS never asked', async () => {
    await withCase(withFault({ kind: 'no-document' }), async (c) => {
      await expectUnavailable(c, 'not-found', /no DID document: .*\(HTTP 404\)/)
      expect(getRepos(c, 'bad').statuses).toEqual([])
      await expectHealthyDone(c)
    })
  })

  it('a DID document that names no PDS: unavailable, no-pds', async () => {
    await withCase(withFault({ kind: 'no-pds' }), async (c) => {
      await expectUnavailable(c, 'no-pds', /names no usable PDS \(.*the document names no PDS \(no #atproto_pds service\)\)$/)
      await expectHealthyDone(c)
    })
  })

  it('ALLOW_PRIVATE_HOSTS=false: PDS endpoints on loopback are refused before any connection; PLC and relay still used', async () => {
    // Every address here is loopback (127.0.0.2 has no listener): had the guard let one through, no packet would
    // have left the machine, and the hostile server would have seen the request.
    await withCase(
      withFault({ kind: 'pds-endpoint', url: 'http://127.0.0.2:9' }),
      async (c) => {
        await c.run.sky.backfill.whenDone()
        expect(c.run.sky.backfill.getProgress().state).toBe('complete')
        for (const name of [...Object.keys(HEALTHY), 'bad']) {
          const r = await c.row(name)
          expect({ name, state: r.state, account_status: r.account_status }).toEqual({ name, state: 'unavailable', account_status: 'no-pds' })
          expect(r.reason).toMatch(/PDS endpoint http:\/\/127\.0\.0\.[12]:\d+ is refused: loopback \(127\.0\.0\.0\/8\) \(ALLOW_PRIVATE_HOSTS is off\)/)
        }
        expect(c.pds.requests.filter((r) => r.listener !== 'directory')).toEqual([])
        expect(c.pds.requests.filter((r) => r.path.startsWith('/did:')).length).toBeGreaterThanOrEqual(4)
        expect([...(await indexedRecords(c.run.pool)).values()].every((m) => m.size === 0)).toBe(true)
        expect((await fetch(`${c.run.sky.url}/health`)).status).toBe(200)
      },
      { env: { ALLOW_PRIVATE_HOSTS: 'false' } },
    )
  })

  it('the PLC directory down for a few seconds (503): the fetches wait it out, and every repository is done', async () => {
    await withCase(
      HEALTHY,
      async (c) => {
        await until(async () => {
          const { rows } = await c.run.pool.query<{ n: number }>(`SELECT count(*)::int AS n FROM repos WHERE state = 'done'`)
          return rows[0]!.n === 3
        }, 20_000, 'every repository to be done')
        const documents = c.pds.requests.filter((r) => r.path.startsWith('/did:'))
        expect(documents.filter((r) => r.status === 503).length).toBeGreaterThanOrEqual(3)
        // the directory was paced while it was down: no request came less than a second after the third 503
        const down = documents.filter((r) => r.status === 503)
        expect(documents.at(-1)!.at - down[0]!.at).toBeGreaterThanOrEqual(2500)
        await expectHealthyDone(c)
      },
      { server: { plcOutageMs: 2500 } },
    )
  })

  it('the PLC directory parking its host for 10 minutes (429 retry-after): the server still stops in seconds, the jobs given back', async () => {
    const pds = await startHostilePds(HEALTHY, { plcRetryAfterS: 600 })
    const run = await startBackfill(pds.url, { BACKFILL_DAYS: 'all', PLC_URL: pds.url, ALLOW_PRIVATE_HOSTS: 'true', BACKFILL_PROFILE: 'max' })
    try {
      await until(() => pds.requests.some((r) => r.path.startsWith('/did:') && r.status === 429), 20_000, 'the directory to answer 429')
      await until(async () => {
        const { rows } = await run.pool.query<{ n: number }>(`SELECT count(*)::int AS n FROM repos WHERE state = 'fetching'`)
        return rows[0]!.n > 0
      }, 20_000, 'a job to wait for the parked directory')
      const started = Date.now()
      await run.sky.stop()
      expect(Date.now() - started).toBeLessThan(5000)
      const { rows } = await run.pool.query<{ state: string; attempts: number; lease_owner: string | null }>(
        'SELECT state, attempts, lease_owner FROM repos ORDER BY did',
      )
      expect(rows).toEqual(Object.keys(HEALTHY).map(() => ({ state: 'pending', attempts: 0, lease_owner: null })))
    } finally {
      await run.pool.end()
      await run.db.drop()
      await pds.close()
    }
  }, 40_000)

  it('a redirect loop on getRepo: stopped at the first URL seen twice, not retried', async () => {
    await withCase(withFault({ kind: 'redirect-loop' }), async (c) => {
      await settled(c)
      const r = await c.row('bad')
      await expectGivenUp(c, r)
      expect(r.reason).toMatch(/getRepo: .*redirects back to .*getRepo\?did=did:plc:\w+, seen before/)
      expect(getRepos(c, 'bad').statuses).toEqual([302, 302])
      await expectHealthyDone(c)
    })
  })
})
