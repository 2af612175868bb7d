// Moves repositories out of 'desynchronized': the writer only marks positions (server/indexer/repo-chain.ts), this
// module confirms the gaps it could not yet call, queues one whole-repository fetch per desynchronized repo through
// the job store, marks a repo active again when its fetch lands (in the fetch's own write transaction), and, after
// the source lost events (OutdatedCursor, a recorded gap), compares every known repo with its PDS's latest commit.
//
// Guarantees: a repo is queued once per desynchronization (queuing moves it to 'resyncing' under a row lock, so
// two schedulers do not both queue it); a resync never moves a position back past a newer commit applied while it
// ran; every state change and gap is recorded in rejects (categories 'gap' and 'sync'), resolved, never deleted.
import type pg from 'pg'
import { GAP_REASON } from '../indexer/repo-chain.js'
import { SYNC_STATES, type SyncState } from '../indexer/sync-states.js'
import { abortableSleep } from '../lib/sleep.js'
import type { Transaction } from '../pipeline/sink.js'
import type { RepoJobStore } from './job-store.js'

/** `com.atproto.sync.getLatestCommit` for one repository; null when its PDS does not have it (any more). */
export type LatestCommit = (did: string) => Promise<{ rev: string; cid: string } | null>

export type SyncStateCounts = Record<SyncState, number> & { total: number }

/** Who wrote the gap rows this module records. */
const SOURCE = 'repos'

type Queryable = Pick<pg.Pool, 'query'>

// A hole whose opening seq every consumer has passed will not be filled by a late batch any more: it is a gap.
const CONFIRM_GAPS_SQL = `
  WITH locked AS (
    SELECT did, holes FROM repo_positions WHERE holes IS NOT NULL AND sync_state = 'active'
    ORDER BY did FOR UPDATE SKIP LOCKED
  ), found AS (
    SELECT l.did, (SELECT h FROM jsonb_array_elements(l.holes) h WHERE (h->>'seq')::bigint <= $1
                   ORDER BY (h->>'seq')::bigint LIMIT 1) AS hole
    FROM locked l
  ), marked AS (
    UPDATE repo_positions p SET sync_state = 'desynchronized', reason = $2, gap = f.hole, holes = NULL,
      state_changed_at = now(), updated_at = now()
    FROM found f WHERE p.did = f.did AND f.hole IS NOT NULL
    RETURNING p.did, f.hole
  ), recorded AS (
    INSERT INTO rejects (seq, seq_known, source, category, reason, did, detail)
    SELECT (hole->>'seq')::bigint, true, $3, 'gap', $2, did, hole FROM marked
    ON CONFLICT DO NOTHING
  )
  SELECT did FROM marked ORDER BY did`

const RESYNCED_SQL = `
  WITH moved AS (
    INSERT INTO repo_positions AS p (did, rev, data_cid, sync_state, reason)
    VALUES ($1, $2, $3, 'active', 'resynced')
    ON CONFLICT (did) DO UPDATE SET
      -- a live commit newer than the fetched one was applied meanwhile (its rows too, by the rev guard): keep it
      rev = CASE WHEN p.rev > EXCLUDED.rev THEN p.rev ELSE EXCLUDED.rev END,
      data_cid = CASE WHEN p.rev > EXCLUDED.rev THEN p.data_cid ELSE EXCLUDED.data_cid END,
      holes = CASE WHEN p.rev > EXCLUDED.rev
                   THEN (SELECT jsonb_agg(h) FROM jsonb_array_elements(p.holes) h WHERE h->>'before' > EXCLUDED.rev) END,
      sync_state = 'active',
      reason = CASE WHEN p.sync_state = 'active' THEN p.reason ELSE 'resynced' END,
      state_changed_at = CASE WHEN p.sync_state = 'active' THEN p.state_changed_at ELSE now() END,
      updated_at = now()
    RETURNING p.did
  )
  UPDATE rejects SET resolved_at = now()
  WHERE did = $1 AND resolved_at IS NULL AND category IN ('gap', 'sync')`

