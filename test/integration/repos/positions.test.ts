// Every repository's position on a real database: the writer follows each repo's chain in the batch's transaction,
// the resync scheduler confirms gaps and queues one fetch per desynchronized repo, and a landed resync makes it
// active again without undoing what live commits applied meanwhile.
import type pg from 'pg'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import type { PipelineItem } from '../../../server/events/index.js'
import { GAP_REASON } from '../../../server/indexer/repo-chain.js'
import type { BatchWriter } from '../../../server/indexer/writer.js'
import { PgRepoJobStore } from '../../../server/repos/job-store.js'
import {
  checkAll,
  confirmGaps,
  markResynced,
  queueResyncs,
  syncStateCounts,
} from '../../../server/repos/resync-scheduler.js'
import { truncateAll } from '../../support/db-state.js'
import { writerDatabase } from '../../support/writer-db.js'
import { account, commitAt, create, records, rev, syncAt } from '../../support/ops.js'

const ALICE = 'did:plc:aliceaaaaaaaaaaaaaaaaaaa'
const BOB = 'did:plc:bobbbbbbbbbbbbbbbbbbbbbb'
const CAROL = 'did:plc:carolccccccccccccccccccc'
const POST = 'app.bsky.feed.post'

let pool: pg.Pool
let writer: BatchWriter
let close: () => Promise<void>

beforeAll(async () => {
  ;({ pool, writer, close } = await writerDatabase())
})

afterEach(async () => {
  await truncateAll(pool)
  await pool.query('TRUNCATE repos')
})

afterAll(() => close())

const data = (did: string, n: number) => `${did.slice(8, 13)}-data-${n}`

/** Commit n of `did`'s linear chain, each with one post: since n-1, prevData the data after n-1. */
function chainCommit(did: string, n: number, seq: number): PipelineItem[] {
  return [
    create({ seq, rev: n, did, collection: POST, rkey: `p${n}` }, records.post(`post ${n}`)),
    commitAt({ seq, did, rev: n, since: n > 1 ? n - 1 : null, prevData: n > 1 ? data(did, n - 1) : null, data: data(did, n) }),
  ]
}

async function write(items: PipelineItem[]): Promise<void> {
  const seqs = items.map((i) => i.seq ?? 0)
  await writer.write(items, Math.max(...seqs), null)
}

type PositionRow = { did: string; rev: string | null; data_cid: string | null; sync_state: string; reason: string | null; gap: unknown; holes: unknown }

async function positions(): Promise<Record<string, PositionRow>> {
  const { rows } = await pool.query<PositionRow>('SELECT did, rev, data_cid, sync_state, reason, gap, holes FROM repo_positions ORDER BY did')
  return Object.fromEntries(rows.map((r) => [r.did, r]))
}

async function chainRows(): Promise<{ did: string; category: string; reason: string; resolved: boolean }[]> {
  const { rows } = await pool.query(
    `SELECT did, category, reason, resolved_at IS NOT NULL AS resolved FROM rejects WHERE category IN ('gap', 'sync') ORDER BY id`,
  )
  return rows
}

