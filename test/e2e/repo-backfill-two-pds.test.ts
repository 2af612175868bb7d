// Two reference PDSes on one PLC whose history has aged out of what they replay, found through BACKFILL_PDS_HOSTS,
// backfilled by a real server process that is SIGKILLed in the middle of the repository part and started again on
// the same database: no repository that was done before the kill is fetched again, and the tables end equal to
// both PDSes' repos. Every getRepo passes through a counting proxy (the DID documents are served with their PDS
// endpoint rewritten to it), so "fetched again" is counted, not inferred.
import pg from 'pg'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { testDatabase } from '../harness/db.js'
import { startPds, type PdsHandle } from '../harness/pds.js'
import { dumpPdsRepos, mergeDumps } from '../harness/pds-repos.js'
import { freePort, type TestDatabase } from '../harness/postgres.js'
import { seedWorkload } from '../harness/seed.js'
import { spawnServer, type ServerProcess } from '../harness/server-process.js'
import { until } from '../support/backfill.js'
import { compareWithPds } from '../support/compare.js'
import type { TestHttpServer } from '../support/http-server.js'
import { startRepoProxy, startRewritingPlc, type RepoProxy } from '../support/pds-proxy.js'

const REPLAY_MS = 2000
let pdses: PdsHandle[] = []
let proxies: RepoProxy[] = []
let plc: TestHttpServer
let db: TestDatabase
let pool: pg.Pool
const servers: ServerProcess[] = []

beforeAll(async () => {
  const first = await startPds({ repoBackfillLimitMs: REPLAY_MS })
  pdses = [first, await startPds({ repoBackfillLimitMs: REPLAY_MS, plcUrl: first.plcUrl, handleDomain: '.pds2.test' })]
  const seeded = await Promise.all([
    seedWorkload(pdses[0]!.url, { accounts: 3, actionsPerAccount: 30, seed: 21 }),
    seedWorkload(pdses[1]!.url, { accounts: 3, actionsPerAccount: 30, seed: 22, handleDomain: '.pds2.test' }),
  ])
  // Let all of it age out of what the PDSes replay: every record has to come from the repositories.
  await new Promise((r) => setTimeout(r, REPLAY_MS + 1000))
  proxies = await Promise.all(pdses.map((p) => startRepoProxy(p.url)))
  const proxyOf = new Map(seeded.flatMap((s, i) => s.dids.map((did) => [did, proxies[i]!.url] as const)))
  plc = await startRewritingPlc(first.plcUrl, [...proxyOf.keys()], (did) => proxyOf.get(did)!)
  db = await testDatabase()
  pool = new pg.Pool({ connectionString: db.url, max: 2 })
}, 120_000)

afterAll(async () => {
  for (const s of servers) s.kill('SIGKILL')
  await Promise.all(servers.map((s) => s.exited))
  await pool?.end()
  await db?.drop()
  await Promise.all([plc?.close(), ...proxies.map((p) => p.close())])
  await Promise.all(pdses.map((p) => p.stop()))
})

async function start(): Promise<ServerProcess> {
  const server = spawnServer({
    DATABASE_URL: db.url,
    HOST: '127.0.0.1',
    PORT: String(await freePort()),
    RELAY_URL: pdses[0]!.url,
    BACKFILL_PDS_HOSTS: pdses.map((p) => p.url).join(','),
    PLC_URL: plc.url,
    HANDLE_RESOLVER_URL: pdses[0]!.url,
    ALLOW_PRIVATE_HOSTS: 'true',
    FIREHOSE_ENABLED: 'false',
    BACKFILL_DAYS: 'all',
    // As gentle as the default, and slower still: a few records per transaction and a pause after each, so that
    // one repository takes about a second and the kill lands between some done and some not.
    BACKFILL_PROFILE: 'background',
    BACKFILL_BATCH_SIZE: '4',
    BACKFILL_BATCH_DELAY_MS: '100',
  })
  servers.push(server)
  return server
}

type DoneRow = { did: string; done_at: Date }

async function doneRows(): Promise<DoneRow[]> {
  return (await pool.query<DoneRow>(`SELECT did, done_at FROM repos WHERE state = 'done' ORDER BY did`)).rows
}

const fetchesOf = (did: string) => proxies.reduce((n, p) => n + p.fetchesOf(did), 0)

describe('a repository backfill over two PDSes, killed and restarted', () => {
  it('fetches no repository done before a SIGKILL again, and ends equal to both PDSes', async () => {
    const first = await start()
    await first.waitForLine(/\[BACKFILL\] Repos: fetching every record of each repository from relay, pds:/)
    await until(
      async () => {
        const { rows } = await pool.query<{ done: number; total: number }>(
          `SELECT count(*) FILTER (WHERE state = 'done')::int AS done, count(*)::int AS total FROM repos`,
        )
        return rows[0]!.done >= 2 && rows[0]!.total === 6 && rows[0]!.total - rows[0]!.done >= 2
      },
      40_000,
      'some repositories done and some not',
    )
    first.kill('SIGKILL')
    await first.exited
    const before = await doneRows()
    const fetchedBefore = new Map(before.map((r) => [r.did, fetchesOf(r.did)]))
    expect(before.length).toBeGreaterThanOrEqual(2)
    expect(before.length).toBeLessThanOrEqual(4)
    expect(await compareWithPds(pool, mergeDumps(await Promise.all(pdses.map((p) => dumpPdsRepos(p.url)))))).not.toEqual([])

    const second = await start()
    // The repository the killed process held is taken over once its heartbeat is stale (seconds, not its lease).
    await second.waitForLine(/\[BACKFILL\] Repos complete: \d+ fetched/, 40_000)
    const after = await doneRows()
    expect(after.map((r) => r.did)).toHaveLength(6)
    for (const row of before) {
      expect(after.find((r) => r.did === row.did)!.done_at).toEqual(row.done_at)
      expect(fetchesOf(row.did)).toBe(fetchedBefore.get(row.did))
    }
    for (const row of after.filter((r) => !fetchedBefore.has(r.did))) expect(fetchesOf(row.did)).toBeGreaterThanOrEqual(1)
    expect(proxies.map((p) => p.getRepos.length).every((n) => n >= 3)).toBe(true)
    expect(second.lines.some((l) => /\[BACKFILL\] Resuming from cursor/.test(l))).toBe(true)

    const truth = mergeDumps(await Promise.all(pdses.map((p) => dumpPdsRepos(p.url))))
    expect(truth.total).toBeGreaterThan(100)
    expect(await compareWithPds(pool, truth)).toEqual([])
    const { rows } = await pool.query<{ n: number }>(`SELECT sum(records)::int AS n FROM repos`)
    expect(rows[0]!.n).toBe(truth.total)
    second.kill('SIGTERM')
    await second.exited
  }, 90_000)
})
