// unindexed_collections counts each op on a collection we do not index once, however its events are replayed: the
// same batch again after a crash, a replay from an older cursor that overlaps what was written, a different split,
// batches of two ranges landing out of order.
import { describe, expect, it } from 'vitest'
import type { PipelineItem } from '../../server/events/index.js'
import { truncateAll } from '../support/db-state.js'
import { writerDatabaseForFile } from '../support/writer-db.js'
import { create, del, records } from '../support/ops.js'

const ALICE = 'did:plc:aliceaaaaaaaaaaaaaaaaaaa'
const POST = 'app.bsky.feed.post'
const GAME = 'com.example.game.score'
const CHAT = 'com.example.chat.message'

const db = writerDatabaseForFile()

/** Frames 1..20 (seqs skip by one at 11: a source's seqs need not be dense): game ops, a chat op every third. */
function stream(): PipelineItem[][] {
  const frames: PipelineItem[][] = []
  for (let seq = 1; seq <= 21; seq++) {
    if (seq === 11) continue
    const m = (collection: string, rkey: string) => ({ seq, rev: seq, did: ALICE, collection, rkey })
    const frame: PipelineItem[] = [seq % 5 === 0 ? del(m(GAME, `g${seq - 1}`)) : create(m(GAME, `g${seq}`), { score: seq })]
    if (seq % 3 === 0) frame.push(create(m(CHAT, `c${seq}`), { text: `hi ${seq}` }))
    frames.push(frame)
  }
  return frames
}

const frameSeq = (frame: PipelineItem[]) => frame[0]!.seq as number

/** Writes frames [from, to) of the stream as one batch, as a pipeline resumed after `afterSeq` would. */
function writeBatch(frames: PipelineItem[][], from: number, to: number, afterSeq: number | null) {
  const part = frames.slice(from, to)
  const lastSeq = frameSeq(part[part.length - 1]!)
  return db.writer.write(part.flat(), lastSeq, { name: 'backfill', afterSeq, seqAtCommit: () => null })
}

const afterOf = (frames: PipelineItem[][], index: number) => (index === 0 ? 0 : frameSeq(frames[index - 1]!))

async function counts(): Promise<Record<string, number>> {
  const { rows } = await db.pool.query<{ collection: string; ops: string }>('SELECT collection, ops FROM unindexed_collections ORDER BY collection')
  return Object.fromEntries(rows.map((r) => [r.collection, Number(r.ops)]))
}

async function writeInBatches(frames: PipelineItem[][], size: number) {
  for (let i = 0; i < frames.length; i += size) await writeBatch(frames, i, Math.min(i + size, frames.length), afterOf(frames, i))
}

describe('unindexed collection counts', () => {
  it('count every op of a stream written once', async () => {
    await truncateAll(db.pool)
    await writeInBatches(stream(), 4)
    expect(await counts()).toEqual({ [CHAT]: 7, [GAME]: 20 })
  })

  it('stay the same when the stream is replayed whole, batch again, in other splits', async () => {
    await truncateAll(db.pool)
    const frames = stream()
    await writeInBatches(frames, 4)
    await writeInBatches(frames, 4)
    await writeInBatches(frames, 7)
    await writeBatch(frames, 0, frames.length, null)
    expect(await counts()).toEqual({ [CHAT]: 7, [GAME]: 20 })
  })

  it('count only the new part of a batch replayed from an older cursor, partly over what was written', async () => {
    await truncateAll(db.pool)
    const frames = stream()
    // Written: frames 0..8; the cursor was left at frame 5 (a crash before it moved): the replay re-reads 6..8.
    await writeBatch(frames, 0, 5, 0)
    await writeBatch(frames, 5, 9, afterOf(frames, 5))
    await writeBatch(frames, 5, 14, afterOf(frames, 5))
    await writeBatch(frames, 12, frames.length, afterOf(frames, 12))
    expect(await counts()).toEqual({ [CHAT]: 7, [GAME]: 20 })
  })

  it('count the ops of a collection met again after batches without any, replayed from before them', async () => {
    await truncateAll(db.pool)
    const frames = stream()
    // Chat ops only every third frame: batches of one frame leave most batches without one.
    await writeInBatches(frames, 1)
    await writeBatch(frames, 0, frames.length, 0)
    expect(await counts()).toEqual({ [CHAT]: 7, [GAME]: 20 })
    const { rows } = await db.pool.query<{ seqs: string }>(`SELECT seqs::text FROM unindexed_counted`)
    expect(rows).toEqual([{ seqs: '{[1,22)}' }])
  })

  it('count batches that land out of order, as two ranges replayed at once do', async () => {
    await truncateAll(db.pool)
    const frames = stream()
    await writeBatch(frames, 10, frames.length, afterOf(frames, 10))
    await writeBatch(frames, 0, 10, 0)
    expect(await counts()).toEqual({ [CHAT]: 7, [GAME]: 20 })
    const { rows } = await db.pool.query<{ seqs: string }>(`SELECT seqs::text FROM unindexed_counted`)
    expect(rows).toEqual([{ seqs: '{[1,22)}' }])
  })

  it('count once a batch whose writes Postgres refused in part and that was written in halves', async () => {
    await truncateAll(db.pool)
    await db.pool.query(`ALTER TABLE posts ADD CONSTRAINT test_refuses CHECK (text <> 'refused by postgres')`)
    try {
      const frames = stream()
      frames[3]!.push(create({ seq: 4, rev: 4, did: ALICE, collection: POST, rkey: 'refused' }, records.post('refused by postgres')))
      const outcome = await writeBatch(frames, 0, 10, 0)
      expect(outcome).toMatchObject({ rejected: 1, unindexed: 13 })
      await writeBatch(frames, 0, 10, 0)
      expect(await counts()).toEqual({ [CHAT]: 3, [GAME]: 10 })
    } finally {
      await db.pool.query('ALTER TABLE posts DROP CONSTRAINT test_refuses')
    }
  })
})
