// A writer in a process of its own, for tests of what holds between processes on one database: it writes the
// batches it is sent (over the IPC channel of `node --import tsx test/support/race-writer.ts <database url>`)
// through a BatchWriter on its own pool, as an instance does, and can stop its transaction before any one of its
// statements until told to go on.
//
// Messages in: { kind: 'write', id, items, pauseBefore } (pauseBefore: the index of the statement to stop before,
// counted from BEGIN, or 'COMMIT', or null), { kind: 'continue', id }. Out: { kind: 'paused', id, pid, sql } (pid: the Postgres
// backend of the held transaction), { kind: 'done', id }, { kind: 'failed', id, message }.
import type pg from 'pg'
import { createPool } from '../../server/db/pools.js'
import type { PipelineItem } from '../../server/events/index.js'
import { BatchWriter } from '../../server/indexer/writer.js'
import { ACCOUNT_ROW_LOCKS } from '../../server/indexer/write-locks.js'
import { isCommitMessage } from './commit-message.js'

export type RaceWriterRequest =
  | { kind: 'write'; id: number; items: PipelineItem[]; pauseBefore: number | 'COMMIT' | null }
  | { kind: 'continue'; id: number }

export type RaceWriterReply =
  | { kind: 'paused'; id: number; pid: number; sql: string }
  | { kind: 'done'; id: number }
  | { kind: 'failed'; id: number; message: string }

const databaseUrl = process.argv[2]
if (!databaseUrl) throw new Error('usage: race-writer.ts <database url>')
const pool = createPool(databaseUrl, 'backfill', 2)
const continues = new Map<number, () => void>()

function send(reply: RaceWriterReply): void {
  process.send!(reply)
}

/** The pool, with the statements of this write's transaction counted and the chosen one held back. */
function pausingPool(id: number, pauseBefore: number | 'COMMIT' | null): pg.Pool {
  return {
    async connect() {
      const client = await pool.connect()
      const query = client.query.bind(client) as (...args: unknown[]) => Promise<unknown>
      const release = client.release.bind(client)
      // The connection goes back to the pool as it came.
      client.release = (err?: Error | boolean) => {
        delete (client as unknown as { query?: unknown }).query
        delete (client as unknown as { release?: unknown }).release
        release(err)
      }
      let index = 0
      ;(client as unknown as { query: unknown }).query = async (...args: unknown[]) => {
        if (index++ === pauseBefore || (pauseBefore === 'COMMIT' && isCommitMessage(args[0]))) {
          const { rows } = (await query('SELECT pg_backend_pid() AS pid')) as { rows: { pid: number }[] }
          const resumed = new Promise<void>((resolve) => continues.set(id, resolve))
          send({ kind: 'paused', id, pid: rows[0]!.pid, sql: String(args[0]).trim().split('\n')[0]! })
          await resumed
        }
        return query(...args)
      }
      return client
    },
  } as unknown as pg.Pool
}

process.on('message', (message: RaceWriterRequest) => {
  if (message.kind === 'continue') {
    continues.get(message.id)?.()
    continues.delete(message.id)
    return
  }
  new BatchWriter(pausingPool(message.id, message.pauseBefore), 'backfill', ACCOUNT_ROW_LOCKS)
    .write(message.items, null, null)
    .then(
      () => send({ kind: 'done', id: message.id }),
      (err: unknown) => send({ kind: 'failed', id: message.id, message: err instanceof Error ? err.message : String(err) }),
    )
})

// The parent going away ends this process too.
process.on('disconnect', () => {
  void pool.end().finally(() => process.exit(0))
})
