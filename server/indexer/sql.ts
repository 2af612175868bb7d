// The SQL of a batch write: multi-row statements fed by unnest() of array parameters, every record table in one.
// Statements are built from the record modules' column lists; no SQL is ever built from input.
//
// Ordering contract (invariant 4): a row is written only if no tombstone has an equal or later rev, and replaces a
// stored row only when its rev is later. A delete leaves a tombstone with its rev and removes only earlier rows.
// Tombstones no replay can undercut any more are pruned (tombstone-prune.ts); what they said is kept per repository
// as `repo_positions.tombstones_pruned_rev`: a record with no row is not written at a rev below it.
import pg from 'pg'
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

/** One table's part of a batch: which of its statements the records statement holds. */
export type TableStatements = { module: RecordModule; deletes: boolean; upserts: boolean }

/** Parameters of a table's deletes: uri, did, rev, seq. */
const DELETE_PARAMS = 4

/** Parameters of a table's upserts: the header's, then the module's columns in order. */
function upsertParams(module: RecordModule): number {
  return HEADER.length + Object.keys(module.columns).length
}

// A delete leaves its tombstone and removes only earlier rows; its parameters are $first.. (DELETE_PARAMS of them).
function deleteParts(table: string, first: number): string[] {
  const p = (i: number) => `$${first + i}`
  return [
    `${table}_d AS (SELECT * FROM unnest(${p(0)}::text[], ${p(1)}::text[], ${p(2)}::text[], ${p(3)}::bigint[]) AS d(uri, did, rev, seq))`,
    `${table}_tomb AS (
      INSERT INTO tombstones (uri, did, rev, seq) SELECT uri, did, rev, seq FROM ${table}_d
      ON CONFLICT (uri) DO UPDATE SET rev = EXCLUDED.rev, seq = EXCLUDED.seq, deleted_at = now()
      WHERE tombstones.rev < EXCLUDED.rev)`,
    `${table}_del AS (DELETE FROM ${table} t USING ${table}_d d WHERE t.uri = d.uri AND t.rev < d.rev)`,
  ]
}

function upsertPart(module: RecordModule, first: number): string {
  const columns = [...HEADER, ...Object.entries(module.columns)]
  const names = columns.map(([name]) => name)
  const params = columns.map(([, type], i) => `$${first + i}::${paramType(type)}`).join(', ')
  const t = module.table
  return `${t}_up AS (
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
    WHERE ${t}.rev < EXCLUDED.rev)`
}

/**
 * Every record table's deletes and upserts of a batch in one statement (one round trip instead of one or two per
 * table), parameters in the order of `tables`: per table its deletes' (if any), then its upserts'. The parts share
 * one snapshot and none sees another's writes, which is safe because a plan holds at most one op per URI (the
 * latest, prepare.ts) and a URI belongs to one table: no upsert's tombstone check can concern a delete of the same
 * statement. What a part must see (an account's status, its purge) is written by earlier statements.
 */
export function recordsSql(tables: readonly TableStatements[]): string {
  const parts: string[] = []
  let next = 1
  for (const t of tables) {
    if (t.deletes) {
      parts.push(...deleteParts(t.module.table, next))
      next += DELETE_PARAMS
    }
    if (t.upserts) {
      parts.push(upsertPart(t.module, next))
      next += upsertParams(t.module)
    }
  }
  return `WITH ${parts.join(',\n')}\nSELECT 1`
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
 * batches: each sees what the one before it counted. commitSql then adds the batch's span, in its own statement: a
 * row this statement had updated would be invisible to its own FOR UPDATE.
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

const seqLiteral = (seq: number, what: string) => {
  if (!Number.isSafeInteger(seq)) throw new Error(`${what} takes an integer seq, got ${seq}`)
  return String(seq)
}

/**
 * The batch's end in one message, one round trip: its span (after, through] joins the seqs counted (whether or not
 * it had unindexed ops), the cursor advances, and COMMIT. COMMIT takes no parameters, so they go as one simple query with the values
 * as literals: the cursor's name (the pipeline's, never the network's) escaped by pg, every seq checked to be an
 * integer. Sent last, the one row of unindexed_counted that every batch updates is locked only for the commit
 * itself. Should a statement fail, Postgres runs nothing after it in the message: the COMMIT is not reached and the
 * transaction stays aborted for the writer to roll back. The cursor only moves forward: a late, smaller write from
 * an earlier batch cannot move it back.
 */
export function commitSql(end: { span: { after: number; through: number } | null; cursor: { name: string; seq: number } | null }): string {
  const statements: string[] = []
  const { span, cursor } = end
  if (span) {
    statements.push(`
    INSERT INTO unindexed_counted AS c (only_row, seqs)
    VALUES (true, int8multirange(int8range(${seqLiteral(span.after, 'a counted span')}::bigint, ${seqLiteral(span.through, 'a counted span')}::bigint, '(]')))
    ON CONFLICT (only_row) DO UPDATE SET seqs = c.seqs + EXCLUDED.seqs WHERE NOT c.seqs @> EXCLUDED.seqs`)
  }
  if (cursor) {
    statements.push(`
    INSERT INTO cursors (name, seq) VALUES (${pg.escapeLiteral(cursor.name)}, ${seqLiteral(cursor.seq, `the cursor "${cursor.name}"`)})
    ON CONFLICT (name) DO UPDATE SET seq = GREATEST(cursors.seq, EXCLUDED.seq), updated_at = now()`)
  }
  statements.push('\n    COMMIT')
  return statements.join(';')
}
