// The ordering contract: the final state equals applying every op in repo order, whatever order batches land in
// and however often an op arrives.
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type pg from 'pg'
import type { BatchWriter } from '../../server/indexer/writer.js'
import type { PipelineItem } from '../../server/events/index.js'
import { indexedState, truncateAll } from '../support/db-state.js'
import { writerDatabase } from '../support/writer-db.js'
import { account, chunk, create, del, identity, permutations, records, rev, update } from '../support/ops.js'

const ALICE = 'did:plc:aliceaaaaaaaaaaaaaaaaaaa'
const BOB = 'did:plc:bobbbbbbbbbbbbbbbbbbbbbb'
const POST = 'app.bsky.feed.post'
const LIKE = 'app.bsky.feed.like'
const FOLLOW = 'app.bsky.graph.follow'
const PROFILE = 'app.bsky.actor.profile'

let pool: pg.Pool
let writer: BatchWriter
let close: () => Promise<void>

beforeAll(async () => {
  ;({ pool, writer, close } = await writerDatabase())
})

afterAll(() => close())

const bobPost = create({ seq: 1, rev: 1, did: BOB, collection: POST, rkey: 'bobpost' }, records.post('hello'))

/** Alice's history, in repo order (seq and rev both increase). */
function aliceHistory(): PipelineItem[] {
  const m = (seq: number, collection: string, rkey: string) => ({ seq, rev: seq, did: ALICE, collection, rkey })
  return [
    bobPost,
    // create → delete → create of the same record
    create(m(2, POST, 'p1'), records.post('first')),
    del(m(3, POST, 'p1')),
    create(m(4, POST, 'p1'), records.post('second')),
    // like → unlike → like
    create(m(5, LIKE, 'l1'), records.like(bobPost.uri, bobPost.cid)),
    del(m(6, LIKE, 'l1')),
    create(m(7, LIKE, 'l2'), records.like(bobPost.uri, bobPost.cid)),
    // several profile updates
    create(m(8, PROFILE, 'self'), records.profile('v1')),
    update(m(9, PROFILE, 'self'), records.profile('v2')),
    update(m(10, PROFILE, 'self'), records.profile('v3')),
    // a follow deleted
    create(m(11, FOLLOW, 'f1'), records.follow(BOB)),
    del(m(12, FOLLOW, 'f1')),
  ]
}

async function apply(batches: PipelineItem[][], concurrently = false) {
  await truncateAll(pool)
  const write = (batch: PipelineItem[]) => writer.write(batch, null, null)
  if (concurrently) await Promise.all(batches.map(write))
  else for (const batch of batches) await write(batch)
  return indexedState(pool)
}

describe('the ordering contract', () => {
  it('applying the history one op at a time leaves exactly the records that survive it', async () => {
    const history = aliceHistory()
    const state = await apply(history.map((op) => [op]))
    const byUri = (table: string) => state[table]!.map((r) => r.uri)
    expect(byUri('posts')).toEqual([`at://${ALICE}/${POST}/p1`, bobPost.uri])
    expect(state.posts!.find((r) => r.uri.endsWith('/p1'))).toMatchObject({ cid: (history[3] as { cid: string }).cid, rev: rev(4) })
    expect(byUri('likes')).toEqual([`at://${ALICE}/${LIKE}/l2`])
    expect(state.profiles).toEqual([{ uri: `at://${ALICE}/${PROFILE}/self`, cid: (history[9] as { cid: string }).cid, rev: rev(10) }])
    expect(state.follows).toEqual([])
    const { rows } = await pool.query(`SELECT display_name FROM profiles`)
    expect(rows).toEqual([{ display_name: 'v3' }])
  })

  it('batches landing in any order leave the same state as applying them in order', async () => {
    const history = aliceHistory()
    const expected = await apply(history.map((op) => [op]))
    const batches = chunk(history, 3)
    for (const order of permutations(batches)) {
      expect(await apply(order)).toEqual(expected)
    }
  })

  it('single ops landing in reverse and in shuffled orders leave the same state', async () => {
    const history = aliceHistory()
    const expected = await apply(history.map((op) => [op]))
    expect(await apply([...history].reverse().map((op) => [op]))).toEqual(expected)
    let seed = 7
    const random = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31)
    for (let i = 0; i < 20; i++) {
      const shuffled = [...history].sort(() => random() - 0.5)
      expect(await apply(shuffled.map((op) => [op]))).toEqual(expected)
    }
  })

  it('the whole history in one batch, and replayed twice, leaves the same state', async () => {
    const history = aliceHistory()
    const expected = await apply(history.map((op) => [op]))
    expect(await apply([history])).toEqual(expected)
    expect(await apply([history, history, [...history].reverse()])).toEqual(expected)
  })

  it('a follow deleted and then replayed from an older cursor does not come back', async () => {
    const history = aliceHistory()
    const follow = history[10]!
    const state = await apply([history, [follow]])
    expect(state.follows).toEqual([])
  })

  it('concurrent writers with overlapping batches neither deadlock nor change the outcome', async () => {
    const history = aliceHistory()
    const expected = await apply(history.map((op) => [op]))
    for (let round = 0; round < 5; round++) {
      const batches = [history, [...history].reverse(), chunk(history, 4).flat().reverse(), history]
      expect(await apply(batches, true)).toEqual(expected)
    }
  })

  it('a deleted account loses its records, and older ops arriving later do not restore them', async () => {
    const history = aliceHistory()
    await truncateAll(pool)
    await writer.write(history, null, null)
    await writer.write([account(100, ALICE, 'deleted')], null, null)
    await writer.write(history, null, null)
    const state = await indexedState(pool)
    const aliceRows = Object.values(state).flat().filter((r) => r.uri.includes(ALICE))
    expect(aliceRows).toEqual([])
    expect(state.posts!.map((r) => r.uri)).toEqual([bobPost.uri])
  })

  it('handles and statuses keep the latest event by seq whatever order they land in', async () => {
    await truncateAll(pool)
    await writer.write([identity(5, ALICE, 'new.test'), account(7, ALICE, 'takendown')], null, null)
    await writer.write([identity(3, ALICE, 'old.test'), account(6, ALICE, 'active')], null, null)
    const { rows } = await pool.query('SELECT handle, status FROM actors WHERE did = $1', [ALICE])
    expect(rows).toEqual([{ handle: 'new.test', status: 'takendown' }])
  })
})

