// The SQL of a batch write: one multi-row statement per table and purpose, fed by unnest() of array parameters.
// Statements are built once per record module from its column list; no SQL is ever built from input.
//
// Ordering contract (invariant 4): a row is written only if no tombstone has an equal or later rev, and replaces a
// stored row only when its rev is later. A delete leaves a tombstone with its rev and removes only earlier rows.
// Tombstones no replay can undercut any more are pruned (tombstone-prune.ts); what they said is kept per repository
// as `repo_positions.tombstones_pruned_rev`: a record with no row is not written at a rev below it.
import type { ColumnType, RecordModule } from './records/types.js'

const HEADER: [string, ColumnType][] = [
  ['uri', 'text'],
  ['did', 'text'],
  ['rkey', 'text'],
  ['rev', 'text'],
  ['cid', 'text'],
  ['seq', 'bigint'],
]

/** The array type a column is sent as: jsonb and timestamptz travel as text and are cast in the SELECT. */
function paramType(type: ColumnType): string {
  return type === 'bigint' ? 'bigint[]' : type === 'boolean' ? 'boolean[]' : 'text[]'
}

function cast(name: string, type: ColumnType): string {
  return type === 'jsonb' || type === 'timestamptz' ? `x.${name}::${type}` : `x.${name}`
}

const upsertCache = new Map<string, string>()

export function upsertSql(module: RecordModule): string {
  const cached = upsertCache.get(module.table)
  if (cached) return cached
  const columns = [...HEADER, ...Object.entries(module.columns)]
  const names = columns.map(([name]) => name)
  const params = columns.map(([, type], i) => `$${i + 1}::${paramType(type)}`).join(', ')
  const t = module.table
  const sql = `
    INSERT INTO ${t} (${names.join(', ')})
    SELECT ${columns.map(([name, type]) => cast(name, type)).join(', ')}
    FROM unnest(${params}) AS x(${names.join(', ')})
    WHERE NOT EXISTS (SELECT 1 FROM tombstones ts WHERE ts.uri = x.uri AND ts.rev >= x.rev)
      AND NOT EXISTS (
        SELECT 1 FROM repo_positions p WHERE p.did = x.did AND p.tombstones_pruned_rev > x.rev
          AND NOT EXISTS (SELECT 1 FROM ${t} r WHERE r.uri = x.uri))
      AND NOT EXISTS (SELECT 1 FROM actors a WHERE a.did = x.did AND a.status = 'deleted' AND a.status_seq > x.seq)
    ON CONFLICT (uri) DO UPDATE SET
      ${names.filter((n) => n !== 'uri').map((n) => `${n} = EXCLUDED.${n}`).join(', ')}, indexed_at = now()
    WHERE ${t}.rev < EXCLUDED.rev`
  upsertCache.set(module.table, sql)
  return sql
}

const deleteCache = new Map<string, string>()

export function deleteSql(table: string): string {
  const cached = deleteCache.get(table)
  if (cached) return cached
  const sql = `
    WITH d AS (SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::bigint[]) AS d(uri, did, rev, seq)),
    tomb AS (
      INSERT INTO tombstones (uri, did, rev, seq) SELECT uri, did, rev, seq FROM d
      ON CONFLICT (uri) DO UPDATE SET rev = EXCLUDED.rev, seq = EXCLUDED.seq, deleted_at = now()
      WHERE tombstones.rev < EXCLUDED.rev
    )
    DELETE FROM ${table} t USING d WHERE t.uri = d.uri AND t.rev < d.rev`
  deleteCache.set(table, sql)
  return sql
}

/**
 * In did order, like the account locks taken right after it (write-locks.ts), so two batches never wait in a cycle.
 * A new actor's identity_due_at defaults to now(): the identity refresher verifies it next.
 */
export const ENSURE_ACTORS_SQL = `
  INSERT INTO actors (did) SELECT d FROM unnest($1::text[]) AS d ORDER BY d COLLATE "C" ON CONFLICT (did) DO NOTHING`

/**
 * An #identity event is a claim, not a verified handle: it makes the actor due for the identity refresher, and its
 * handle is served only as a tentative one while the actor has never been verified (identity_checked_at null);
 * after that only the refresher writes handles. Moving identity_due_at also voids a refresh already under way (its
 * claim token). Returns the DIDs whose event was newer than the last one recorded.
 */
