// GET /api/stats: what the index holds. Counting a big table exactly takes seconds, so each table's size comes from
// the planner's estimate (pg_stat_user_tables.n_live_tup, else pg_class.reltuples) and is counted exactly only when
// the estimate is below EXACT_BELOW rows, under a statement timeout (a stale estimate must not stall the API).
// Every number says whether it is exact. Table names come from the record registry (passed in by the main thread,
// so that the API thread does not load the record modules and their validators), never from input.
import { Router } from 'express'
import type pg from 'pg'
import type { RecordModule } from '../indexer/records/types.js'

export const EXACT_BELOW = 100_000
const COUNT_TIMEOUT_MS = 2000
const TOP_UNINDEXED = 20

/** An indexed collection and its table, as the record registry names them. */
export type IndexedTable = Pick<RecordModule, 'collection' | 'table'>

export type Count = { count: number; exact: boolean }

export type Stats = {
  generatedAt: string
  /** Estimates below this many rows are replaced by exact counts. */
  exactBelow: number
  collections: ({ collection: string; table: string } & Count)[]
  records: Count
  actors: Count
  rejects: Count & { byCategory: { category: string; count: number }[] }
  unindexedCollections: {
    /** How many distinct collections were seen but not indexed, and their ops in all. */
    collections: number
    ops: number
    top: { collection: string; ops: number; lastSeq: number; updatedAt: string }[]
  }
  database: { sizeBytes: number }
}

type Estimate = { relname: string; reltuples: number; n_live_tup: string | null }

function estimateOf(e: Estimate | undefined): number {
  if (!e) return 0
  const live = e.n_live_tup === null ? 0 : Number(e.n_live_tup)
  return live > 0 ? live : Math.max(0, Math.round(e.reltuples))
}

export async function collectStats(pool: pg.Pool, indexed: readonly IndexedTable[]): Promise<Stats> {
  const tables = [...indexed.map((m) => m.table), 'actors', 'rejects']
  const client = await pool.connect()
  let broken: Error | undefined
  try {
    await client.query('BEGIN READ ONLY')
    const { rows: estimates } = await client.query<Estimate>(
      `SELECT c.relname, c.reltuples::float8 AS reltuples, s.n_live_tup
         FROM pg_class c
         JOIN pg_namespace n ON n.oid = c.relnamespace
         LEFT JOIN pg_stat_user_tables s ON s.relid = c.oid
        WHERE n.nspname = current_schema() AND c.relkind = 'r' AND c.relname = ANY($1::text[])`,
      [tables],
    )
    const byTable = new Map(estimates.map((e) => [e.relname, e]))
    await client.query(`SET LOCAL statement_timeout = ${COUNT_TIMEOUT_MS}`)

    /** Runs a query under a savepoint; a timeout yields null instead of aborting the transaction. */
    const bounded = async <T extends pg.QueryResultRow>(sql: string): Promise<T[] | null> => {
      await client.query('SAVEPOINT bounded')
      try {
        const { rows } = await client.query<T>(sql)
        await client.query('RELEASE SAVEPOINT bounded')
        return rows
      } catch (err) {
        if ((err as { code?: unknown }).code !== '57014') throw err
        await client.query('ROLLBACK TO SAVEPOINT bounded')
        return null
      }
    }
    const countTable = async (table: string): Promise<Count> => {
      const estimate = estimateOf(byTable.get(table))
      if (estimate >= EXACT_BELOW) return { count: estimate, exact: false }
      const rows = await bounded<{ n: string }>(`SELECT count(*) AS n FROM ${table}`)
      return rows ? { count: Number(rows[0]!.n), exact: true } : { count: estimate, exact: false }
    }

    const collections: Stats['collections'] = []
    for (const m of indexed) collections.push({ collection: m.collection, table: m.table, ...(await countTable(m.table)) })
    const actors = await countTable('actors')
    const rejectTotal = await countTable('rejects')
    const rejects = { ...rejectTotal, byCategory: await rejectsByCategory(client, bounded, rejectTotal) }

    const { rows: top } = await client.query(
      `SELECT collection, ops, last_seq, updated_at FROM unindexed_collections ORDER BY ops DESC, collection LIMIT ${TOP_UNINDEXED}`,
    )
    const { rows: unindexedTotals } = await client.query(`SELECT count(*) AS collections, coalesce(sum(ops), 0) AS ops FROM unindexed_collections`)
    const { rows: size } = await client.query(`SELECT pg_database_size(current_database()) AS bytes`)
    await client.query('COMMIT')

    return {
      generatedAt: new Date().toISOString(),
      exactBelow: EXACT_BELOW,
      collections,
      records: {
        count: collections.reduce((n, c) => n + c.count, 0),
        exact: collections.every((c) => c.exact),
      },
      actors,
      rejects,
      unindexedCollections: {
        collections: Number(unindexedTotals[0].collections),
        ops: Number(unindexedTotals[0].ops),
        top: top.map((r) => ({
          collection: r.collection,
          ops: Number(r.ops),
          lastSeq: Number(r.last_seq),
          updatedAt: (r.updated_at as Date).toISOString(),
        })),
      },
      database: { sizeBytes: Number(size[0].bytes) },
    }
  } catch (err) {
    await client.query('ROLLBACK').catch(() => {})
    broken = err as Error
    throw err
  } finally {
    // A connection that failed mid-transaction is destroyed rather than handed to the next request.
    client.release(broken)
  }
}