describe('the batch writer', () => {
  it('commits the cursor in the batch transaction and never moves it back', async () => {
    await truncateAll(pool)
    await writer.write([bobPost], 1, { name: 'backfill', afterSeq: null, seqAtCommit: () => 10 })
    await writer.write([bobPost], 1, { name: 'backfill', afterSeq: null, seqAtCommit: () => 4 })
    const { rows } = await pool.query(`SELECT seq FROM cursors WHERE name = 'backfill'`)
    expect(rows).toEqual([{ seq: '10' }])
  })

  it('a commit step commits with the batch, and when it throws the batch rolls back with it', async () => {
    await truncateAll(pool)
    const step = (value: string) => async (tx: { query(sql: string, params?: unknown[]): Promise<unknown> }) => {
      await tx.query(`INSERT INTO cursors (name, meta) VALUES ($1, $2)`, [`step-${value}`, JSON.stringify({ value })])
    }
    await writer.write([bobPost], 1, null, step('kept'))
    const failing = create({ seq: 2, rev: 2, did: ALICE, collection: POST, rkey: 'p' }, records.post('rolled back'))
    await expect(
      writer.write([failing], 2, null, async (tx) => {
        await step('lost')(tx)
        throw new Error('the step failed')
      }),
    ).rejects.toThrow('the step failed')
    const state = await indexedState(pool)
    expect(state.posts!.map((r) => r.uri)).toEqual([bobPost.uri])
    const { rows } = await pool.query(`SELECT meta FROM cursors WHERE name LIKE 'step-%'`)
    expect(rows).toEqual([{ meta: { value: 'kept' } }])
  })

  it('an invalid record is kept as a reject and the rest of its batch is written', async () => {
    await truncateAll(pool)
    const bad = create({ seq: 2, rev: 2, did: ALICE, collection: POST, rkey: 'bad' }, { $type: POST, text: 'no date' })
    const outcome = await writer.write([bobPost, bad], 2, null)
    expect(outcome).toMatchObject({ upserted: 1, rejected: 1 })
    const state = await indexedState(pool)
    expect(state.posts!.map((r) => r.uri)).toEqual([bobPost.uri])
    const { rows } = await pool.query('SELECT seq, category, uri, reason FROM rejects')
    expect(rows).toHaveLength(1)
    expect(rows[0]).toMatchObject({ seq: '2', category: 'record', uri: bad.uri })
    expect(rows[0].reason).toMatch(/createdAt/)
  })

  it('a record Postgres refuses is isolated into a reject while the rest of the batch is written', async () => {
    await truncateAll(pool)
    // Lexicon validation catches what we know Postgres cannot hold; a constraint in this test's own database
    // stands for whatever it may refuse that we do not know of yet.
    await pool.query(`ALTER TABLE posts ADD CONSTRAINT test_refuses CHECK (text <> 'refused by postgres')`)
    const huge = create({ seq: 3, rev: 3, did: ALICE, collection: POST, rkey: 'huge' }, records.post('refused by postgres'))
    const others = [bobPost, create({ seq: 4, rev: 4, did: ALICE, collection: POST, rkey: 'ok' }, records.post('fine'))]
    const outcome = await writer.write([others[0]!, huge, others[1]!], 4, { name: 'backfill', afterSeq: null, seqAtCommit: () => 4 })
    expect(outcome).toMatchObject({ upserted: 2, rejected: 1 })
    const state = await indexedState(pool)
    expect(state.posts!.map((r) => r.uri).sort()).toEqual([bobPost.uri, others[1]!.uri].sort())
    const { rows } = await pool.query('SELECT uri, reason FROM rejects')
    expect(rows).toEqual([{ uri: huge.uri, reason: expect.stringMatching(/database refused the record/) }])
    const cursor = await pool.query(`SELECT seq FROM cursors WHERE name = 'backfill'`)
    expect(cursor.rows).toEqual([{ seq: '4' }])
    await pool.query('ALTER TABLE posts DROP CONSTRAINT test_refuses')
  })
})