const BEHIND_SQL = `
  WITH x AS (
    SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[]) AS x(did, applied, latest_rev, latest_cid)
  ), marked AS (
    UPDATE repo_positions p SET sync_state = 'desynchronized', reason = $5, holes = NULL,
      gap = jsonb_build_object('applied', x.applied, 'latestRev', x.latest_rev, 'latestCid', x.latest_cid),
      state_changed_at = now(), updated_at = now()
    FROM x
    -- only if nothing was applied since it was read: a commit landing meanwhile may have caught up
    WHERE p.did = x.did AND p.rev IS NOT DISTINCT FROM x.applied AND p.sync_state = 'active'
    RETURNING p.did, p.gap
  ), recorded AS (
    INSERT INTO rejects (seq, seq_known, source, category, reason, did, detail)
    SELECT NULL, false, $6, 'gap', $5, did, gap FROM marked
  )
  SELECT did FROM marked ORDER BY did`

/**
 * Confirms the holes still open although every event up to `throughSeq` has been written (by whichever consumer
 * delivers it): those repos become desynchronized. Returns their DIDs.
 */
export async function confirmGaps(db: Queryable, throughSeq: number): Promise<string[]> {
  const { rows } = await db.query<{ did: string }>(CONFIRM_GAPS_SQL, [throughSeq, GAP_REASON.missed, SOURCE])
  return rows.map((r) => r.did)
}

/**
 * Queues a whole-repository fetch for up to `limit` desynchronized repos (oldest first) and moves them to
 * 'resyncing'. Returns the DIDs queued.
 */
export async function queueResyncs(pool: pg.Pool, jobs: Pick<RepoJobStore, 'reset'>, limit = 500): Promise<string[]> {
  const client = await pool.connect()
  try {
    await client.query('BEGIN')
    const { rows } = await client.query<{ did: string }>(
      `SELECT did FROM repo_positions WHERE sync_state = 'desynchronized'
       ORDER BY state_changed_at, did LIMIT $1 FOR UPDATE SKIP LOCKED`,
      [limit],
    )
    const dids = rows.map((r) => r.did)
    // queued before the state moves: a crash in between queues it again, which is harmless; the reverse would not be
    for (const did of dids) await jobs.reset(did, null)
    if (dids.length) {
      await client.query(
        `UPDATE repo_positions SET sync_state = 'resyncing', reason = 'resync queued', state_changed_at = now(), updated_at = now()
         WHERE did = ANY($1::text[]) AND sync_state = 'desynchronized'`,
        [dids],
      )
    }
    await client.query('COMMIT')
    return dids
  } catch (err) {
    await client.query('ROLLBACK').catch(() => {})
    throw err
  } finally {
    client.release()
  }
}

/**
 * A resync asked for from outside the chain of commits (the audit found the repository's rows differ from it): its
 * whole repository is queued and its position moves to 'resyncing' with `reason`, which the fetch's landing ends.
 */
export async function queueResync(db: Queryable, jobs: Pick<RepoJobStore, 'reset'>, did: string, reason: string): Promise<void> {
  await jobs.reset(did, null)
  await db.query(
    `INSERT INTO repo_positions (did, sync_state, reason) VALUES ($1, 'resyncing', $2)
     ON CONFLICT (did) DO UPDATE SET sync_state = 'resyncing', reason = $2, state_changed_at = now(), updated_at = now()`,
    [did, reason],
  )
}

/**
 * In the transaction that writes a fetched repository's rows: its position becomes active at the fetched commit,
 * unless a newer commit was applied meanwhile (then that one stays), and its gap and #sync rows are resolved.
 */
export async function markResynced(tx: Transaction, did: string, rev: string, dataCid: string): Promise<void> {
  await tx.query(RESYNCED_SQL, [did, rev, dataCid])
}

/** A resync that cannot be done (the repository is gone, its fetch failed for good): the position says why. */
export async function markResyncFailed(db: Queryable, did: string, reason: string): Promise<boolean> {
  const res = await db.query(
    `UPDATE repo_positions SET sync_state = 'error', reason = $2, state_changed_at = now(), updated_at = now()
     WHERE did = $1 AND sync_state IN ('desynchronized', 'resyncing')`,
    [did, reason],
  )
  return res.rowCount === 1
}

export type CheckAllOptions = { concurrency?: number; pageSize?: number; signal?: AbortSignal }
export type CheckAllResult = { checked: number; desynchronized: string[]; failed: number }

