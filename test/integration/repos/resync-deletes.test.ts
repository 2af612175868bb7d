// A resync's deletes on a real database: every row of the repo its CAR no longer holds, in every record table, read
// a page at a time; written through the writer, they never undo a newer live op.
import type pg from 'pg'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import type { DeleteOp, PipelineItem } from '../../../server/events/index.js'
import type { BatchWriter } from '../../../server/indexer/writer.js'
import { type CarKey, resyncDeletes } from '../../../server/repos/resync-deletes.js'
import { indexedState, truncateAll } from '../../support/db-state.js'
import { writerDatabase } from '../../support/writer-db.js'
import { cidFor, create, records, rev } from '../../support/ops.js'

// ALICE's DID is a prefix of ALICE_TOO's: the range of one repo's URIs must not reach into the other's
const ALICE = 'did:plc:aliceaaaaaaaaaaaaaaaaaa'
const ALICE_TOO = 'did:plc:aliceaaaaaaaaaaaaaaaaaab'
const POST = 'app.bsky.feed.post'
const LIKE = 'app.bsky.feed.like'
const FOLLOW = 'app.bsky.graph.follow'

let pool: pg.Pool
let writer: BatchWriter
let close: () => Promise<void>

beforeAll(async () => {
  ;({ pool, writer, close } = await writerDatabase())
})

afterEach(() => truncateAll(pool))

afterAll(() => close())

async function write(items: PipelineItem[]): Promise<void> {
  await writer.write(items, null, null)
}

async function collect(did: string, resyncRev: string, keys: CarKey[], pageSize?: number): Promise<DeleteOp[]> {
  const out: DeleteOp[] = []
  async function* stream() {
    yield* keys
  }
  for await (const op of resyncDeletes(pool, { did, rev: resyncRev, time: '2026-12-01T00:00:00.000Z' }, stream(), { pageSize })) out.push(op)
  return out
}

const m = (did: string, collection: string, rkey: string, n = 1) => ({ seq: n, rev: n, did, collection, rkey })

async function seed(): Promise<void> {
  await write([
    create(m(ALICE, POST, 'p1'), records.post('kept')),
    create(m(ALICE, POST, 'p2'), records.post('gone')),
    create(m(ALICE, POST, 'p3'), records.post('kept too')),
    create(m(ALICE, LIKE, 'l1'), records.like(`at://${ALICE_TOO}/${POST}/x`, cidFor('subject'))),
    create(m(ALICE, FOLLOW, 'f1'), records.follow(ALICE_TOO)),
    create(m(ALICE, FOLLOW, 'f2'), records.follow(ALICE_TOO)),
    create(m(ALICE_TOO, POST, 'p2'), records.post("another repo's")),
  ])
}

describe('the deletes of a resync', () => {
  it("names every row of the repo, in every table, that the fetched CAR does not hold, and no other repo's", async () => {
    await seed()
    // sorted as the MST sorts: app.bsky.feed.like < app.bsky.feed.post < app.bsky.graph.follow; other apps' keys too
    const car: CarKey[] = [
      { key: `${POST}/p1` },
      { key: `${POST}/p3` },
      { key: `${POST}/p4` },
      { key: `${FOLLOW}/f2` },
      { key: 'com.example.other/x' },
    ]
    for (const pageSize of [1, 2, 1000]) {
      const deletes = await collect(ALICE, rev(5), car, pageSize)
      expect(deletes.map((d) => d.uri), `page size ${pageSize}`).toEqual([
        `at://${ALICE}/${LIKE}/l1`,
        `at://${ALICE}/${POST}/p2`,
        `at://${ALICE}/${FOLLOW}/f1`,
      ])
    }
    const [like] = await collect(ALICE, rev(5), car)
    expect(like).toEqual({
      kind: 'delete',
      seq: 0,
      time: '2026-12-01T00:00:00.000Z',
      did: ALICE,
      rev: rev(5),
      collection: LIKE,
      rkey: 'l1',
      uri: `at://${ALICE}/${LIKE}/l1`,
    })
  })

  it('refuses CAR keys out of order, since the merge would miss rows', async () => {
    await seed()
    await expect(collect(ALICE, rev(5), [{ key: `${POST}/p3` }, { key: `${POST}/p1` }])).rejects.toThrow(/does not sort after/)
  })

  it('written through the writer, removes what is gone and leaves a row a newer live op wrote', async () => {
    await seed()
    // a live op (rev 9) re-created p2 after the resync's commit (rev 5) was fetched
    await write([create(m(ALICE, POST, 'p2', 9), records.post('written live after the fetch'))])
    const deletes = await collect(ALICE, rev(5), [{ key: `${POST}/p1` }, { key: `${POST}/p3` }])
    expect(deletes.map((d) => d.rkey)).toEqual(['l1', 'p2', 'f1', 'f2'])
    await write(deletes)
    const state = await indexedState(pool)
    expect(state.posts.map((r) => [r.uri, r.rev])).toEqual([
      [`at://${ALICE}/${POST}/p1`, rev(1)],
      [`at://${ALICE}/${POST}/p2`, rev(9)],
      [`at://${ALICE}/${POST}/p3`, rev(1)],
      [`at://${ALICE_TOO}/${POST}/p2`, rev(1)],
    ])
    expect(state.likes).toEqual([])
    expect(state.follows).toEqual([])
    // and an older replayed create of a deleted record stays deleted (the tombstone carries the resync's rev)
    await write([create(m(ALICE, FOLLOW, 'f1', 3), records.follow(ALICE_TOO))])
    expect((await indexedState(pool)).follows).toEqual([])
  })
})
