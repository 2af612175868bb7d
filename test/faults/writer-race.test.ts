// Two batches written concurrently (the pipeline runs up to BACKFILL_MAX_CONCURRENT writers) must leave the state a
// sequential replay leaves, even when one creates a record and the other, later in the stream, deletes it. Each
// test holds the first transaction open at its COMMIT while the second one runs start to finish, which is the
// interleaving the backfill produced under load.
import pg from 'pg'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createPool } from '../../server/db/pools.js'
import { BatchWriter } from '../../server/indexer/writer.js'
import { ACCOUNT_ROW_LOCKS } from '../../server/indexer/write-locks.js'
import type { PipelineItem } from '../../server/events/index.js'
import { testDatabase } from '../harness/db.js'
import type { TestDatabase } from '../harness/postgres.js'
import { indexedState, truncateAll } from '../support/db-state.js'
import { account, create, del, records } from '../support/ops.js'
import { isCommitMessage } from '../support/commit-message.js'

const ALICE = 'did:plc:aliceaaaaaaaaaaaaaaaaaaa'
const BOB = 'did:plc:bobbbbbbbbbbbbbbbbbbbbbb'
const LIKE = 'app.bsky.feed.like'
const POST_URI = `at://${BOB}/app.bsky.feed.post/3kpost`

let db: TestDatabase
let pool: pg.Pool

beforeAll(async () => {
  db = await testDatabase()
  pool = createPool(db.url, 'backfill', 4)
})

afterAll(async () => {
  await pool.end()
  await db.drop()
})

/** A pool whose transactions stop at COMMIT until `release()`; `atCommit` resolves once one got there. */
function heldAtCommit(inner: pg.Pool) {
  let release!: () => void
  const released = new Promise<void>((r) => (release = r))
  let reached!: () => void
  const atCommit = new Promise<void>((r) => (reached = r))
  const pool = {
    async connect() {
      const client = await inner.connect()
      const query = client.query.bind(client) as (...args: unknown[]) => Promise<unknown>
      ;(client as unknown as { query: unknown }).query = async (...args: unknown[]) => {
        if (isCommitMessage(args[0])) {
          reached()
          await released
        }
        return query(...args)
      }
      return client
    },
  } as unknown as pg.Pool
  return { pool, atCommit, release }
}

async function interleave(first: PipelineItem[], second: PipelineItem[]) {
  await truncateAll(pool)
  // The account is known already (its #identity came long before), as in a real stream.
  const locks = ACCOUNT_ROW_LOCKS
  await new BatchWriter(pool, 'backfill', locks).write([account(1, ALICE, 'active')], null, null)
  const held = heldAtCommit(pool)
  const a = new BatchWriter(held.pool, 'backfill', locks).write(first, null, null)
  await held.atCommit
  // The second batch must not wait on the first for long; if it does (a lock), release the first after a while.
  const b = new BatchWriter(pool, 'backfill', locks).write(second, null, null)
  const winner = await Promise.race([b.then(() => 'second'), new Promise((r) => setTimeout(() => r('timeout'), 500))])
  held.release()
  await Promise.all([a, b])
  return { state: await indexedState(pool), secondFinishedFirst: winner === 'second' }
}

describe('concurrent batches', () => {
  it('a like deleted by a later batch while the batch that created it is still committing stays deleted', async () => {
    const like = create({ seq: 10, rev: 10, did: ALICE, collection: LIKE, rkey: 'l1' }, records.like(POST_URI, 'bafyreih3pdwcgvlx5nd7ar6zfmiq5m3xyp2qbd6yjoo3k3j3tcyqsbetsy'))
    const unlike = del({ seq: 20, rev: 20, did: ALICE, collection: LIKE, rkey: 'l1' })
    const { state } = await interleave([like], [unlike])
    expect(state.likes).toEqual([])
  })

  it("an account deleted by a later batch while a batch with its records is still committing keeps none of them", async () => {
    const like = create({ seq: 10, rev: 10, did: ALICE, collection: LIKE, rkey: 'l2' }, records.like(POST_URI, 'bafyreih3pdwcgvlx5nd7ar6zfmiq5m3xyp2qbd6yjoo3k3j3tcyqsbetsy'))
    const { state } = await interleave([like], [account(20, ALICE, 'deleted')])
    expect(state.likes).toEqual([])
  })
})
