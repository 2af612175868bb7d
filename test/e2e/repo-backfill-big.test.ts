// A 200,000-record repository backfills under the memory limit: a real server process (BACKFILL_DAYS=all,
// BACKFILL_PROFILE=max, BACKFILL_MAX_MEMORY_MB stated) fetches a signed 60 MB CAR from a host that plays a PDS for
// it (listRepos, getRepo, and the DID document as a PLC directory would serve it), while the test samples the
// process's RSS from /proc. The relay is an empty reference PDS: every record comes from the repository.
import { createReadStream, readFileSync } from 'node:fs'
import pg from 'pg'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { RECORD_MODULES } from '../../server/indexer/records/index.js'
import { testDatabase } from '../harness/db.js'
import { startPds, type PdsHandle } from '../harness/pds.js'
import { freePort, type TestDatabase } from '../harness/postgres.js'
import { spawnServer, type ServerProcess } from '../harness/server-process.js'
import { bigRepoCar, type BigRepo } from '../support/big-repo.js'
import { startHttpServer, type TestHttpServer } from '../support/http-server.js'

const RECORDS = 200_000
// Tight enough to tell: with the CAR held in memory instead of spilled (SPILL_ABOVE_BYTES raised past its size) the
// same run peaked at 487 MB; streamed and spilled, it peaks near 400 MB.
const LIMIT_MB = 448
let repo: BigRepo
let relay: PdsHandle
let host: TestHttpServer
let db: TestDatabase
let pool: pg.Pool
let server: ServerProcess | undefined

beforeAll(async () => {
  ;[repo, relay, db] = await Promise.all([bigRepoCar(RECORDS, 1), startPds(), testDatabase()])
  pool = new pg.Pool({ connectionString: db.url, max: 2 })
  host = await startHttpServer()
  const json = (body: unknown) => (_req: unknown, res: import('node:http').ServerResponse) =>
    void res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(body))
  host.route('/xrpc/com.atproto.sync.listRepos', json({ repos: [{ did: repo.did, rev: repo.rev, active: true }] }))
  host.route('/xrpc/com.atproto.sync.getRepo', (_req, res) => {
    res.writeHead(200, { 'content-type': 'application/vnd.ipld.car', 'content-length': String(repo.bytes) })
    createReadStream(repo.file).pipe(res)
  })
  host.route(
    `/${encodeURIComponent(repo.did)}`,
    json({
      id: repo.did,
      alsoKnownAs: ['at://big.test'],
      verificationMethod: [
        { id: `${repo.did}#atproto`, type: 'Multikey', controller: repo.did, publicKeyMultibase: repo.signingKey.slice('did:key:'.length) },
      ],
      service: [{ id: '#atproto_pds', type: 'AtprotoPersonalDataServer', serviceEndpoint: host.url }],
    }),
  )
}, 120_000)

afterAll(async () => {
  server?.kill('SIGKILL')
  await server?.exited
  await pool?.end()
  await db?.drop()
  await host?.close()
  await relay?.stop()
})

/** The process's resident set now, in MB, from the kernel (what the OOM killer and `top` see). */
function rssMbOf(pid: number): number {
  const kb = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))
  return kb ? Math.round(Number(kb[1]) / 1024) : 0
}

describe('a repository too big to hold in memory', () => {
  it(`backfills all ${RECORDS} records with the server's peak RSS under BACKFILL_MAX_MEMORY_MB=${LIMIT_MB}`, async () => {
    const t0 = Date.now()
    server = spawnServer({
      DATABASE_URL: db.url,
      HOST: '127.0.0.1',
      PORT: String(await freePort()),
      RELAY_URL: relay.url,
      BACKFILL_PDS_HOSTS: host.url,
      PLC_URL: host.url,
      ALLOW_PRIVATE_HOSTS: 'true',
      FIREHOSE_ENABLED: 'false',
      BACKFILL_DAYS: 'all',
      BACKFILL_PROFILE: 'max',
      BACKFILL_MAX_MEMORY_MB: String(LIMIT_MB),
    })
    const pid = server.proc.pid!
    let peakMb = 0
    const sampler = setInterval(() => {
      try {
        peakMb = Math.max(peakMb, rssMbOf(pid))
      } catch {
        // the process has exited
      }
    }, 50)
    let beforeMb = 0
    void server.waitForLine(/\[BACKFILL\] Repos: fetching/).then(() => (beforeMb = rssMbOf(pid)), () => {})
    let end: string
    try {
      // The memory watchdog pausing intake ends the wait too: the run went over the limit.
      end = await server.waitForLine(/\[BACKFILL\] (Repos complete: .*|Memory: .* pausing intake)/, 85_000)
    } finally {
      clearInterval(sampler)
    }
    const seconds = (Date.now() - t0) / 1000
    console.log(
      `[big repo] ${RECORDS} records (${Math.round(repo.bytes / 1048576)} MB CAR) backfilled in ${seconds.toFixed(1)} s ` +
        `from spawn; measured peak RSS ${peakMb} MB (${beforeMb} MB before the repository part) against BACKFILL_MAX_MEMORY_MB=${LIMIT_MB}`,
    )
    expect(end).toMatch(/Repos complete: 1 fetched, 0 unavailable, 0 failed; 200000 records written/)
    expect(peakMb).toBeGreaterThan(beforeMb)
    expect(peakMb).toBeLessThan(LIMIT_MB)

    for (const [collection, n] of Object.entries(repo.counts)) {
      const table = RECORD_MODULES.find((m) => m.collection === collection)!.table
      const { rows } = await pool.query<{ n: number }>(`SELECT count(*)::int AS n FROM ${table} WHERE uri LIKE $1`, [`at://${repo.did}/%`])
      expect({ collection, rows: rows[0]!.n }).toEqual({ collection, rows: n })
    }
    const { rows } = await pool.query(`SELECT state, records::int, rev FROM repos WHERE did = $1`, [repo.did])
    expect(rows).toEqual([{ state: 'done', records: RECORDS, rev: repo.rev }])
  }, 90_000)
})