/**
 * Rejects per category: exact (GROUP BY) when the table is small, else from the planner's most-common-values
 * statistics for rejects.category (there are only a handful of categories), scaled to the estimated total.
 */
async function rejectsByCategory(
  client: pg.PoolClient,
  bounded: <T extends pg.QueryResultRow>(sql: string) => Promise<T[] | null>,
  total: Count,
): Promise<{ category: string; count: number }[]> {
  if (total.exact) {
    const rows = await bounded<{ category: string; n: string }>(
      `SELECT category, count(*) AS n FROM rejects GROUP BY category ORDER BY count(*) DESC, category`,
    )
    if (rows) return rows.map((r) => ({ category: r.category, count: Number(r.n) }))
  }
  const { rows } = await client.query<{ vals: string[] | null; freqs: number[] | null }>(
    `SELECT most_common_vals::text::text[] AS vals, most_common_freqs::float8[] AS freqs
       FROM pg_stats WHERE schemaname = current_schema() AND tablename = 'rejects' AND attname = 'category'`,
  )
  const stats = rows[0]
  if (!stats?.vals || !stats.freqs) return []
  return stats.vals
    .map((category, i) => ({ category, count: Math.round((stats.freqs![i] ?? 0) * total.count) }))
    .sort((a, b) => b.count - a.count || a.category.localeCompare(b.category))
}

/**
 * Stale-while-revalidate: a snapshot younger than FRESH_MS is served as it is; an older one is served while one
 * refresh runs in the background, so a busy database (a `max` backfill) never makes a request wait for ~40
 * queries. Only the first request, and any after a refresh found the database down, wait for (or fail with) it;
 * every other request costs one `SELECT 1`, so an outage is answered with 503, not with old numbers.
 */
const FRESH_MS = 2000

export class StatsCache {
  private snapshot: { stats: Stats; at: number } | null = null
  private refreshing: Promise<Stats> | null = null
  private failure: Error | null = null

  constructor(
    private readonly pool: pg.Pool,
    private readonly indexed: readonly IndexedTable[],
  ) {}

  async get(): Promise<Stats> {
    if (!this.snapshot || this.failure) return this.refresh()
    // Old numbers are fine for a couple of seconds, but never while the database is down: one round trip says.
    await this.pool.query('SELECT 1')
    if (Date.now() - this.snapshot.at >= FRESH_MS) this.refresh().catch(() => {})
    return this.snapshot.stats
  }

  private refresh(): Promise<Stats> {
    this.refreshing ??= collectStats(this.pool, this.indexed)
      .then((stats) => {
        this.snapshot = { stats, at: Date.now() }
        this.failure = null
        return stats
      })
      .catch((err: Error) => {
        this.failure = err
        throw err
      })
      .finally(() => {
        this.refreshing = null
      })
    return this.refreshing
  }
}

export function statsRoutes(apiPool: pg.Pool, indexed: readonly IndexedTable[]): Router {
  const router = Router()
  const cache = new StatsCache(apiPool, indexed)
  // Taken at start-up, so that not even the first request waits for the queries.
  cache.get().catch(() => {})
  router.get('/api/stats', async (_req, res) => {
    res.set('Cache-Control', 'no-store').json(await cache.get())
  })
  return router
}