describe('the writer follows each repo', () => {
  it('a chain with a missing commit marks exactly that repo desynchronized, once the stream has passed it', async () => {
    // three repos commit in turn, four commits each; bob's third never arrives
    let seq = 0
    const frames = [1, 2, 3, 4].flatMap((n) => [ALICE, BOB, CAROL].map((did) => ({ did, n, seq: ++seq })))
    const delivered = frames.filter((f) => !(f.did === BOB && f.n === 3))
    for (let i = 0; i < delivered.length; i += 3) await write(delivered.slice(i, i + 3).flatMap((f) => chainCommit(f.did, f.n, f.seq)))

    // the writer cannot tell a missing commit from one still in flight in another batch: it waits
    const before = await positions()
    expect(Object.values(before).map((p) => p.sync_state)).toEqual(['active', 'active', 'active'])
    expect(before[BOB].holes).toEqual([{ after: rev(2), afterData: data(BOB, 2), before: rev(3), beforePrevData: data(BOB, 3), seq: 11 }])

    expect(await confirmGaps(pool, seq)).toEqual([BOB])
    const after = await positions()
    expect(after[ALICE]).toMatchObject({ rev: rev(4), data_cid: data(ALICE, 4), sync_state: 'active', holes: null })
    expect(after[CAROL]).toMatchObject({ rev: rev(4), data_cid: data(CAROL, 4), sync_state: 'active', holes: null })
    expect(after[BOB]).toMatchObject({ rev: rev(4), sync_state: 'desynchronized', reason: GAP_REASON.missed, gap: { after: rev(2), before: rev(3) } })
    expect(await chainRows()).toEqual([{ did: BOB, category: 'gap', reason: GAP_REASON.missed, resolved: false }])
  })

  it('a hole is not confirmed before the stream has passed the commit that opened it', async () => {
    await write([...chainCommit(ALICE, 1, 1), ...chainCommit(ALICE, 3, 3)])
    expect(await confirmGaps(pool, 2)).toEqual([])
    expect((await positions())[ALICE].sync_state).toBe('active')
  })

  it('batches committing out of order leave no gap', async () => {
    await write(chainCommit(ALICE, 1, 1))
    await write([...chainCommit(ALICE, 4, 4), ...chainCommit(ALICE, 5, 5)])
    await write([...chainCommit(ALICE, 2, 2), ...chainCommit(ALICE, 3, 3)])
    expect(await confirmGaps(pool, 5)).toEqual([])
    expect((await positions())[ALICE]).toMatchObject({ rev: rev(5), data_cid: data(ALICE, 5), sync_state: 'active', holes: null })
    expect(await chainRows()).toEqual([])
  })

  it('a duplicate commit changes nothing', async () => {
    await write([...chainCommit(ALICE, 1, 1), ...chainCommit(ALICE, 2, 2)])
    const snapshot = async () => (await pool.query('SELECT * FROM repo_positions')).rows
    const before = await snapshot()
    await write(chainCommit(ALICE, 2, 2))
    await write(chainCommit(ALICE, 1, 1))
    expect(await snapshot()).toEqual(before)
  })

  it('a commit whose prevData is not the data applied desynchronizes its repo at once, saying what was expected', async () => {
    await write(chainCommit(ALICE, 1, 1))
    await write([commitAt({ seq: 2, did: ALICE, rev: 2, since: 1, prevData: 'someone-elses-data', data: data(ALICE, 2) })])
    expect((await positions())[ALICE]).toMatchObject({
      rev: rev(2),
      sync_state: 'desynchronized',
      reason: GAP_REASON.prevDataMismatch,
      gap: { seq: 2, prevData: 'someone-elses-data', expected: data(ALICE, 1) },
    })
    expect(await chainRows()).toEqual([{ did: ALICE, category: 'gap', reason: GAP_REASON.prevDataMismatch, resolved: false }])
  })

  it('a newer #sync with other data desynchronizes its repo; one with the same data only moves the rev', async () => {
    await write([...chainCommit(ALICE, 1, 1), ...chainCommit(BOB, 1, 2)])
    await write([syncAt({ seq: 3, did: ALICE, rev: 5, data: 'rewritten' }), syncAt({ seq: 4, did: BOB, rev: 5, data: data(BOB, 1) })])
    const after = await positions()
    expect(after[ALICE]).toMatchObject({ rev: rev(5), data_cid: 'rewritten', sync_state: 'desynchronized' })
    expect(after[BOB]).toMatchObject({ rev: rev(5), data_cid: data(BOB, 1), sync_state: 'active', gap: null })
    expect(await chainRows()).toEqual([
      { did: ALICE, category: 'sync', reason: 'sync event', resolved: false },
      { did: BOB, category: 'sync', reason: 'sync event', resolved: true },
    ])
  })

  it('a position another transaction creates while the batch waits for it is locked and followed, not lost', async () => {
    // another writer of repo_positions (a resync, another process) creates alice's position and has not committed
    const other = await pool.connect()
    try {
      await other.query('BEGIN')
      await other.query('INSERT INTO repo_positions (did, rev, data_cid) VALUES ($1, $2, $3)', [ALICE, rev(1), data(ALICE, 1)])
      const batch = write(chainCommit(ALICE, 2, 2))
      // the batch's insert of that position waits for the other transaction
      await expect.poll(async () => (await pool.query(`SELECT count(*)::int AS n FROM pg_stat_activity WHERE wait_event_type = 'Lock'`)).rows[0].n).toBe(1)
      await other.query('COMMIT')
      await batch
    } finally {
      other.release()
    }
    const p = (await positions())[ALICE]
    expect([p.rev, p.data_cid, p.sync_state]).toEqual([rev(2), data(ALICE, 2), 'active'])
  })

  it('a rev more than 5 minutes past the clock is refused with its ops, as verify rejects', async () => {
    const future = '3zzzzzzzzzzzz'
    const post = { ...create({ seq: 1, rev: 1, did: ALICE, collection: POST, rkey: 'p1' }, records.post('from the future')), rev: future }
    const commit = { ...commitAt({ seq: 1, did: ALICE, rev: 1, since: null, data: 'd' }), rev: future }
    await write([post, commit])
    expect((await pool.query('SELECT uri FROM posts')).rows).toEqual([])
    expect(await positions()).toEqual({})
    const { rows } = await pool.query(`SELECT category, uri FROM rejects ORDER BY id`)
    expect(rows).toEqual([
      { category: 'verify', uri: post.uri },
      { category: 'verify', uri: null },
    ])
  })
})

