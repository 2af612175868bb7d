// `npm run audit` against Bluesky's reference PDS, as a real process: after a whole-repository backfill, an audit of
// the untouched database finds every record equal; after a row deleted, a row's CID changed and a row added for an
// unknown URI, it names exactly those three and exits 1; `--fix` repairs them and exits 0, and so does the next audit.
import { execFile } from 'node:child_process'
import fs from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import pg from 'pg'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { AuditReport } from '../../server/audit/report.js'
import { RECORD_MODULES } from '../../server/indexer/records/index.js'
import { PgRepoJobStore } from '../../server/repos/job-store.js'
import { testDatabase } from '../harness/db.js'
import { startPds, type PdsHandle } from '../harness/pds.js'
import { dumpPdsRepos, type PdsDump } from '../harness/pds-repos.js'
import type { TestDatabase } from '../harness/postgres.js'
import { seedWorkload } from '../harness/seed.js'
import { pdsIdentityEnv, startBackfill, until } from '../support/backfill.js'
import { compareWithPds } from '../support/compare.js'

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..')

let pds: PdsHandle
let db: TestDatabase
let pool: pg.Pool
let truth: PdsDump
let dir: string

beforeAll(async () => {
  pds = await startPds()
  await seedWorkload(pds.url, { accounts: 3, actionsPerAccount: 25, seed: 31 })
  truth = await dumpPdsRepos(pds.url)
  db = await testDatabase()
  pool = new pg.Pool({ connectionString: db.url, max: 2 })
  dir = await fs.mkdtemp(path.join(os.tmpdir(), 'skyfill-audit-'))
  const run = await startBackfill(pds.url, { ...pdsIdentityEnv(pds), BACKFILL_PROFILE: 'max', BACKFILL_DAYS: 'all' }, db)
  try {
    await run.sky.backfill.whenDone()
    await until(() => run.sky.identity.progress().verified === truth.handles.size, 30_000, 'every handle to be verified')
  } finally {
    await run.close()
  }
}, 180_000)

afterAll(async () => {
  await pool?.end()
  await db?.drop()
  await pds?.stop()
  if (dir) await fs.rm(dir, { recursive: true, force: true })
})

type AuditRun = { code: number; report: AuditReport; output: string }

/** `node --import tsx scripts/audit.ts …args` with the test database and the PDS's identity; its exit code and report. */
function audit(name: string, ...args: string[]): Promise<AuditRun> {
  return auditWith({}, name, ...args)
}

/** The same, with these variables besides. */
function auditWith(extra: Record<string, string>, name: string, ...args: string[]): Promise<AuditRun> {
  const json = path.join(dir, `${name}.json`)
  const env = { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/root', DATABASE_URL: db.url, BACKFILL_PROFILE: 'max', ...pdsIdentityEnv(pds), ...extra }
  return new Promise((resolve, reject) => {
    execFile(process.execPath, ['--import', 'tsx', 'scripts/audit.ts', ...args, '--json', json], { cwd: ROOT, env, timeout: 50_000 }, (err, stdout, stderr) => {
      const code = err ? (typeof err.code === 'number' ? err.code : -1) : 0
      fs.readFile(json, 'utf8').then(
        (text) => resolve({ code, report: JSON.parse(text) as AuditReport, output: stdout + stderr }),
        () => reject(new Error(`the audit wrote no report (exit ${code}):\n${stdout}${stderr}`)),
      )
    })
  })
}

/** The CLI with only these arguments and variables: its exit code and what it wrote to stderr. */
function refusedRun(args: string[], env: Record<string, string>): Promise<{ code: number; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, ['--import', 'tsx', 'scripts/audit.ts', ...args], { cwd: ROOT, env: { PATH: process.env.PATH ?? '', ...env }, timeout: 30_000 }, (err, _stdout, stderr) => {
      resolve({ code: err && typeof err.code === 'number' ? err.code : 0, stderr })
    })
  })
}

const indexedTotal = () => RECORD_MODULES.reduce((n, m) => n + (truth.records.get(m.collection)?.size ?? 0), 0)

