// Where a run's seq ranges live (replay_ranges, migration 006), handed out under leases so that any number of
// instances share the replay window, and a restart resumes with a query.
//
// Guarantees: a claim takes a row lock (FOR UPDATE SKIP LOCKED), so two claims never hand out the same range; a
// range whose holder died is claimable again once its lease lapsed (the holder's heartbeat stopped, or the lease ran
// out: db/lease-liveness.ts), from its committed cursor; a range is marked done once, by its holder, and only when
// its cursor has reached its end; a done range is never claimed again. A holder whose lease lapsed keeps the range
// until someone else claims it. The run's own cursor (the `backfill` row) is the lowest seq below which every range
// is written, and only ever moves forward.
import type pg from 'pg'
import { leaseLapsed } from '../../db/lease-liveness.js'
import { initialCursor, type SeqRange } from './range-split.js'

export type ClaimedRange = SeqRange & {
  id: number
  cursorName: string
  /** The committed cursor when claimed: the replay starts after it. */
  from: number
  /** Who held it before, when this claim took it over from a lapsed lease. */
  takenFrom: string | null
}

/** The whole run's replay as Postgres has it, whichever instances wrote it. */
export type RangeSummary = {
  ranges: number
  done: number
  /** Ranges under a lease that has not lapsed. */
  replaying: number
  /** Seqs of the window written, over every range. */
  written: number
  /** The lowest seq below which every range is written (the head once all are done). */
  cursor: number
}

const CLAIM_SQL = `
  WITH next AS (
    SELECT id, lease_owner AS previous FROM replay_ranges
    WHERE run_id = $1 AND (state = 'pending' OR (state = 'replaying' AND ${leaseLapsed('replay_ranges')}))
    ORDER BY range_start LIMIT 1 FOR UPDATE SKIP LOCKED
  )
  UPDATE replay_ranges r SET state = 'replaying', lease_owner = $2, lease_until = now() + $3::integer * interval '1 millisecond', lease_ms = $3::integer,
    claims = r.claims + 1,
    claimed_from = GREATEST(r.range_start, LEAST(r.range_end, COALESCE((SELECT seq FROM cursors WHERE name = r.cursor_name), r.range_start)))
  FROM next WHERE r.id = next.id
  RETURNING r.id, r.range_start, r.range_end, r.cursor_name, r.claimed_from, next.previous`

// A range's written part: from its start to its committed cursor, clamped to the range.
const WRITTEN_TO = `GREATEST(r.range_start, LEAST(r.range_end, COALESCE(c.seq, r.range_start)))`

const ADVANCE_SQL = `
  WITH s AS (
    SELECT count(*)::int AS ranges, count(*) FILTER (WHERE r.state = 'done')::int AS done,
      count(*) FILTER (WHERE r.state = 'replaying' AND NOT ${leaseLapsed('r')})::int AS replaying,
      COALESCE(sum(${WRITTEN_TO} - r.range_start), 0)::bigint AS written,
      COALESCE(min(CASE WHEN r.state <> 'done' THEN ${WRITTEN_TO} END), $2) AS cursor
    FROM replay_ranges r LEFT JOIN cursors c ON c.name = r.cursor_name WHERE r.run_id = $1
  ), moved AS (
    UPDATE cursors SET seq = GREATEST(COALESCE(cursors.seq, s.cursor), s.cursor), updated_at = now()
    FROM s WHERE cursors.name = $3 AND cursors.seq IS DISTINCT FROM GREATEST(COALESCE(cursors.seq, s.cursor), s.cursor)
  )
  SELECT * FROM s`

type ClaimRow = { id: string; range_start: string; range_end: string; cursor_name: string; claimed_from: string; previous: string | null }

export class RangeStore {
  constructor(
    private readonly pool: pg.Pool,
    /** The run's own cursor row (meta and the combined cursor): 'backfill'. */
    private readonly runCursor: string,
  ) {}

  /** The run's ranges, if it has any yet. */
  async count(runId: string): Promise<number> {
    const { rows } = await this.pool.query<{ n: number }>('SELECT count(*)::int AS n FROM replay_ranges WHERE run_id = $1', [runId])
    return rows[0]!.n
  }

