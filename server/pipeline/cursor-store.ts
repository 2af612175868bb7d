// Where a firehose consumer's position lives. The seq itself is advanced by the writer inside batch transactions
// (see indexer/sql.ts commitSql); this store reads it and keeps the consumer's run metadata.
import type pg from 'pg'

export type StoredCursor<Meta> = { seq: number | null; meta: Meta | null }

export interface CursorStore<Meta> {
  load(): Promise<StoredCursor<Meta>>
  saveMeta(meta: Meta): Promise<void>
  /** Starts over: a new run with its own starting seq (events after it are replayed). */
  reset(seq: number | null, meta: Meta): Promise<void>
}

export class PgCursorStore<Meta extends object> implements CursorStore<Meta> {
  constructor(
    private readonly pool: pg.Pool,
    readonly name: string,
  ) {}

  async load(): Promise<StoredCursor<Meta>> {
    const { rows } = await this.pool.query<{ seq: string | null; meta: Meta }>(
      'SELECT seq, meta FROM cursors WHERE name = $1',
      [this.name],
    )
    const row = rows[0]
    if (!row) return { seq: null, meta: null }
    return { seq: row.seq === null ? null : Number(row.seq), meta: Object.keys(row.meta).length ? row.meta : null }
  }

  async saveMeta(meta: Meta): Promise<void> {
    await this.pool.query(
      `INSERT INTO cursors (name, meta) VALUES ($1, $2)
       ON CONFLICT (name) DO UPDATE SET meta = EXCLUDED.meta, updated_at = now()`,
      [this.name, JSON.stringify(meta)],
    )
  }

  async reset(seq: number | null, meta: Meta): Promise<void> {
    await this.pool.query(
      `INSERT INTO cursors (name, seq, meta) VALUES ($1, $2, $3)
       ON CONFLICT (name) DO UPDATE SET seq = EXCLUDED.seq, meta = EXCLUDED.meta, updated_at = now()`,
      [this.name, seq, JSON.stringify(meta)],
    )
  }
}
