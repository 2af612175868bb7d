// Writes one batch in one transaction: actors, every table's deletes and upserts (one statement), repo positions,
// rejects, unindexed counts, then the cursor with the COMMIT (invariant 2: the cursor commits with, or after, every
// row it covers). The batch is planned (validated, mapped, de-duplicated) before the transaction begins, so the locks
// (write-locks.ts: its accounts' rows, taken first in the transaction) are held only for the SQL. A plan that Postgres
// refuses for its data (a value it cannot hold, an index row too large) is halved until the refused write stands
// alone; that write becomes a reject and the rest is still written, and the batch's unindexed counts, cursor and step
// then commit once, in a transaction of their own. Every other failure is thrown, classified by failureKind(), for
// the pipeline to retry (the one place that retries).
import type pg from 'pg'
import type { PipelineItem } from '../events/index.js'
import { isDatabaseUnavailable } from '../db/errors.js'
import type { BatchSink, CommitStep, CursorCommit, WriteFailure, WriteOutcome } from '../pipeline/sink.js'
import { RECORD_MODULES } from './records/index.js'
import { prepareBatch, type WritePlan } from './prepare.js'
import { planSize, refusedWriteReject, splitPlan } from './plan-split.js'
import { applyPositions } from './positions.js'
import { safeText } from './detail.js'
import type { RecordLocks } from './write-locks.js'
import {
  commitSql,
  COUNT_UNINDEXED_SQL,
  ENSURE_ACTORS_SQL,
  INSERT_REJECTS_SQL,
  REACTIVATED_SQL,
  SET_HANDLES_SQL,
  SET_STATUSES_SQL,
  purgeAccountSql,
  recordsSql,
} from './sql.js'

const DATA_ERROR_CLASSES = ['22', '23', '54']
const CONFLICT_CODES = new Set(['40P01', '40001'])

function sqlState(err: unknown): string {
  const code = (err as { code?: unknown })?.code
  return typeof code === 'string' ? code : ''
}

function isDataError(err: unknown): boolean {
  return DATA_ERROR_CLASSES.some((c) => sqlState(err).startsWith(c))
}

function emptyOutcome(): WriteOutcome {
  return { upserted: 0, deleted: 0, rejected: 0, unsupported: 0, unindexed: 0, rejectKinds: [], identityChanged: [] }
}

function addOutcome(a: WriteOutcome, b: WriteOutcome): WriteOutcome {
  return {
    upserted: a.upserted + b.upserted,
    deleted: a.deleted + b.deleted,
    rejected: a.rejected + b.rejected,
    unsupported: a.unsupported + b.unsupported,
    rejectKinds: [...a.rejectKinds, ...b.rejectKinds],
    unindexed: a.unindexed + b.unindexed,
    identityChanged: [...a.identityChanged, ...b.identityChanged],
  }
}

const EMPTY_PLAN: WritePlan = { dids: [], handles: [], statuses: [], tables: [], unindexed: [], span: null, positions: [], rejects: [] }

