// Writes one batch in one transaction: actors, deletes, upserts, rejects, then the cursor (invariant 2: the cursor
// commits with, or after, every row it covers). A batch that Postgres refuses for its data (a value it cannot hold,
// an index row too large) is split and retried until the offending op is found; that op becomes a reject and the
// rest of the batch is still written. Connection-level errors are thrown for the caller to retry with backoff.
import type pg from 'pg'
import type { PipelineItem } from '../pipeline/events.js'
import { RECORD_MODULES } from './records/index.js'
import { prepareBatch, type WritePlan } from './prepare.js'
import { boundedDetail, safeText } from './detail.js'
import { lockBatch } from './write-locks.js'
import {
  ADVANCE_CURSOR_SQL,
  COUNT_UNINDEXED_SQL,
  ENSURE_ACTORS_SQL,
  INSERT_REJECTS_SQL,
  SET_HANDLES_SQL,
  SET_STATUSES_SQL,
  deleteSql,
  purgeAccountSql,
  upsertSql,
} from './sql.js'

/** `rejected`: bad input kept in rejects; `unsupported`: well-formed events we do not apply, also kept there. */
export type WriteOutcome = {
  upserted: number
  deleted: number
  rejected: number
  unsupported: number
  unindexed: number
  /** One example per category and reason in this batch, for logging each kind of reject once. */
  rejectKinds: { category: string; reason: string; seq: number | null }[]
}

/** Where the cursor goes; `seqAtCommit` is asked just before COMMIT, when it knows what else has committed. */
export type CursorCommit = { name: string; seqAtCommit: () => number | null }

const DATA_ERROR_CLASSES = ['22', '23', '54']
const RETRYABLE_CODES = new Set(['40P01', '40001'])

function isDataError(err: unknown): boolean {
  const code = (err as { code?: unknown })?.code
  return typeof code === 'string' && DATA_ERROR_CLASSES.some((c) => code.startsWith(c))
}

function isRetryable(err: unknown): boolean {
  const code = (err as { code?: unknown })?.code
  return typeof code === 'string' && RETRYABLE_CODES.has(code)
}

function emptyOutcome(): WriteOutcome {
  return { upserted: 0, deleted: 0, rejected: 0, unsupported: 0, unindexed: 0, rejectKinds: [] }
}

function addOutcome(a: WriteOutcome, b: WriteOutcome): WriteOutcome {
  return {
    upserted: a.upserted + b.upserted,
    deleted: a.deleted + b.deleted,
    rejected: a.rejected + b.rejected,
    unsupported: a.unsupported + b.unsupported,
    rejectKinds: [...a.rejectKinds, ...b.rejectKinds],
    unindexed: a.unindexed + b.unindexed,
  }
}

async function applyPlan(client: pg.PoolClient, plan: WritePlan, source: string): Promise<WriteOutcome> {
  if (plan.dids.length) await client.query(ENSURE_ACTORS_SQL, [plan.dids])
  if (plan.handles.length) {
    await client.query(SET_HANDLES_SQL, [
      plan.handles.map((h) => h.did),
      plan.handles.map((h) => h.handle),
      plan.handles.map((h) => h.seq),
    ])
  }
  if (plan.statuses.length) {
    await client.query(SET_STATUSES_SQL, [
      plan.statuses.map((s) => s.did),
      plan.statuses.map((s) => s.status),
      plan.statuses.map((s) => s.seq),
    ])
    const deleted = plan.statuses.filter((s) => s.status === 'deleted')
    if (deleted.length) {
      for (const module of RECORD_MODULES) {
        await client.query(purgeAccountSql(module.table), [deleted.map((s) => s.did), deleted.map((s) => s.seq)])
      }
    }
  }
  const outcome = emptyOutcome()
  for (const t of plan.tables) {
    if (t.deletes.length) {
      await client.query(deleteSql(t.module.table), [
        t.deletes.map((d) => d.uri),
        t.deletes.map((d) => d.did),
        t.deletes.map((d) => d.rev),
        t.deletes.map((d) => d.seq),
      ])
      outcome.deleted += t.deletes.length
    }
    if (t.upserts.length) {
      const header = [
        t.upserts.map((r) => r.uri),
        t.upserts.map((r) => r.did),
        t.upserts.map((r) => r.rkey),
        t.upserts.map((r) => r.rev),
        t.upserts.map((r) => r.cid),
        t.upserts.map((r) => r.seq),
      ]
      const types = Object.values(t.module.columns)
      const own = types.map((type, i) =>
        t.upserts.map((r) => {
          const v = r.values[i]
          return type === 'jsonb' && v !== null ? JSON.stringify(v) : v
        }),
      )
      await client.query(upsertSql(t.module), [...header, ...own])
      outcome.upserted += t.upserts.length
    }
  }
  if (plan.rejects.length) {
    const r = plan.rejects
    await client.query(INSERT_REJECTS_SQL, [
      source,
      r.map((x) => x.seq),
      r.map((x) => x.seqKnown),
      r.map((x) => x.category),
      r.map((x) => safeText(x.reason)),
      r.map((x) => (x.did === null ? null : safeText(x.did, 300))),
      r.map((x) => (x.uri === null ? null : safeText(x.uri, 500))),
      r.map((x) => (x.collection === null ? null : safeText(x.collection, 300))),
      r.map((x) => (x.detail === undefined || x.detail === null ? null : JSON.stringify(x.detail))),
    ])
    const kinds = new Map(r.map((x) => [`${x.category}:${x.reason}`, { category: x.category, reason: x.reason, seq: x.seq }]))
    outcome.rejectKinds.push(...kinds.values())
    const unsupported = r.filter((x) => x.category === 'unsupported').length
    outcome.unsupported += unsupported
    outcome.rejected += r.length - unsupported
  }
  if (plan.unindexed.length) {
    await client.query(COUNT_UNINDEXED_SQL, [
      plan.unindexed.map((u) => u.collection),
      plan.unindexed.map((u) => u.ops),
      plan.unindexed.map((u) => u.lastSeq),
    ])
    outcome.unindexed += plan.unindexed.reduce((n, u) => n + u.ops, 0)
  }
  return outcome
}

