// The shape every record module shares. A module maps one firehose op to one row, purely; the writer owns SQL.
// Adding a collection = one module file + one line in ./index.ts + its table in a migration.
import type { CreateOp, UpdateOp } from '../../events/index.js'

/** Postgres types a column may have; the writer passes each column as one array parameter to unnest(). */
export type ColumnType = 'text' | 'bigint' | 'timestamptz' | 'jsonb' | 'boolean'

/** A column value as the writer sends it: strings for text/timestamptz (ISO 8601), JSON-able values for jsonb. */
export type ColumnValue = string | number | boolean | null | object

export type RecordModule = {
  /** The NSID this module indexes, e.g. 'app.bsky.feed.like'. */
  collection: string
  /** Its table. Every table also has the shared header columns uri, did, rkey, rev, cid, seq (see 001_init.sql). */
  table: string
  /** The table's own columns, in the order toRow returns them. */
  columns: Readonly<Record<string, ColumnType>>
  /**
   * The row for a create or update. The record has already passed lexicon validation. Throws RecordRejection
   * when the record is valid by lexicon but still cannot be stored (e.g. text with U+0000, a date Postgres
   * cannot hold).
   */
  toRow(op: CreateOp | UpdateOp): Record<string, ColumnValue>
}

/** A record that cannot be indexed: the reason is kept in the rejects table. */
export class RecordRejection extends Error {
  constructor(reason: string) {
    super(reason)
    this.name = 'RecordRejection'
  }
}
