// What the writer does with #identity events now that handles are verified by the identity refresher: an event
// makes the actor due, its handle is served only until the actor is first verified, and the batch's outcome names
// the DIDs whose identity changed, so their cached identities can be dropped.
import pg from 'pg'
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest'
import { createPool } from '../../server/db/pools.js'
import { BatchWriter } from '../../server/indexer/writer.js'
import { ACCOUNT_ROW_LOCKS } from '../../server/indexer/write-locks.js'
import { testDatabase } from '../harness/db.js'
import type { TestDatabase } from '../harness/postgres.js'
import { create, identity, records } from '../support/ops.js'

const ALICE = 'did:plc:aliceaaaaaaaaaaaaaaaaaaa'
const BOB = 'did:plc:bobbbbbbbbbbbbbbbbbbbbbb'

let db: TestDatabase
let pool: pg.Pool
let writer: BatchWriter

beforeAll(async () => {
  db = await testDatabase()
  pool = createPool(db.url, 'backfill', 2)
  writer = new BatchWriter(pool, 'test', ACCOUNT_ROW_LOCKS)
})

afterAll(async () => {
  await pool.end()
  await db.drop()
})

beforeEach(async () => {
  await pool.query('TRUNCATE actors, posts')
})

type ActorRow = { handle: string | null; handle_seq: string; due_now: boolean }

async function actor(did: string): Promise<ActorRow> {
  const { rows } = await pool.query<ActorRow>(
    `SELECT handle, handle_seq::text, identity_due_at <= now() AS due_now FROM actors WHERE did = $1`,
    [did],
  )
  return rows[0]
}

/** Alice met by her #identity event at seq 5, then as the identity refresher leaves her: verified, due in a day. */
async function verifiedAlice(): Promise<void> {
  await writer.write([identity(5, ALICE, 'alice.test')], 5, null)
  await pool.query(
    `UPDATE actors SET identity_checked_at = now(), identity_due_at = now() + interval '1 day' WHERE did = $1`,
    [ALICE],
  )
}

describe('the writer on #identity events', () => {
  it('makes an actor first met through a record due for verification', async () => {
    await writer.write([create({ seq: 1, rev: 1, did: ALICE, collection: 'app.bsky.feed.post', rkey: 'p' }, records.post('hi'))], 1, null)
    expect(await actor(ALICE)).toEqual({ handle: null, handle_seq: '0', due_now: true })
  })

  it("serves the event's handle tentatively while the actor has never been verified, and makes it due", async () => {
    const outcome = await writer.write([identity(5, ALICE, 'alice.test')], 5, null)
    expect(await actor(ALICE)).toEqual({ handle: 'alice.test', handle_seq: '5', due_now: true })
    expect(outcome.identityChanged).toEqual([ALICE])
  })

  it('keeps the verified handle of a verified actor, records the event and makes the actor due again', async () => {
    await verifiedAlice()
    expect((await actor(ALICE)).due_now).toBe(false)
    const outcome = await writer.write([identity(6, ALICE, 'claimed.test')], 6, null)
    expect(await actor(ALICE)).toEqual({ handle: 'alice.test', handle_seq: '6', due_now: true })
    expect(outcome.identityChanged).toEqual([ALICE])
  })

  it('reports only the DIDs whose event is newer than the one recorded', async () => {
    await verifiedAlice()
    const outcome = await writer.write([identity(4, ALICE, 'old.test'), identity(7, BOB, 'bob.test')], 7, null)
    expect(outcome.identityChanged).toEqual([BOB])
    expect(await actor(ALICE)).toEqual({ handle: 'alice.test', handle_seq: '5', due_now: false })
  })
})
