// Runs skyfill in this process on a fresh database, collecting its log lines: plain, or backfilling from a source.
import pg from 'pg'
import { parseConfig, type Config } from '../../server/config/index.js'
import { startSkyfill, type Skyfill } from '../../server/main.js'
import { testDatabase } from '../harness/db.js'
import { freePort, type TestDatabase } from '../harness/postgres.js'

export type BackfillRun = {
  sky: Skyfill
  db: TestDatabase
  /** A pool of the test's own on the same database, for assertions. */
  pool: pg.Pool
  lines: string[]
  close(): Promise<void>
}

/** What no variable sets, changed for a test (e.g. a shorter PDS timeout): the parsed config in, the one to run out. */
export type AdjustConfig = (config: Config) => Config

/** A server on loopback and a database of its own (or `existing`), live firehose off unless `env` says otherwise. */
export async function startServer(env: Record<string, string> = {}, existing?: TestDatabase, adjust?: AdjustConfig): Promise<BackfillRun> {
  const db = existing ?? (await testDatabase())
  const lines: string[] = []
  const config = parseConfig({ DATABASE_URL: db.url, PORT: String(await freePort()), HOST: '127.0.0.1', FIREHOSE_ENABLED: 'false', ...env })
  const sky = await startSkyfill(adjust ? adjust(config) : config, (line) => lines.push(line))
  const pool = new pg.Pool({ connectionString: db.url, max: 2 })
  // pool.end() resolves before its sockets have closed, so dropping the database right after can terminate a
  // connection still closing; pg reports that on the pool, and with no listener it would be an uncaught exception.
  pool.on('error', () => {})
  return {
    sky,
    db,
    pool,
    lines,
    async close() {
      await sky.stop()
      await pool.end()
      if (!existing) await db.drop()
    },
  }
}

/**
 * The variables that make skyfill verify handles against a reference PDS: DID documents from its PLC, handles
 * through its resolveHandle (its .test handles have no DNS), and its loopback addresses allowed.
 */
export function pdsIdentityEnv(pds: { plcUrl: string; url: string }, handleResolverUrl = pds.url): Record<string, string> {
  return { PLC_URL: pds.plcUrl, HANDLE_RESOLVER_URL: handleResolverUrl, ALLOW_PRIVATE_HOSTS: 'true' }
}

/** A server backfilling everything `relayUrl` holds. */
export function startBackfill(
  relayUrl: string,
  env: Record<string, string> = {},
  existing?: TestDatabase,
  adjust?: AdjustConfig,
): Promise<BackfillRun> {
  return startServer({ RELAY_URL: relayUrl, BACKFILL_DAYS: '-1', ...env }, existing, adjust)
}

export async function until(predicate: () => boolean | Promise<boolean>, timeoutMs = 30_000, what = 'condition'): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!(await predicate())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`)
    await new Promise((r) => setTimeout(r, 20))
  }
}
