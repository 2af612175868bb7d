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
}

/** Where the cursor goes; `seqAtCommit` is asked just before COMMIT, when it knows what else has committed. */
export type CursorCommit = { name: string; seqAtCommit: () => number | null }

/**
 * `unavailable`: the database cannot be reached now (wait, pause intake, retry); `conflict`: two writers met
 * (deadlock, serialization failure: retry soon); `fatal`: anything else (a bug: fail the run loudly).
 */
export type WriteFailure = 'unavailable' | 'conflict' | 'fatal'

export interface BatchSink {
  /** Writes the items, and the cursor when `cursor` is given, in one transaction; bad data becomes rejects. */
  write(items: readonly PipelineItem[], lastSeq: number | null, cursor: CursorCommit | null): Promise<WriteOutcome>
  failureKind(err: unknown): WriteFailure
}