function* recordUris(items: readonly PipelineItem[]): Generator<string> {
  for (const item of items) if (item.kind === 'create' || item.kind === 'update' || item.kind === 'delete') yield item.uri
}

export class BatchWriter {
  constructor(
    private readonly pool: pg.Pool,
    /** Who wrote a reject ('backfill' or 'firehose'), kept with it. */
    private readonly source: string,
  ) {}

  async write(items: readonly PipelineItem[], lastSeq: number | null, cursor: CursorCommit | null): Promise<WriteOutcome> {
    // Batches in flight at once must not interleave on a record (see write-locks.ts).
    const unlock = await lockBatch(recordUris(items), items.some((i) => i.kind === 'account' && i.status === 'deleted'))
    try {
      try {
        return await this.transaction(await prepareBatch(items, lastSeq), cursor)
      } catch (err) {
        if (!isDataError(err)) throw err
      }
      const outcome = await this.isolate(items, lastSeq)
      if (cursor) await this.transaction(await prepareBatch([], lastSeq), cursor)
      return outcome
    } finally {
      unlock()
    }
  }

  /** Splits a batch Postgres refused until each refused op stands alone and can be recorded as a reject. */
  private async isolate(items: readonly PipelineItem[], lastSeq: number | null): Promise<WriteOutcome> {
    try {
      return await this.transaction(await prepareBatch(items, lastSeq), null)
    } catch (err) {
      if (!isDataError(err)) throw err
      if (items.length > 1) {
        const half = Math.ceil(items.length / 2)
        const first = await this.isolate(items.slice(0, half), lastSeq)
        return addOutcome(first, await this.isolate(items.slice(half), lastSeq))
      }
      const item = items[0]!
      const reject: PipelineItem = {
        kind: 'reject',
        seq: 'seq' in item ? item.seq : lastSeq,
        time: item.time,
        did: 'did' in item ? item.did : null,
        uri: 'uri' in item ? item.uri : null,
        collection: 'collection' in item ? item.collection : null,
        category: 'record',
        reason: `database refused the record: ${(err as Error).message}`,
        detail: boundedDetail('record' in item ? item.record : item),
      }
      return this.transaction(await prepareBatch([reject], lastSeq), null)
    }
  }

  private async transaction(plan: WritePlan, cursor: CursorCommit | null): Promise<WriteOutcome> {
    for (let attempt = 1; ; attempt++) {
      const client = await this.pool.connect()
      try {
        await client.query('BEGIN')
        const outcome = await applyPlan(client, plan, this.source)
        const seq = cursor?.seqAtCommit()
        if (cursor && seq !== null && seq !== undefined) await client.query(ADVANCE_CURSOR_SQL, [cursor.name, seq])
        await client.query('COMMIT')
        client.release()
        return outcome
      } catch (err) {
        await client.query('ROLLBACK').catch(() => {})
        // A broken connection must not go back to the pool.
        client.release(isDataError(err) || isRetryable(err) ? undefined : (err as Error))
        if (!isRetryable(err) || attempt >= 5) throw err
        await new Promise((r) => setTimeout(r, 20 * attempt + Math.random() * 50))
      }
    }
  }
}
