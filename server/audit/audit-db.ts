// What the audit reads from the database (and, for a repair, removes): the repositories to choose from, an actor's
// served handle and status, why a candidate difference is none, and the rows a resync at the same rev would not
// replace. Every query is bounded: by a page, a batch of candidates, or a LIMIT.
import type pg from 'pg'
import { moduleFor } from '../indexer/records/index.js'
import type { Explanation, RecordDifference } from './compare-repo.js'

type Queryable = Pick<pg.Pool, 'query'>

/** Every DID skyfill knows: an actor it indexed, or a repository it listed. */
const KNOWN_DIDS = `SELECT did FROM actors UNION SELECT did FROM repos`

/** Up to `n` known DIDs chosen at random. */
export async function sampleDids(db: Queryable, n: number): Promise<string[]> {
  const { rows } = await db.query<{ did: string }>(`SELECT did FROM (${KNOWN_DIDS}) k ORDER BY random() LIMIT $1`, [n])
  return rows.map((r) => r.did)
}

/** Every known DID in order, a page at a time. */
export async function* allDids(db: Queryable, pageSize = 1000): AsyncGenerator<string> {
  for (let after = ''; ; ) {
    const { rows } = await db.query<{ did: string }>(
      `SELECT did FROM (${KNOWN_DIDS}) k WHERE did > $1 ORDER BY did LIMIT $2`,
      [after, pageSize],
    )
    for (const r of rows) yield r.did
    if (rows.length < pageSize) return
    after = rows[rows.length - 1]!.did
  }
}

/** The handle served for the DID and its account status; null when there is no actor row. */
export async function actorOf(db: Queryable, did: string): Promise<{ handle: string | null; status: string } | null> {
  const { rows } = await db.query<{ handle: string | null; status: string }>('SELECT handle, status FROM actors WHERE did = $1', [did])
  return rows[0] ?? null
}

// Refused: a reject row names the record (its lexicon, its size, its block). Deleted after the fetch: a tombstone
// of a later commit than the fetched one.
const EXPLAIN_SQL = `
  SELECT c.ord,
    EXISTS (SELECT 1 FROM rejects r WHERE r.uri = c.uri AND r.category IN ('record', 'car', 'verify')) AS refused,
    EXISTS (SELECT 1 FROM tombstones t WHERE t.uri = c.uri AND t.rev > $2) AS deleted_after
  FROM unnest($1::text[]) WITH ORDINALITY AS c(uri, ord)
  ORDER BY c.ord`

/** The `explain` of compare-repo.ts for one repository fetched at `rev`. */
export function explainer(db: Queryable, did: string, rev: string) {
  return async (candidates: readonly RecordDifference[]): Promise<(Explanation | null)[]> => {
    const uris = candidates.map((c) => `at://${did}/${c.key}`)
    const { rows } = await db.query<{ refused: boolean; deleted_after: boolean }>(EXPLAIN_SQL, [uris, rev])
    return rows.map((r, i) => {
      if (r.refused) return 'refused'
      return candidates[i]!.kind === 'missing' && r.deleted_after ? 'changed-after-fetch' : null
    })
  }
}

/**
 * Removes rows that differ from the repository fetched at `rev` and that a resync at that same rev would leave (the
 * writer replaces only older rows): each only while it still holds the CID the audit saw and no later commit wrote
 * it. The resync that follows writes the repository's own version. Returns how many were removed.
 */
export async function removeDifferingRows(db: Queryable, did: string, rev: string, rows: readonly { key: string; cid: string }[]): Promise<number> {
  const byTable = new Map<string, { uris: string[]; cids: string[] }>()
  for (const r of rows) {
    const table = moduleFor(r.key.slice(0, r.key.indexOf('/')))?.table
    if (!table) continue
    let t = byTable.get(table)
    if (!t) byTable.set(table, (t = { uris: [], cids: [] }))
    t.uris.push(`at://${did}/${r.key}`)
    t.cids.push(r.cid)
  }
  let removed = 0
  for (const [table, t] of byTable) {
    const res = await db.query(
      `DELETE FROM ${table} d USING unnest($1::text[], $2::text[]) AS x(uri, cid)
       WHERE d.uri = x.uri AND d.cid = x.cid AND d.rev <= $3`,
      [t.uris, t.cids, rev],
    )
    removed += res.rowCount ?? 0
  }
  return removed
}

/**
 * Sets an account's status to what its PDS answered, unless it changed since the audit read it (`stored`; 'active'
 * also when there was no actor row). status_seq is left alone: the next #account event from the stream, being
 * later than this, still applies over it.
 */
export async function repairStatus(db: Queryable, did: string, stored: string, status: string): Promise<boolean> {
  const res = await db.query(
    `INSERT INTO actors (did, status) VALUES ($1, $2)
     ON CONFLICT (did) DO UPDATE SET status = EXCLUDED.status WHERE actors.status = $3`,
    [did, status, stored],
  )
  return res.rowCount === 1
}
