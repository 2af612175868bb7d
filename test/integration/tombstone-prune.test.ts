// Pruning tombstones keeps the table bounded without letting any replay bring a deleted record back: what goes is
// what every consumer has committed past, older than the retention, and the repository keeps its pruned rev, below
// which no record without a row is written again (through the real writer, on a real database).
import { describe, expect, it } from 'vitest'
import type { CreateOp, PipelineItem } from '../../server/events/index.js'
import { pruneTombstones, tombstoneHorizon } from '../../server/indexer/tombstone-prune.js'
import { TombstonePruner } from '../../server/services/tombstone-pruner.js'
import { truncateAll } from '../support/db-state.js'
import { writerDatabaseForFile } from '../support/writer-db.js'
import { create, del, records, rev, update } from '../support/ops.js'

const ALICE = 'did:plc:aliceaaaaaaaaaaaaaaaaaaa'
const BOB = 'did:plc:bobbbbbbbbbbbbbbbbbbbbbb'
const POST = 'app.bsky.feed.post'
const RELAY = 'wss://relay.test'
const CONSUMERS = ['backfill', 'firehose']
const HOUR = 3_600_000

const db = writerDatabaseForFile()

const post = (seq: number, revN: number, did: string, rkey: string, text: string) =>
  create({ seq, rev: revN, did, collection: POST, rkey }, records.post(text))
const unpost = (seq: number, revN: number, did: string, rkey: string) => del({ seq, rev: revN, did, collection: POST, rkey })

/** Alice writes p1, p2, deletes p1, writes p3 and deletes it; Bob writes b1 and deletes it later. */
function history(): PipelineItem[] {
  return [
    post(1, 10, ALICE, 'p1', 'one'),
    post(2, 20, ALICE, 'p2', 'two'),
    unpost(3, 30, ALICE, 'p1'),
    post(4, 40, ALICE, 'p3', 'three'),
    post(5, 10, BOB, 'b1', 'bob'),
    unpost(6, 50, ALICE, 'p3'),
    unpost(8, 20, BOB, 'b1'),
  ]
}

async function setCursors(backfill: number | null, firehose: number | null) {
  for (const [name, seq] of [['backfill', backfill], ['firehose', firehose]] as const) {
    await db.pool.query(`INSERT INTO cursors (name, seq) VALUES ($1, $2) ON CONFLICT (name) DO UPDATE SET seq = EXCLUDED.seq`, [name, seq])
  }
}

/** Makes every tombstone look deleted `ms` ago. */
const age = (ms: number) => db.pool.query(`UPDATE tombstones SET deleted_at = now() - $1 * interval '1 millisecond'`, [ms])

const tombstones = async () =>
  (await db.pool.query<{ uri: string }>('SELECT uri FROM tombstones ORDER BY uri')).rows.map((r) => r.uri.split('/').pop())
const posts = async () => (await db.pool.query<{ rkey: string; rev: string }>('SELECT rkey, rev FROM posts ORDER BY rkey')).rows
const prunedRev = async (did: string) =>
  (await db.pool.query<{ r: string | null }>('SELECT tombstones_pruned_rev AS r FROM repo_positions WHERE did = $1', [did])).rows[0]?.r ?? null

const prune = (retentionMs = HOUR) => pruneTombstones(db.pool, { consumers: CONSUMERS, relay: RELAY, retentionMs })

/** A repository fetched from a PDS that lags: its CAR at `revN` still holds the record (seq 0, the CAR's rev). */
const walked = (revN: number, rkey: string, text: string): CreateOp => ({ ...post(0, revN, ALICE, rkey, text), seq: 0, rev: rev(revN) })

