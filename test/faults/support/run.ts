// Runs skyfill in this process (startSkyfill, as `npm start` does after reading the environment) against a
// firehose source and a database of the test's choosing, collecting its log lines.
import pg from 'pg'
import { parseConfig } from '../../../server/config/index.js'
import { migrate } from '../../../server/db/migrate.js'
import { createPool } from '../../../server/db/pools.js'
import { startSkyfill, type Skyfill } from '../../../server/main.js'
import type { BackfillProgress } from '../../../server/services/backfill.js'
import type { RunMeta } from '../../../server/services/backfill/run-state.js'
import { freePort } from '../../harness/postgres.js'

export type Run = {
  sky: Skyfill
  /** The test's own pool on the same database, for assertions. */
  pool: pg.Pool
  lines: string[]
  progress(): BackfillProgress
  /** Lines (without their time) that match, for counting. */
  matching(pattern: RegExp): string[]
  waitForLine(pattern: RegExp, timeoutMs?: number): Promise<string>
  close(): Promise<void>
}

export const BASE_ENV = {
  HOST: '127.0.0.1',
  FIREHOSE_ENABLED: 'false',
  BACKFILL_DAYS: '-1',
  BACKFILL_PROFILE: 'max',
} as const

export async function startRun(relay: string, databaseUrl: string, env: Record<string, string> = {}): Promise<Run> {
  const lines: string[] = []
  const sky = await startSkyfill(
    parseConfig({ ...BASE_ENV, DATABASE_URL: databaseUrl, PORT: String(await freePort()), RELAY_URL: relay, ...env }),
    (line) => lines.push(line),
  )
  const pool = new pg.Pool({ connectionString: databaseUrl, max: 2 })
  pool.on('error', () => {})
  const matching = (pattern: RegExp) => lines.filter((l) => pattern.test(l))
  return {
    sky,
    pool,
    lines,
    progress: () => sky.backfill.getProgress(),
    matching,
    async waitForLine(pattern, timeoutMs = 30_000) {
      await until(() => matching(pattern).length > 0, timeoutMs, `a line matching ${pattern}\n${lines.slice(-30).join('\n')}`)
      return matching(pattern)[0]!
    },
    async close() {
      await sky.stop()
      await pool.end()
    },
  }
}

/**
 * Stores a backfill run in progress, as a previous start would have left it: the next start resumes from `cursor`
 * toward `headSeq` on `relay` without locating the window again (no probes reach the source).
 */
export async function seedRun(databaseUrl: string, run: { relay: string; headSeq: number; cursor: number; startCursor?: number }): Promise<void> {
  const pool = createPool(databaseUrl, 'admin', 1)
  try {
    await migrate(pool)
    const meta: RunMeta = {
      relay: run.relay,
      window: 'all',
      startCursor: run.startCursor ?? 0,
      headSeq: run.headSeq,
      startedAt: new Date(Date.now() - 60_000).toISOString(),
      requestedFrom: null,
      availableFrom: { seq: 1, time: new Date(0).toISOString() },
      state: 'running',
      completedAt: null,
    }
    await pool.query(
      `INSERT INTO cursors (name, seq, meta) VALUES ('backfill', $1, $2)
       ON CONFLICT (name) DO UPDATE SET seq = EXCLUDED.seq, meta = EXCLUDED.meta`,
      [run.cursor, JSON.stringify(meta)],
    )
  } finally {
    await pool.end()
  }
}

export async function storedCursor(pool: pg.Pool): Promise<number | null> {
  const { rows } = await pool.query<{ seq: string | null }>(`SELECT seq FROM cursors WHERE name = 'backfill'`)
  return rows[0]?.seq == null ? null : Number(rows[0].seq)
}

export async function until(predicate: () => boolean | Promise<boolean>, timeoutMs = 30_000, what = 'a condition'): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!(await predicate())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`)
    await new Promise((r) => setTimeout(r, 25))
  }
}
