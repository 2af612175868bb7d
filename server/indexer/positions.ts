// Applies a batch's #commit/#sync positions to repo_positions inside the batch's transaction, so a repository's rows
// and its position commit together. Per batch, not per row: one statement creates the positions first seen and
// locks every other position the batch touches (in DID order, so concurrent writers never wait on each other in a
// cycle, and a writer waiting for another reads its committed position), the rules run in repo-chain.ts, one
// statement writes the positions that changed and one the gap and #sync rows.
import type { Transaction } from '../pipeline/sink.js'
import type { PositionWrites } from './prepare.js'
import { type ChainRecord, type Hole, type Position, advance } from './repo-chain.js'
import { isSyncState } from './sync-states.js'
import { safeText } from './detail.js'

const COLUMNS = 'did, rev, data_cid, sync_state, reason, gap, holes'

const LOCK_SQL = `SELECT ${COLUMNS} FROM repo_positions WHERE did = ANY($1::text[]) ORDER BY did FOR UPDATE`

/**
 * Locks the positions there are and creates the others, in one round trip. A row this statement creates is its
 * transaction's alone until it commits, so it needs no lock; the rows it locks are those of its snapshot. A row
 * another transaction created after that snapshot is in neither part (the insert waits for it, then does nothing):
 * LOCK_SQL, a statement of its own with a snapshot of its own, takes those.
 */
const LOCK_OR_CREATE_SQL = `
  WITH locked AS (${LOCK_SQL}),
  created AS (
    INSERT INTO repo_positions (did) SELECT unnest($1::text[]) ON CONFLICT (did) DO NOTHING RETURNING ${COLUMNS}
  )
  SELECT * FROM locked UNION ALL SELECT * FROM created`

const UPDATE_SQL = `
  UPDATE repo_positions p SET rev = x.rev, data_cid = x.data_cid, sync_state = x.sync_state, reason = x.reason,
    gap = x.gap::jsonb, holes = x.holes::jsonb, updated_at = now(),
    state_changed_at = CASE WHEN x.state_changed THEN now() ELSE p.state_changed_at END
  FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::boolean[])
    AS x(did, rev, data_cid, sync_state, reason, gap, holes, state_changed)
  WHERE p.did = x.did`

/** Replayed events find their row already there (the dedupe index), so the first outcome recorded stays. */
export const INSERT_CHAIN_RECORDS_SQL = `
  INSERT INTO rejects (seq, seq_known, source, category, reason, did, detail, resolved_at)
  SELECT x.seq, true, $1, x.category, x.reason, x.did, x.detail::jsonb, CASE WHEN x.resolved THEN now() END
  FROM unnest($2::bigint[], $3::text[], $4::text[], $5::text[], $6::text[], $7::boolean[])
    AS x(seq, category, reason, did, detail, resolved)
  ON CONFLICT DO NOTHING`

type Row = {
  did: string
  rev: string | null
  data_cid: string | null
  sync_state: string
  reason: string | null
  gap: Record<string, unknown> | null
  holes: Hole[] | null
}

function toPosition(row: Row): Position {
  if (!isSyncState(row.sync_state)) throw new Error(`repo_positions row ${row.did} has sync_state "${row.sync_state}"`)
  return { rev: row.rev, data: row.data_cid, state: row.sync_state, reason: row.reason, gap: row.gap, holes: row.holes ?? [] }
}

export type PositionsOutcome = { records: (ChainRecord & { did: string })[] }

export async function applyPositions(tx: Transaction, writes: readonly PositionWrites[], source: string): Promise<PositionsOutcome> {
  const dids = writes.map((w) => w.did)
  const { rows } = (await tx.query(LOCK_OR_CREATE_SQL, [dids])) as { rows: Row[] }
  const stored = new Map(rows.map((r) => [r.did, toPosition(r)]))
  const late = dids.filter((did) => !stored.has(did))
  if (late.length) for (const r of (await tx.query(LOCK_SQL, [late])).rows as Row[]) stored.set(r.did, toPosition(r))
  const changed: { did: string; position: Position; stateChanged: boolean }[] = []
  const records: PositionsOutcome['records'] = []
  for (const w of writes) {
    const before = stored.get(w.did)
    if (!before) throw new Error(`repo_positions has no row for ${w.did} after creating it`)
    const outcome = advance(before, w.events)
    if (outcome.changed) changed.push({ did: w.did, position: outcome.position, stateChanged: outcome.stateChanged })
    records.push(...outcome.records.map((r) => ({ ...r, did: w.did })))
  }
  if (changed.length) {
    const p = changed.map((c) => c.position)
    await tx.query(UPDATE_SQL, [
      changed.map((c) => c.did),
      p.map((x) => x.rev),
      p.map((x) => x.data),
      p.map((x) => x.state),
      p.map((x) => x.reason),
      p.map((x) => (x.gap ? JSON.stringify(x.gap) : null)),
      p.map((x) => (x.holes.length ? JSON.stringify(x.holes) : null)),
      changed.map((c) => c.stateChanged),
    ])
  }
  if (records.length) await insertChainRecords(tx, source, records)
  return { records }
}

export async function insertChainRecords(tx: Transaction, source: string, records: readonly (ChainRecord & { did: string })[]): Promise<void> {
  await tx.query(INSERT_CHAIN_RECORDS_SQL, [
    source,
    records.map((r) => r.seq),
    records.map((r) => r.category),
    records.map((r) => safeText(r.reason)),
    records.map((r) => r.did),
    records.map((r) => JSON.stringify(r.detail)),
    records.map((r) => r.resolved),
  ])
}