  /**
   * Stores the run's ranges with their cursors (each from `committed`, clamped; a range already written is done),
   * and forgets every other run's ranges and cursors. One transaction; ranges already stored are left as they are.
   */
  async create(runId: string, ranges: readonly SeqRange[], committed: number | null): Promise<void> {
    const client = await this.pool.connect()
    try {
      await client.query('BEGIN')
      const old = await client.query<{ cursor_name: string }>('DELETE FROM replay_ranges WHERE run_id <> $1 RETURNING cursor_name', [runId])
      if (old.rows.length) await client.query('DELETE FROM cursors WHERE name = ANY($1::text[])', [old.rows.map((r) => r.cursor_name)])
      for (const range of ranges) {
        const name = `${this.runCursor}-range-${runId}-${range.start}`
        const seq = initialCursor(range, committed)
        const inserted = await client.query(
          `INSERT INTO replay_ranges (run_id, range_start, range_end, cursor_name, state, done_at)
           VALUES ($1, $2, $3, $4, $5, CASE WHEN $5 = 'done' THEN now() END) ON CONFLICT (run_id, range_start) DO NOTHING`,
          [runId, range.start, range.end, name, seq >= range.end ? 'done' : 'pending'],
        )
        if (inserted.rowCount) {
          await client.query(
            `INSERT INTO cursors (name, seq) VALUES ($1, $2) ON CONFLICT (name) DO UPDATE SET seq = EXCLUDED.seq, updated_at = now()`,
            [name, seq],
          )
        }
      }
      await client.query('COMMIT')
    } catch (err) {
      await client.query('ROLLBACK').catch(() => {})
      throw err
    } finally {
      client.release()
    }
  }

  /** The first range in seq order that is pending or whose lease lapsed, now `owner`'s for `leaseMs`; null: none. */
  async claim(runId: string, owner: string, leaseMs: number): Promise<ClaimedRange | null> {
    const { rows } = await this.pool.query<ClaimRow>(CLAIM_SQL, [runId, owner, leaseMs])
    const r = rows[0]
    if (!r) return null
    return {
      id: Number(r.id),
      start: Number(r.range_start),
      end: Number(r.range_end),
      cursorName: r.cursor_name,
      from: Number(r.claimed_from),
      takenFrom: r.previous,
    }
  }

  /** Extends `owner`'s lease; false when the range is no longer its own (another instance took it over). */
  async renew(id: number, owner: string, leaseMs: number): Promise<boolean> {
    const { rowCount } = await this.pool.query(
      `UPDATE replay_ranges SET lease_until = now() + $3::integer * interval '1 millisecond', lease_ms = $3::integer
       WHERE id = $1 AND lease_owner = $2 AND state = 'replaying'`,
      [id, owner, leaseMs],
    )
    return rowCount === 1
  }

  /** Done, by its holder, once its cursor has reached its end; false when it was not (any more) `owner`'s. */
  async markDone(id: number, owner: string): Promise<boolean> {
    const { rowCount } = await this.pool.query(
      `UPDATE replay_ranges r SET state = 'done', done_by = $2, done_at = now(), lease_owner = NULL, lease_until = NULL, lease_ms = NULL
       WHERE r.id = $1 AND r.lease_owner = $2 AND r.state = 'replaying'
         AND (SELECT seq FROM cursors WHERE name = r.cursor_name) >= r.range_end`,
      [id, owner],
    )
    return rowCount === 1
  }

  /**
   * Gives back what `owner` holds (a clean stop, or a restart with the same instance id: what its previous life held),
   * so that another instance need not wait for the lease. Returns how many ranges.
   */
  async release(owner: string): Promise<number> {
    const { rowCount } = await this.pool.query(
      `UPDATE replay_ranges SET state = 'pending', lease_owner = NULL, lease_until = NULL, lease_ms = NULL WHERE lease_owner = $1 AND state = 'replaying'`,
      [owner],
    )
    return rowCount ?? 0
  }

  /** The run's summary, moving the run's cursor up to the lowest seq below which every range is written. */
  async advance(runId: string, headSeq: number): Promise<RangeSummary> {
    const { rows } = await this.pool.query<{ ranges: number; done: number; replaying: number; written: string; cursor: string }>(ADVANCE_SQL, [
      runId,
      headSeq,
      this.runCursor,
    ])
    const s = rows[0]!
    return { ranges: s.ranges, done: s.done, replaying: s.replaying, written: Number(s.written), cursor: Number(s.cursor) }
  }
}