describe('npm run audit against the reference PDS', () => {
  it('exits 2 with one line for a bad argument or a bad setting, before touching the database', async () => {
    const bad = await refusedRun(['--all', '--sample', '3'], { DATABASE_URL: db.url })
    expect(bad.code).toBe(2)
    expect(bad.stderr).toContain('[AUDIT] choose the repositories with exactly one of --sample, --repos or --all, not --sample and --all')
    const setting = await refusedRun(['--all'], { DATABASE_URL: db.url, BACKFILL_HOST_RATE: 'fast' })
    expect(setting.code).toBe(2)
    expect(setting.stderr.trim()).toBe('[AUDIT] BACKFILL_HOST_RATE must be a number from 0.01 to 1000, got "fast"')
  })


  it('finds every record of an undamaged backfill equal, over every repository', async () => {
    // Meanwhile the CLI is one of the live instances (its own id), as the servers dividing the hosts' limits see it.
    const seen = new Set<string>()
    let watching = true
    const watch = (async () => {
      while (watching) {
        for (const r of (await pool.query<{ id: string }>('SELECT id FROM instances')).rows) seen.add(r.id)
        await new Promise((r) => setTimeout(r, 25))
      }
    })()
    const { code, report, output } = await audit('clean', '--all').finally(() => {
      watching = false
    })
    await watch
    expect([...seen].filter((id) => id.startsWith(`audit.${os.hostname()}`))).toHaveLength(1)
    // and it took its row away when it ended
    expect((await pool.query('SELECT id FROM instances')).rows).toEqual([])
    expect(code, output).toBe(0)
    expect(report.totals).toMatchObject({
      reposChosen: truth.repos.length,
      reposChecked: truth.repos.length,
      reposFailed: 0,
      reposDiffering: 0,
      recordsCompared: indexedTotal(),
      recordsMatching: indexedTotal(),
      recordsUnindexed: truth.total - indexedTotal(),
      differences: { missing: 0, extra: 0, stale: 0, handle: 0, status: 0 },
    })
    expect(indexedTotal()).toBeGreaterThan(0)
    expect(output).toMatch(/^total\s+3 checked/m)
  })

  it('names a deleted row, a changed CID, an added row and a wrong account status, exactly; --fix repairs them; the next audit exits 0', async () => {
    const { rows: posts } = await pool.query<{ uri: string; did: string; rkey: string; cid: string }>(
      'SELECT uri, did, rkey, cid FROM posts ORDER BY uri LIMIT 2',
    )
    const [gone, changed] = posts
    const did = gone!.did
    expect(changed!.did).toBe(did)
    const prefix = `at://${did}/`
    await pool.query('DELETE FROM posts WHERE uri = $1', [gone!.uri])
    await pool.query(`UPDATE posts SET cid = 'bafyreiauditchangedcidaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa' WHERE uri = $1`, [changed!.uri])
    const addedUri = `${prefix}app.bsky.feed.post/3zzzzzzzzzzzz`
    await pool.query(
      `INSERT INTO posts SELECT $2, did, '3zzzzzzzzzzzz', rev, cid, seq, text, reply_root, reply_parent, embed_uri, langs, created_at, sort_at, record, indexed_at
       FROM posts WHERE uri = $1`,
      [changed!.uri, addedUri],
    )

    const { rows: others } = await pool.query<{ did: string }>('SELECT did FROM actors WHERE did <> $1 ORDER BY did LIMIT 1', [did])
    const deactivated = others[0]!.did
    await pool.query(`UPDATE actors SET status = 'deactivated' WHERE did = $1`, [deactivated])

    const damaged = await audit('damaged', '--all')
    expect(damaged.code, damaged.output).toBe(1)
    expect(damaged.report.totals.differences).toEqual({ missing: 1, extra: 1, stale: 1, handle: 0, status: 1 })
    expect(damaged.report.totals.reposDiffering).toBe(2)
    expect(damaged.report.repos.find((r) => r.did === deactivated)!.examples.status).toEqual({
      kind: 'status',
      stored: 'deactivated',
      remote: 'active',
    })
    const repo = damaged.report.repos.find((r) => r.did === did)!
    expect(repo.examples.missing.map((e) => prefix + e.key)).toEqual([gone!.uri])
    expect(repo.examples.stale.map((e) => [prefix + e.key, e.carCid])).toEqual([[changed!.uri, changed!.cid]])
    expect(repo.examples.extra.map((e) => prefix + e.key)).toEqual([addedUri])

    const fixed = await audit('fix', '--all', '--fix')
    expect(fixed.code, fixed.output).toBe(0)
    expect(fixed.report.repair!.queued.sort()).toEqual([did, deactivated].sort())
    expect(fixed.report.repair!.repaired.sort()).toEqual([did, deactivated].sort())
    expect(fixed.report.repair!.stillDiffering).toEqual([])
    const { rows: status } = await pool.query('SELECT status FROM actors WHERE did = $1', [deactivated])
    expect(status).toEqual([{ status: 'active' }])
    expect(fixed.report.repair!.after.differences).toEqual({ missing: 0, extra: 0, stale: 0, handle: 0, status: 0 })

    const again = await audit('again', '--all')
    expect(again.code, again.output).toBe(0)
    expect(again.report.totals.recordsMatching).toBe(indexedTotal())
    expect(await compareWithPds(pool, truth)).toEqual([])
    const { rows } = await pool.query(`SELECT sync_state, reason FROM repo_positions WHERE did = $1`, [did])
    expect(rows[0]).toMatchObject({ sync_state: 'active', reason: 'resynced' })
  })

  it('--fix under the INSTANCE_ID of a running server leaves what that server holds alone', async () => {
    // What a server named box1 is fetching right now, as its row says.
    const held = `did:plc:${'h'.repeat(24)}`
    const store = new PgRepoJobStore(pool)
    await store.enqueue([{ did: held, discoveredVia: 'relay', since: null, active: true, status: null }])
    expect((await store.claim('box1', 1, 600_000)).map((j) => j.did)).toEqual([held])
    try {
      const { rows } = await pool.query<{ uri: string; did: string }>('SELECT uri, did FROM posts ORDER BY uri LIMIT 1')
      await pool.query('DELETE FROM posts WHERE uri = $1', [rows[0]!.uri])
      const fixed = await auditWith({ INSTANCE_ID: 'box1' }, 'fix-as-box1', '--repos', rows[0]!.did, '--fix')
      expect(fixed.code, fixed.output).toBe(0)
      expect(fixed.report.repair!.repaired).toEqual([rows[0]!.did])
      const { rows: job } = await pool.query('SELECT state, lease_owner FROM repos WHERE did = $1', [held])
      expect(job).toEqual([{ state: 'fetching', lease_owner: 'box1' }])
    } finally {
      await pool.query('DELETE FROM repos WHERE did = $1', [held])
    }
  })
})