/**
 * After the source lost events: asks each active repo's latest commit and marks desynchronized those whose PDS is
 * ahead of what was applied. A lookup that fails leaves its repo as it is (counted in `failed`).
 */
export async function checkAll(db: Queryable, latestCommit: LatestCommit, options: CheckAllOptions = {}): Promise<CheckAllResult> {
  const { concurrency = 4, pageSize = 500, signal } = options
  const result: CheckAllResult = { checked: 0, desynchronized: [], failed: 0 }
  for (let after = ''; !signal?.aborted; ) {
    const { rows } = await db.query<{ did: string; rev: string | null }>(
      `SELECT did, rev FROM repo_positions WHERE did > $1 AND sync_state = 'active' ORDER BY did LIMIT $2`,
      [after, pageSize],
    )
    if (rows.length === 0) break
    after = rows[rows.length - 1].did
    const behind: { did: string; applied: string | null; rev: string; cid: string }[] = []
    let next = 0
    const worker = async () => {
      while (next < rows.length && !signal?.aborted) {
        const row = rows[next++]
        try {
          const latest = await latestCommit(row.did)
          result.checked++
          if (latest && (row.rev === null || latest.rev > row.rev)) behind.push({ did: row.did, applied: row.rev, ...latest })
        } catch {
          result.failed++
        }
      }
    }
    await Promise.all(Array.from({ length: Math.min(concurrency, rows.length) }, worker))
    if (behind.length === 0) continue
    const marked = await db.query<{ did: string }>(BEHIND_SQL, [
      behind.map((b) => b.did),
      behind.map((b) => b.applied),
      behind.map((b) => b.rev),
      behind.map((b) => b.cid),
      GAP_REASON.latestCommit,
      SOURCE,
    ])
    result.desynchronized.push(...marked.rows.map((r) => r.did))
  }
  return result
}

/** Repositories by sync state, for /api/backfill and /metrics. */
export async function syncStateCounts(db: Queryable): Promise<SyncStateCounts> {
  const { rows } = await db.query<{ sync_state: SyncState; n: string }>(
    'SELECT sync_state, count(*) AS n FROM repo_positions GROUP BY sync_state',
  )
  const counts = Object.fromEntries(SYNC_STATES.map((s) => [s, 0])) as SyncStateCounts
  counts.total = 0
  for (const r of rows) {
    counts[r.sync_state] = Number(r.n)
    counts.total += Number(r.n)
  }
  return counts
}

export type ResyncSchedulerDeps = {
  pool: pg.Pool
  jobs: Pick<RepoJobStore, 'reset'>
  /** The seq up to which every consumer has written what the source delivers; null while that is not known. */
  committedThrough: () => Promise<number | null>
  intervalMs: number
  log: (line: string) => void
  /** True while the database is known to be down (the intake gate says so): rounds are skipped, not retried hot. */
  paused?: () => boolean
}

/** Runs confirmGaps and queueResyncs every `intervalMs`; one line per round that changed something. */
export class ResyncScheduler {
  private readonly abort = new AbortController()
  private running: Promise<void> | null = null

  constructor(private readonly deps: ResyncSchedulerDeps) {}

  async runOnce(): Promise<{ confirmed: string[]; queued: string[] }> {
    const through = await this.deps.committedThrough()
    const confirmed = through === null ? [] : await confirmGaps(this.deps.pool, through)
    const queued = await queueResyncs(this.deps.pool, this.deps.jobs)
    if (confirmed.length || queued.length) {
      this.deps.log(`Repos: ${confirmed.length} gap(s) confirmed, ${queued.length} resync(s) queued`)
    }
    return { confirmed, queued }
  }

  start(): void {
    this.running ??= (async () => {
      while (!this.abort.signal.aborted) {
        try {
          if (!this.deps.paused?.()) await this.runOnce()
        } catch (err) {
          this.deps.log(`Repos: resync round failed: ${(err as Error).message}`)
        }
        await abortableSleep(this.deps.intervalMs, this.abort.signal)
      }
    })()
  }

  async stop(): Promise<void> {
    this.abort.abort()
    await this.running
  }
}
