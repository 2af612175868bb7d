// The repo bench's parts on a small workload: its repository network serves listRepos page by page, signed CARs that
// skyfill's own CAR reader verifies and walks, DID documents and handles that skyfill's identity check accepts; its
// limit writes every record; and a real server backfilling from it (BACKFILL_DAYS=all) indexes every record.
import { mkdtemp, rm } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import pg from 'pg'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { measureRepoLimit } from '../../bench/repos/limit.js'
import { repoServerEnv } from '../../bench/repos/run.js'
import { startRepoSource, type RepoSource } from '../../bench/repos/server.js'
import type { RepoWorkloadParams } from '../../bench/repos/sizes.js'
import { openOrBuildRepoWorkload, type RepoWorkload } from '../../bench/repos/store.js'
import { networkIdentityDeps, resolveIdentity } from '../../server/identity/resolve-identity.js'
import { RECORD_MODULES } from '../../server/indexer/records/index.js'
import { openRepoCar } from '../../server/repos/repo-car.js'
import { testDatabase } from '../harness/db.js'
import { freePort, type TestDatabase } from '../harness/postgres.js'
import { spawnServer, type ServerProcess } from '../harness/server-process.js'

const PARAMS: RepoWorkloadParams = { seed: 'bench-repos-test', tiers: [{ repos: 1, meanRecords: 400 }, { repos: 24, meanRecords: 12 }] }
const TABLES = RECORD_MODULES.map((m) => m.table)
let dir: string
let workload: RepoWorkload
let source: RepoSource
const databases: TestDatabase[] = []
let server: ServerProcess | undefined

beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'skyfill-bench-repos-'))
  workload = await openOrBuildRepoWorkload(PARAMS, { dir })
  source = await startRepoSource(workload, { pdsPorts: 3 })
})

afterAll(async () => {
  server?.kill('SIGKILL')
  await server?.exited
  await source?.close()
  await Promise.all(databases.map((d) => d.drop()))
  await rm(dir, { recursive: true, force: true })
})

const getJson = async (url: string) => (await fetch(url)).json() as Promise<Record<string, unknown>>

async function rowsPerCollection(url: string): Promise<Record<string, number>> {
  const pool = new pg.Pool({ connectionString: url, max: 1 })
  try {
    const counts: Record<string, number> = {}
    for (const m of RECORD_MODULES) {
      const n = (await pool.query<{ n: number }>(`SELECT count(*)::int AS n FROM ${m.table}`)).rows[0].n
      if (n > 0) counts[m.collection] = n
    }
    return counts
  } finally {
    await pool.end()
  }
}

describe('the bench repository network', () => {
  it('lists every repository exactly once across pages of listRepos', async () => {
    const dids: string[] = []
    let cursor: string | undefined
    let pages = 0
    do {
      const page = await getJson(`${source.url}/xrpc/com.atproto.sync.listRepos?limit=7${cursor ? `&cursor=${cursor}` : ''}`)
      dids.push(...(page.repos as { did: string }[]).map((r) => r.did))
      cursor = page.cursor as string | undefined
      pages++
    } while (cursor)
    expect(pages).toBe(4)
    expect(dids).toEqual(workload.manifest.repos.map((r) => r.did))
  })

  it('serves CARs whose signed commit verifies with the DID document key and whose walk yields every record', async () => {
    const deps = networkIdentityDeps({ plcUrl: source.url, handleResolverUrl: source.url, allowPrivate: true, timeoutMs: 5000 })
    for (const repo of workload.manifest.repos) {
      const identity = await resolveIdentity(repo.did, deps)
      expect({ handle: identity.handle, problem: identity.problem }).toEqual({ handle: repo.handle, problem: null })
      expect(source.pdsUrls).toContain(identity.pdsUrl)
      const res = await fetch(`${identity.pdsUrl}/xrpc/com.atproto.sync.getRepo?did=${repo.did}`)
      const car = await openRepoCar(res.body as unknown as AsyncIterable<Uint8Array>, {
        did: repo.did,
        maxCarBytes: 64 << 20,
        spillDir: dir,
        spillAboveBytes: 8 << 20,
        verifyKey: identity.signingKey,
        partial: false,
      })
      let creates = 0
      for await (const chunk of car.walk({ time: new Date().toISOString(), chunkRecords: 100 })) creates += chunk.filter((i) => i.kind === 'create').length
      await car.close()
      const latest = await getJson(`${identity.pdsUrl}/xrpc/com.atproto.sync.getLatestCommit?did=${repo.did}`)
      expect({ verified: car.verified, rev: car.commit.rev, creates }).toEqual({ verified: true, rev: repo.rev, creates: repo.records })
      expect(latest).toEqual({ cid: repo.commitCid, rev: repo.rev })
    }
  })

  it('measures the limit by writing every walked record once', async () => {
    const db = await testDatabase()
    databases.push(db)
    const limit = await measureRepoLimit(workload, { databaseUrl: db.url, batchSize: 100, maxConcurrent: 2, spillAboveBytes: 8 << 20, recordTables: TABLES, postmasterPid: null })
    expect({ records: limit.records, rowsWritten: limit.rowsWritten }).toEqual({ records: workload.manifest.records, rowsWritten: workload.manifest.records })
    expect(limit.recordsPerSecond).toBeLessThan(Math.min(limit.walkPerSecond, limit.writePerSecond))
  })

  it('is backfilled whole by a server with BACKFILL_DAYS=all: one row per record, per collection', async () => {
    const db = await testDatabase()
    databases.push(db)
    server = spawnServer(repoServerEnv(source, db.url, await freePort(), 'max'))
    const line = await server.waitForLine(/\[BACKFILL\] Repos complete: /, 50_000)
    expect(await rowsPerCollection(db.url)).toEqual(workload.manifest.counts)
    // every record went through the run's workers, so the run's own count is the whole of it
    expect(Number(/; (\d+) records written/.exec(line)?.[1])).toBe(workload.manifest.records)
  }, 60_000)
})