describe('pruning tombstones', () => {
  it('removes the tombstones every consumer has committed past and that are older than the retention, and only those', async () => {
    await truncateAll(db.pool)
    await db.writer.write(history(), 8, null)
    await setCursors(7, 6)
    expect(await prune()).toEqual({ pruned: 0, floor: 6 })
    await age(2 * HOUR)
    expect(await prune()).toEqual({ pruned: 2, floor: 6 })
    // Bob's delete (seq 8) lies past the live firehose's cursor: a consumer may still replay up to it.
    expect(await tombstones()).toEqual(['b1'])
    expect(await prunedRev(ALICE)).toBe(rev(50))
    expect(await prunedRev(BOB)).toBeNull()
    expect(await tombstoneHorizon(db.pool, RELAY)).toBe(6)
    await setCursors(9, 9)
    expect(await prune()).toEqual({ pruned: 1, floor: 9 })
    expect(await tombstones()).toEqual([])
    expect(await tombstoneHorizon(db.pool, RELAY)).toBe(8)
  })

  it('prunes nothing from the firehose while a consumer has no committed cursor, but a resync’s tombstones still go', async () => {
    await truncateAll(db.pool)
    await db.writer.write(history(), 8, null)
    await db.writer.write([{ ...unpost(0, 60, ALICE, 'p2'), seq: 0 }], null, null)
    await setCursors(9, null)
    await age(2 * HOUR)
    expect(await prune()).toEqual({ pruned: 1, floor: null })
    expect(await tombstones()).toEqual(['p1', 'p3', 'b1'])
    expect(await prunedRev(ALICE)).toBe(rev(60))
  })

  it('leaves no replay from before the prune point able to resurrect a deleted record', async () => {
    await truncateAll(db.pool)
    const all = history()
    await db.writer.write(all, 8, null)
    await setCursors(9, 9)
    await age(2 * HOUR)
    await prune()
    expect(await tombstones()).toEqual([])
    const expected = [{ rkey: 'p2', rev: rev(20) }]
    expect(await posts()).toEqual(expected)
    // The same history again: whole, op by op, and the creates alone (a range replayed from an older cursor).
    await db.writer.write(all, 8, null)
    for (const op of all) await db.writer.write([op], op.seq, null)
    await db.writer.write([all[0]!, all[3]!, all[4]!], 5, null)
    // A repository fetched from a PDS that lags behind the deletes: its CAR still holds p1 and p3.
    await db.writer.write([walked(45, 'p1', 'one'), walked(45, 'p2', 'two'), walked(45, 'p3', 'three')], null, null)
    expect(await posts()).toEqual([{ rkey: 'p2', rev: rev(45) }])
    expect((await db.pool.query(`SELECT count(*)::int AS n FROM posts WHERE did = $1`, [BOB])).rows[0].n).toBe(0)
  })

  it('still writes what comes after the pruned rev, and updates a record that has a row', async () => {
    await truncateAll(db.pool)
    await db.writer.write(history(), 8, null)
    await setCursors(9, 9)
    await age(2 * HOUR)
    await prune()
    await db.writer.write([update({ seq: 9, rev: 25, did: ALICE, collection: POST, rkey: 'p2' }, records.post('two, edited'))], 9, null)
    await db.writer.write([post(10, 70, ALICE, 'p1', 'one again'), post(11, 30, BOB, 'b2', 'bob again')], 11, null)
    expect(await posts()).toEqual([
      { rkey: 'b2', rev: rev(30) },
      { rkey: 'p1', rev: rev(70) },
      { rkey: 'p2', rev: rev(25) },
    ])
  })

  it('runs every interval in the server, until stopped', async () => {
    await truncateAll(db.pool)
    await db.writer.write(history(), 8, null)
    await setCursors(9, 9)
    const lines: string[] = []
    const pruner = new TombstonePruner({ pool: db.pool, consumers: CONSUMERS, relay: RELAY, retentionMs: 0, intervalMs: 50, log: (l) => lines.push(l) })
    pruner.start()
    const deadline = Date.now() + 10_000
    while ((await tombstones()).length > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50))
    await pruner.stop()
    expect(await tombstones()).toEqual([])
    expect(lines.some((l) => /^Pruned 3 tombstone\(s\)/.test(l))).toBe(true)
  })
})