describe('the resync scheduler', () => {
  async function desynchronize(did: string): Promise<void> {
    await write([...chainCommit(did, 1, 1), syncAt({ seq: 2, did, rev: 2, data: 'other' })])
  }

  it('queues each desynchronized repo once, as a whole-repository fetch, and moves it to resyncing', async () => {
    await desynchronize(ALICE)
    await desynchronize(BOB)
    await write(chainCommit(CAROL, 1, 3))
    const jobs = new PgRepoJobStore(pool)
    expect(await queueResyncs(pool, jobs)).toEqual([ALICE, BOB])
    expect(await queueResyncs(pool, jobs)).toEqual([])
    const { rows } = await pool.query('SELECT did, state, discovered_via, since FROM repos ORDER BY did')
    expect(rows).toEqual([
      { did: ALICE, state: 'pending', discovered_via: 'resync', since: null },
      { did: BOB, state: 'pending', discovered_via: 'resync', since: null },
    ])
    expect(await syncStateCounts(pool)).toEqual({ active: 1, desynchronized: 0, resyncing: 2, error: 0, total: 3 })
  })

  it("a landed resync makes the repo active at the fetched commit and resolves its rows, in the writer's transaction", async () => {
    await desynchronize(ALICE)
    await queueResyncs(pool, new PgRepoJobStore(pool))
    await writer.write([], null, null, (tx) => markResynced(tx, ALICE, rev(3), 'fetched-data'))
    expect((await positions())[ALICE]).toMatchObject({ rev: rev(3), data_cid: 'fetched-data', sync_state: 'active', reason: 'resynced' })
    expect(await chainRows()).toEqual([{ did: ALICE, category: 'sync', reason: 'sync event', resolved: true }])
    // and the chain is followed from the fetched commit on
    await write([commitAt({ seq: 9, did: ALICE, rev: 4, since: 3, prevData: 'fetched-data', data: 'd4' })])
    expect((await positions())[ALICE]).toMatchObject({ rev: rev(4), sync_state: 'active' })
  })

  it('a resync older than a live commit applied while it ran keeps the newer commit and stays active', async () => {
    await desynchronize(ALICE)
    await queueResyncs(pool, new PgRepoJobStore(pool))
    await write([commitAt({ seq: 3, did: ALICE, rev: 7, since: 6, prevData: 'd6', data: 'd7' })])
    await writer.write([], null, null, (tx) => markResynced(tx, ALICE, rev(5), 'fetched-data'))
    expect((await positions())[ALICE]).toMatchObject({ rev: rev(7), data_cid: 'd7', sync_state: 'active' })
  })

  it('after lost events, marks desynchronized only the repos whose PDS has a newer commit', async () => {
    await write([...chainCommit(ALICE, 1, 1), ...chainCommit(BOB, 1, 2), ...chainCommit(CAROL, 1, 3)])
    const latest: Record<string, { rev: string; cid: string } | null> = {
      [ALICE]: { rev: rev(1), cid: 'c1' },
      [BOB]: { rev: rev(4), cid: 'c4' },
      [CAROL]: null,
    }
    const asked: string[] = []
    const result = await checkAll(pool, async (did) => (asked.push(did), latest[did]), { pageSize: 2 })
    expect(result).toEqual({ checked: 3, desynchronized: [BOB], failed: 0 })
    expect(asked.sort()).toEqual([ALICE, BOB, CAROL])
    const after = await positions()
    expect(Object.fromEntries(Object.values(after).map((p) => [p.did, p.sync_state]))).toEqual({
      [ALICE]: 'active',
      [BOB]: 'desynchronized',
      [CAROL]: 'active',
    })
    expect(after[BOB].gap).toEqual({ applied: rev(1), latestRev: rev(4), latestCid: 'c4' })
  })

  it('an account reactivated after a takedown is resynced; a status that stays active changes nothing', async () => {
    await writer.write([account(1, ALICE, 'active'), account(2, BOB, 'active')], 2, null)
    await writer.write([account(3, ALICE, 'takendown'), account(4, BOB, 'active')], 4, null)
    await writer.write([account(5, ALICE, 'active'), account(6, BOB, 'active')], 6, null)
    const { rows } = await pool.query(`SELECT did, sync_state, reason FROM repo_positions WHERE sync_state <> 'active' ORDER BY did`)
    expect(rows).toEqual([{ did: ALICE, sync_state: 'desynchronized', reason: expect.stringMatching(/^account reactivated/) }])
    const jobs = new PgRepoJobStore(pool)
    expect(await queueResyncs(pool, jobs)).toEqual([ALICE])
  })
})
