// Keeps batch transactions, in this process or any other on the same database, from interleaving on an account's
// records. Under READ COMMITTED two transactions in flight at once do not see each other's rows: a create's
// tombstone check misses a delete that has not committed yet, and the delete misses the create's uncommitted row,
// so both commit and a deleted record comes back (likewise an account deletion's purge and a batch still writing
// that account's records). So the first thing a batch transaction does, after making sure each of its accounts has
// its `actors` row, is lock those rows (FOR NO KEY UPDATE, in did order): whoever comes second waits until the first
// has committed, and its statements then see the first one's rows.
//
// Why row locks on accounts, not advisory locks on records: an advisory lock takes a slot in Postgres's shared lock
// table, sized max_locks_per_transaction × (max_connections + background processes) for the whole server: 64 × ~222
// ≈ 14,200 with the embedded Postgres (max_connections=200), and with the shared-memory slack one transaction took
// 24,000 advisory locks before "out of shared memory" (measured on Postgres 18). One batch of
// BACKFILL_BATCH_SIZE=10000 frames writes at least as many distinct record URIs (several per multi-op commit) and up
// to 10,000 accounts, so one such batch per instance, or two in flight, exhaust it, and then every transaction on the
// server fails, the API's too. Hashing into buckets would bound the count, but any two large batches would then
// share a bucket and wait on each other anyway, while still taking hundreds of slots each. A row lock takes no slot:
// it is kept in the row itself (a waiter takes one slot while it waits). Measured in
// test/faults/writer-race-processes.test.ts: a batch of 10,000 frames from 10,000 accounts, held at COMMIT, has the
// same 20 lock-table entries (relation locks and its own transaction id) as a batch of one.
// An account-deletion batch needs nothing more: its purge touches only that account's records, and it holds the
// account's row like any other batch.
//
// The price is granularity: two batches that write different records of the same account wait on each other. Within
// one pipeline the cursor row already orders their commits, and a live batch waits at most one backfill transaction.
//
// Deadlock freedom: every transaction locks its accounts in the same (did) order, and the rows it inserts first are
// inserted in that order too. A deadlock that happens anyway (a repository step locking rows of its own) is reported
// by Postgres as 40P01, which the writer classifies as a 'conflict' and the pipeline retries.
import type { Transaction } from '../pipeline/sink.js'

/** Taken first thing in a batch's transaction; held until it commits or rolls back. */
export interface RecordLocks {
  /** Returns once no other transaction writes any of these accounts' records or status. */
  lock(tx: Transaction, dids: readonly string[]): Promise<void>
}

// actors.did is COLLATE "C", so ORDER BY did is the same order in every session; ORDER BY runs before the locking.
const LOCK_ACCOUNTS_SQL = `
  SELECT 1 FROM actors WHERE did = ANY($1::text[]) ORDER BY did FOR NO KEY UPDATE`

/** The locks every writer uses: the accounts' `actors` rows, which the batch has already made sure exist. */
export const ACCOUNT_ROW_LOCKS: RecordLocks = {
  async lock(tx, dids) {
    if (dids.length) await tx.query(LOCK_ACCOUNTS_SQL, [dids])
  },
}
