// Where the pipeline hands its batches: the pipeline's only view of the database. The indexer's BatchWriter
// implements it; a test can put anything behind it. The pipeline owns retrying (see pipeline.ts writeUntilDone),
// the sink only says what kind of failure it met, because only the sink knows the database's errors.
import type { PipelineItem } from '../events/index.js'

/** `rejected`: bad input kept in rejects; `unsupported`: well-formed events we do not apply, also kept there. */
export type WriteOutcome = {
  upserted: number
  deleted: number
  rejected: number
  unsupported: number
  unindexed: number
  /** One example per category and reason in this batch, for logging each kind of reject once. */
  rejectKinds: { category: string; reason: string; seq: number | null }[]
  /** DIDs whose #identity event in this batch was recorded: their cached identity is stale once it commits. */
  identityChanged: string[]
}

/**
 * Where the cursor goes; `seqAtCommit` is asked just before COMMIT, when it knows what else has committed. The batch
 * is a span of the cursor's stream: it holds every frame with a seq in (`afterSeq`, the batch's last seq] (`afterSeq`
 * null: the stream's first batch, started from no cursor), which is what lets a replay tell what it counted already.
 */
export type CursorCommit = { name: string; afterSeq: number | null; seqAtCommit: () => number | null }

/** What a step run inside the batch's transaction may do: queries on the transaction's own connection. */
export type Transaction = { query(sql: string, params?: unknown[]): Promise<{ rowCount: number | null; rows: unknown[] }> }

/**
 * Work that must commit with the batch's rows or not at all (a repository job marked done with the rows that
 * complete it). Runs after the rows, before COMMIT; throwing rolls the batch back.
 */
export type CommitStep = (tx: Transaction) => Promise<void>

/**
 * `unavailable`: the database cannot be reached now (wait, pause intake, retry); `conflict`: two writers met
 * (deadlock, serialization failure: retry soon); `fatal`: anything else (a bug: fail the run loudly).
 */
export type WriteFailure = 'unavailable' | 'conflict' | 'fatal'

export interface BatchSink {
  /**
   * Writes the items, the cursor when `cursor` is given, and `step` when given, in one transaction; bad data becomes
   * rejects (and `step` then runs in the transaction that commits what remains).
   */
  write(items: readonly PipelineItem[], lastSeq: number | null, cursor: CursorCommit | null, step?: CommitStep): Promise<WriteOutcome>
  failureKind(err: unknown): WriteFailure
}