async function applyPlan(client: pg.PoolClient, plan: WritePlan, source: string, locks: RecordLocks): Promise<WriteOutcome> {
  const outcome = emptyOutcome()
  if (plan.dids.length) await client.query(ENSURE_ACTORS_SQL, [plan.dids])
  await locks.lock(client, plan.dids)
  if (plan.handles.length) {
    const { rows } = await client.query<{ did: string }>(SET_HANDLES_SQL, [
      plan.handles.map((h) => h.did),
      plan.handles.map((h) => h.handle),
      plan.handles.map((h) => h.seq),
    ])
    outcome.identityChanged.push(...rows.map((r) => r.did))
  }
  if (plan.statuses.length) {
    const back = await client.query<{ did: string }>(SET_STATUSES_SQL, [
      plan.statuses.map((s) => s.did),
      plan.statuses.map((s) => s.status),
      plan.statuses.map((s) => s.seq),
    ])
    if (back.rows.length) await client.query(REACTIVATED_SQL, [back.rows.map((r) => r.did).sort()])
    const deleted = plan.statuses.filter((s) => s.status === 'deleted')
    if (deleted.length) {
      for (const module of RECORD_MODULES) {
        await client.query(purgeAccountSql(module.table), [deleted.map((s) => s.did), deleted.map((s) => s.seq)])
      }
    }
  }
  if (plan.tables.length) {
    const params: unknown[] = []
    for (const t of plan.tables) {
      if (t.deletes.length) {
        params.push(
          t.deletes.map((d) => d.uri),
          t.deletes.map((d) => d.did),
          t.deletes.map((d) => d.rev),
          t.deletes.map((d) => d.seq),
        )
        outcome.deleted += t.deletes.length
      }
      if (t.upserts.length) {
        params.push(
          t.upserts.map((r) => r.uri),
          t.upserts.map((r) => r.did),
          t.upserts.map((r) => r.rkey),
          t.upserts.map((r) => r.rev),
          t.upserts.map((r) => r.cid),
          t.upserts.map((r) => r.seq),
        )
        Object.values(t.module.columns).forEach((type, i) =>
          params.push(
            t.upserts.map((r) => {
              const v = r.values[i]
              return type === 'jsonb' && v !== null ? JSON.stringify(v) : v
            }),
          ),
        )
        outcome.upserted += t.upserts.length
      }
    }
    const statements = plan.tables.map((t) => ({ module: t.module, deletes: t.deletes.length > 0, upserts: t.upserts.length > 0 }))
    await client.query(recordsSql(statements), params)
  }
  // after the rows: a position says which commits are applied, so it moves with them
  if (plan.positions.length) await applyPositions(client, plan.positions, source)
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
  // A repository walk's ops (seq 0, walked again by every resync) have no seq to be counted once by: not counted.
  if (plan.span) {
    const counted = plan.unindexed.flatMap((u) => u.seqs.filter((seq) => seq > 0).map((seq) => ({ seq, collection: u.collection })))
    if (counted.length) await client.query(COUNT_UNINDEXED_SQL, [counted.map((c) => c.collection), counted.map((c) => c.seq)])
  }
  outcome.unindexed += plan.unindexed.reduce((n, u) => n + u.seqs.length, 0)
  return outcome
}

export class BatchWriter implements BatchSink {
  constructor(
    private readonly pool: pg.Pool,
    /** Who wrote a reject ('backfill', 'firehose', 'repos'), kept with it. */
    private readonly source: string,
    /** Keeps this writer's transactions and any other's, in any process, from interleaving on an account. */
    private readonly locks: RecordLocks,
  ) {}

  async write(
    items: readonly PipelineItem[],
    lastSeq: number | null,
    cursor: CursorCommit | null,
    step?: CommitStep,
  ): Promise<WriteOutcome> {
    const plan = await prepareBatch(items, lastSeq, cursor?.afterSeq ?? null)
    try {
      return await this.transaction(plan, cursor, step)
    } catch (err) {
      if (!isDataError(err)) throw err
    }
    const outcome = await this.isolate(plan, lastSeq)
    // The batch's end: its unindexed counts (never split), the cursor, the step.
    const end = { ...EMPTY_PLAN, unindexed: plan.unindexed, span: plan.span }
    if (cursor || step || end.span || end.unindexed.length) return addOutcome(outcome, await this.transaction(end, cursor, step))
    return outcome
  }

  failureKind(err: unknown): WriteFailure {
    if (isDatabaseUnavailable(err)) return 'unavailable'
    return CONFLICT_CODES.has(sqlState(err)) ? 'conflict' : 'fatal'
  }

  /** Halves a plan Postgres refused until each refused write stands alone and can be recorded as a reject. */
  private async isolate(plan: WritePlan, lastSeq: number | null): Promise<WriteOutcome> {
    try {
      return await this.transaction(plan, null)
    } catch (err) {
      if (!isDataError(err)) throw err
      if (planSize(plan) > 1) {
        const [first, second] = splitPlan(plan)
        return addOutcome(await this.isolate(first, lastSeq), await this.isolate(second, lastSeq))
      }
      const reject = refusedWriteReject(plan, (err as Error).message, lastSeq)
      return this.transaction({ ...EMPTY_PLAN, rejects: [reject] }, null)
    }
  }

  private async transaction(plan: WritePlan, cursor: CursorCommit | null, step?: CommitStep): Promise<WriteOutcome> {
    const client = await this.pool.connect()
    try {
      await client.query('BEGIN')
      const outcome = await applyPlan(client, plan, this.source, this.locks)
      if (step) await step(client)
      const seq = cursor?.seqAtCommit()
      // the span applyPlan counted the unindexed ops of is marked counted with the commit (commitSql)
      await client.query(commitSql({ span: plan.span, cursor: cursor && seq !== null && seq !== undefined ? { name: cursor.name, seq } : null }))
      client.release()
      return outcome
    } catch (err) {
      await client.query('ROLLBACK').catch(() => {})
      // A broken connection must not go back to the pool.
      client.release(isDataError(err) || CONFLICT_CODES.has(sqlState(err)) ? undefined : (err as Error))
      throw err
    }
  }
}