export const SET_HANDLES_SQL = `
  UPDATE actors a SET
    handle = CASE WHEN a.identity_checked_at IS NULL THEN x.handle ELSE a.handle END,
    handle_seq = x.seq,
    identity_due_at = now()
  FROM unnest($1::text[], $2::text[], $3::bigint[]) AS x(did, handle, seq)
  WHERE a.did = x.did AND a.handle_seq < x.seq
  RETURNING a.did`

/**
 * Returns the accounts that came back (from takendown, suspended or deactivated to active): while inactive their
 * repository changed unseen, so REACTIVATED_SQL has each resynced. Every CTE reads the rows as they were before the
 * UPDATE, which is what `before` needs.
 */
export const SET_STATUSES_SQL = `
  WITH x AS (SELECT * FROM unnest($1::text[], $2::text[], $3::bigint[]) AS x(did, status, seq)),
  before AS (SELECT a.did, a.status FROM actors a JOIN x ON a.did = x.did WHERE a.status_seq < x.seq),
  updated AS (
    UPDATE actors a SET status = x.status, status_seq = x.seq
    FROM x WHERE a.did = x.did AND a.status_seq < x.seq
    RETURNING a.did, a.status
  )
  SELECT u.did FROM updated u JOIN before b ON b.did = u.did WHERE u.status = 'active' AND b.status <> 'active'`

/** A reactivated account's repository is resynced (the resync scheduler queues every desynchronized one). */
export const REACTIVATED_SQL = `
  INSERT INTO repo_positions (did, sync_state, reason, state_changed_at)
  SELECT d, 'desynchronized', 'account reactivated: its repository may have changed while it was inactive', now()
  FROM unnest($1::text[]) AS d
  ON CONFLICT (did) DO UPDATE SET sync_state = 'desynchronized', reason = EXCLUDED.reason, state_changed_at = now(),
    updated_at = now()
  WHERE repo_positions.sync_state = 'active'`

/** A deleted account's records are removed, in every record table, up to the deletion's seq. */
export function purgeAccountSql(table: string): string {
  return `
    DELETE FROM ${table} t USING unnest($1::text[], $2::bigint[]) AS x(did, seq)
    WHERE t.did = x.did AND t.seq < x.seq`
}

export const INSERT_REJECTS_SQL = `
  INSERT INTO rejects (seq, seq_known, source, category, reason, did, uri, collection, detail)
  SELECT x.seq, x.seq_known, $1, x.category, x.reason, x.did, x.uri, x.collection, x.detail::jsonb
  FROM unnest($2::bigint[], $3::boolean[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[], $9::text[])
    AS x(seq, seq_known, category, reason, did, uri, collection, detail)
  ON CONFLICT DO NOTHING`

/**
 * The batch's unindexed ops (collection, seq), counted unless their seq is in the seqs counted already (a replay of
 * what was counted). The one row of unindexed_counted, locked first by every batch that counts, orders concurrent
 * batches: each sees what the one before it counted. MARK_COUNTED_SQL then adds the batch's span, in its own
 * statement: a row this statement had updated would be invisible to its own FOR UPDATE.
 */
export const COUNT_UNINDEXED_SQL = `
  WITH before AS (SELECT seqs FROM unindexed_counted FOR UPDATE),
  fresh AS (
    SELECT x.collection, x.seq FROM unnest($1::text[], $2::bigint[]) AS x(collection, seq)
    WHERE NOT EXISTS (SELECT 1 FROM before b WHERE b.seqs @> x.seq)
  )
  INSERT INTO unindexed_collections AS u (collection, ops, last_seq)
  SELECT collection, count(*), max(seq) FROM fresh GROUP BY collection ORDER BY collection
  ON CONFLICT (collection) DO UPDATE SET
    ops = u.ops + EXCLUDED.ops, last_seq = GREATEST(u.last_seq, EXCLUDED.last_seq), updated_at = now()`

/** The batch's span (after, through] joins the seqs counted, whether or not it had ops to count. */
export const MARK_COUNTED_SQL = `
  INSERT INTO unindexed_counted AS c (only_row, seqs) VALUES (true, int8multirange(int8range($1::bigint, $2::bigint, '(]')))
  ON CONFLICT (only_row) DO UPDATE SET seqs = c.seqs + EXCLUDED.seqs WHERE NOT c.seqs @> EXCLUDED.seqs`

/** The cursor only moves forward: a late, smaller write from an earlier batch cannot move it back. */
export const ADVANCE_CURSOR_SQL = `
  INSERT INTO cursors (name, seq) VALUES ($1, $2)
  ON CONFLICT (name) DO UPDATE SET seq = GREATEST(cursors.seq, EXCLUDED.seq), updated_at = now()`
