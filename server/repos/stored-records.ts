// The indexed records of one repository, read from every record table in key order (`collection/rkey`, bytewise),
// a page at a time: what a resync merges against its CAR to find deletes, and what the audit compares with it.
import type pg from 'pg'
import { RECORD_MODULES } from '../indexer/records/index.js'

/** A stored row of the repository: its key, the CID it holds and the rev of the op that wrote it. */
export type StoredRecord = { key: string; cid: string; rev: string }

const DEFAULT_PAGE = 1000

// URIs of one repo are `at://<did>/<key>`; in "C" collation they sort as their keys do, and `at://<did>0` is the
// first string past every one of them ('0' follows '/'), so each table's primary key serves the range.
const ROWS_SQL = `
  SELECT uri, cid, rev FROM (${RECORD_MODULES.map((m) => `SELECT uri, cid, rev FROM ${m.table} WHERE uri > $1 AND uri < $2`).join(' UNION ALL ')}) u
  ORDER BY uri LIMIT $3`

/** Every indexed record of `did`, in key order; memory is one page whatever the repository's size. */
export async function* storedRecords(db: Pick<pg.Pool, 'query'>, did: string, pageSize = DEFAULT_PAGE): AsyncGenerator<StoredRecord> {
  const prefix = `at://${did}/`
  const end = `at://${did}0`
  for (let after = prefix; ; ) {
    const { rows } = await db.query<{ uri: string; cid: string; rev: string }>(ROWS_SQL, [after, end, pageSize])
    for (const r of rows) yield { key: r.uri.slice(prefix.length), cid: r.cid, rev: r.rev }
    if (rows.length < pageSize) return
    after = rows[rows.length - 1].uri
  }
}
