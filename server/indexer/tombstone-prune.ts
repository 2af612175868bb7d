// Prunes the tombstones no replay can undercut any more, so the table stays bounded. A tombstone exists so that an
// older create or update of its record, arriving after the delete, cannot bring the record back. Once pruned, the
// same guard is kept per repository in one rev, `repo_positions.tombstones_pruned_rev` (sql.ts: no record without a
// row is written below it), raised in the transaction that deletes the tombstones.
//
// That rev must not hold back an op still to come that is no replay of the past: a firehose tombstone goes only once
// every consumer has committed past its seq (every op of its repository still to come has a later seq, so a later
// rev), and per relay the highest seq pruned is kept (`tombstone_horizons`) so that no later run replays below it.
// A resync's tombstone (seq 0) says the repository's state at its rev was fetched whole: an older op of a record
// without a row is one that state no longer has. And every tombstone is kept for the retention first, so a
// repository fetched before a delete and written after it still lands whole.
import type pg from 'pg'

export type PruneOptions = {
  /** The cursors of every consumer that replays or follows the firehose: the prune floor is the lowest of them. */
  consumers: readonly string[]
  /** The relay their seqs belong to, for the horizon. */
  relay: string
  /** A tombstone younger than this is kept, whatever the floor. */
  retentionMs: number
  /** Tombstones deleted per transaction. */
  chunk?: number
}

export type PruneOutcome = {
  pruned: number
  /** The lowest committed cursor of the consumers; null when one has none, then only resyncs' tombstones go. */
  floor: number | null
}

const PRUNE_SQL = `
  WITH floor AS (
    SELECT CASE WHEN count(*) = 0 OR bool_or(seq IS NULL) THEN NULL ELSE min(seq) END AS seq
    FROM cursors WHERE name = ANY($1::text[])
  ),
  doomed AS (
    SELECT t.uri, t.did, t.rev, t.seq FROM tombstones t
    WHERE t.deleted_at < now() - $2 * interval '1 millisecond'
      AND (t.seq = 0 OR t.seq <= (SELECT seq FROM floor))
    ORDER BY t.deleted_at LIMIT $3 FOR UPDATE OF t SKIP LOCKED
  ),
  marks AS (
    INSERT INTO repo_positions (did, tombstones_pruned_rev)
    SELECT did, max(rev) FROM doomed GROUP BY did ORDER BY did
    ON CONFLICT (did) DO UPDATE SET
      tombstones_pruned_rev = GREATEST(repo_positions.tombstones_pruned_rev, EXCLUDED.tombstones_pruned_rev)
  ),
  horizon AS (
    INSERT INTO tombstone_horizons (relay, seq) SELECT $4, max(seq) FROM doomed HAVING max(seq) > 0
    ON CONFLICT (relay) DO UPDATE SET seq = GREATEST(tombstone_horizons.seq, EXCLUDED.seq), updated_at = now()
  ),
  gone AS (DELETE FROM tombstones t USING doomed d WHERE t.uri = d.uri RETURNING 1)
  SELECT (SELECT count(*) FROM gone)::int AS pruned, (SELECT seq FROM floor) AS floor`

/** Prunes in chunks until none is left to prune (or `signal` aborts). */
export async function pruneTombstones(db: Pick<pg.Pool, 'query'>, opts: PruneOptions, signal?: AbortSignal): Promise<PruneOutcome> {
  const chunk = opts.chunk ?? 1000
  let pruned = 0
  for (;;) {
    const { rows } = await db.query<{ pruned: number; floor: string | null }>(PRUNE_SQL, [opts.consumers, opts.retentionMs, chunk, opts.relay])
    const row = rows[0]!
    pruned += row.pruned
    if (row.pruned < chunk || signal?.aborted) return { pruned, floor: row.floor === null ? null : Number(row.floor) }
  }
}

/** The highest seq of `relay` below which tombstones may have been pruned: no run may replay at or below it. */
export async function tombstoneHorizon(db: Pick<pg.Pool, 'query'>, relay: string): Promise<number | null> {
  const { rows } = await db.query<{ seq: string }>('SELECT seq FROM tombstone_horizons WHERE relay = $1', [relay])
  return rows[0] ? Number(rows[0].seq) : null
}
