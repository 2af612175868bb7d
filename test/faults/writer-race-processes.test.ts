// Instances on one database write the same records at once: whatever lands first in either process, the state must
// be the one a single process applying the ops in order leaves (invariant 4 across processes). Two real OS
// processes (test/support/race-writer.ts, each a BatchWriter on its own pool) race a create and a delete of one
// record, and a create and its account's deletion: the first stops before each statement of its transaction in
// turn, from BEGIN to COMMIT, while the second runs until it commits or waits on a lock; then the first goes on.
import { spawn, type ChildProcess } from 'node:child_process'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import pg from 'pg'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createPool } from '../../server/db/pools.js'
import type { PipelineItem } from '../../server/events/index.js'
import { BatchWriter } from '../../server/indexer/writer.js'
import { ACCOUNT_ROW_LOCKS } from '../../server/indexer/write-locks.js'
import { testDatabase } from '../harness/db.js'
import type { TestDatabase } from '../harness/postgres.js'
import { indexedState, truncateAll, type IndexedState } from '../support/db-state.js'
import { account, create, del, records } from '../support/ops.js'
import type { RaceWriterReply, RaceWriterRequest } from '../support/race-writer.js'

const WORKER = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../support/race-writer.ts')
const ALICE = 'did:plc:aliceaaaaaaaaaaaaaaaaaaa'
const LIKE = 'app.bsky.feed.like'
const POST_URI = 'at://did:plc:bobbbbbbbbbbbbbbbbbbbbbb/app.bsky.feed.post/3kpost'
const POST_CID = 'bafyreih3pdwcgvlx5nd7ar6zfmiq5m3xyp2qbd6yjoo3k3j3tcyqsbetsy'

type Write = { paused: Promise<{ pid: number; sql: string } | null>; done: Promise<void>; go(): void }

/** One writer process; writes are told apart by id. */
class RaceWriter {
  private nextId = 0
  private readonly waiting = new Map<number, (reply: RaceWriterReply) => void>()
  readonly proc: ChildProcess

  constructor(databaseUrl: string) {
    this.proc = spawn(process.execPath, ['--import', 'tsx', WORKER, databaseUrl], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] })
    this.proc.on('message', (reply: RaceWriterReply) => this.waiting.get(reply.id)?.(reply))
  }

  write(items: PipelineItem[], pauseBefore: number | 'COMMIT' | null): Write {
    const id = this.nextId++
    let paused!: (p: { pid: number; sql: string } | null) => void
    let done!: () => void
    let failed!: (err: Error) => void
    const write: Write = {
      paused: new Promise((r) => (paused = r)),
      done: new Promise((resolve, reject) => ((done = resolve), (failed = reject))),
      go: () => this.send({ kind: 'continue', id }),
    }
    this.waiting.set(id, (reply) => {
      if (reply.kind === 'paused') return paused({ pid: reply.pid, sql: reply.sql })
      this.waiting.delete(id)
      paused(null)
      if (reply.kind === 'done') done()
      else failed(new Error(`race writer: ${reply.message}`))
    })
    this.send({ kind: 'write', id, items, pauseBefore })
    return write
  }

  private send(message: RaceWriterRequest): void {
    this.proc.send(message)
  }
}

let db: TestDatabase
let pool: pg.Pool
let writers: [RaceWriter, RaceWriter]

beforeAll(async () => {
  db = await testDatabase()
  pool = createPool(db.url, 'admin', 2)
  writers = [new RaceWriter(db.url), new RaceWriter(db.url)]
})

afterAll(async () => {
  for (const w of writers ?? []) w.proc.disconnect()
  await pool.end()
  await db.drop()
})

async function reset(): Promise<void> {
  await truncateAll(pool)
  // The account is known already (its #identity came long before), as in a real stream.
  await new BatchWriter(pool, 'backfill', ACCOUNT_ROW_LOCKS).write([account(1, ALICE, 'active')], null, null)
}

/** What one process applying the ops one by one in stream order leaves. */
async function sequentialState(ops: PipelineItem[]): Promise<IndexedState> {
  await reset()
  const writer = new BatchWriter(pool, 'backfill', ACCOUNT_ROW_LOCKS)
  for (const op of [...ops].sort((a, b) => (a.seq ?? 0) - (b.seq ?? 0))) await writer.write([op], null, null)
  return indexedState(pool)
}

/** Resolves true once a transaction on the test database waits on a lock, false once `done` settles first. */
async function waitsOnLock(done: Promise<void>): Promise<boolean> {
  let finished = false
  void done.then(
    () => (finished = true),
    () => (finished = true),
  )
  for (;;) {
    const { rows } = await pool.query(
      `SELECT 1 FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'`,
    )
    if (rows.length) return true
    if (finished) return false
    await new Promise((r) => setTimeout(r, 10))
  }
}

type Run = { heldBefore: string; secondWaited: boolean; state: IndexedState }

/** Every stop of the first batch's transaction, statement by statement, with the second batch run meanwhile. */
async function everyInterleaving(first: PipelineItem[], second: PipelineItem[]): Promise<Run[]> {
  const runs: Run[] = []
  for (let stop = 0; ; stop++) {
    await reset()
    const a = writers[0].write(first, stop)
    const held = await a.paused
    if (!held) {
      await a.done
      return runs
    }
    const b = writers[1].write(second, null)
    const secondWaited = await waitsOnLock(b.done)
    a.go()
    await Promise.all([a.done, b.done])
    runs.push({ heldBefore: held.sql, secondWaited, state: await indexedState(pool) })
  }
}

/** Runs both batches in both roles and checks every outcome against the sequential one. */
async function expectOrderIndependent(x: PipelineItem[], y: PipelineItem[]): Promise<Run[]> {
  const expected = await sequentialState([...x, ...y])
  const runs = [...(await everyInterleaving(x, y)), ...(await everyInterleaving(y, x))]
  for (const run of runs) expect({ heldBefore: run.heldBefore, state: run.state }).toEqual({ heldBefore: run.heldBefore, state: expected })
  return runs
}

const like = (seq: number) =>
  create({ seq, rev: seq, did: ALICE, collection: LIKE, rkey: 'l1' }, records.like(POST_URI, POST_CID))
const unlike = (seq: number) => del({ seq, rev: seq, did: ALICE, collection: LIKE, rkey: 'l1' })

describe('two processes writing the same record', () => {
  it('a create and a later delete of one like leave it deleted, however their transactions interleave', async () => {
    const runs = await expectOrderIndependent([like(10)], [unlike(20)])
    expect(runs.length).toBeGreaterThanOrEqual(8)
    // The second process waited exactly when the first held the account: from its lock statement on to COMMIT.
    const heldAccount = (sql: string) => !/^(BEGIN|INSERT INTO actors|SELECT 1 FROM actors)/.test(sql)
    expect(runs.map((r) => r.secondWaited)).toEqual(runs.map((r) => heldAccount(r.heldBefore)))
  })

  it('a delete and a later create of the same like leave the new one, however they interleave', async () => {
    const runs = await expectOrderIndependent([unlike(20)], [like(30)])
    expect(runs.every((r) => r.state.likes!.length === 1)).toBe(true)
  })

  it("a like and its account's later deletion leave no like, however they interleave", async () => {
    const runs = await expectOrderIndependent([like(10)], [account(20, ALICE, 'deleted')])
    expect(runs.some((r) => r.heldBefore.startsWith('DELETE'))).toBe(true)
    expect(runs.every((r) => r.state.likes!.length === 0)).toBe(true)
  })
})

describe('the cost of the cross-process locks', () => {
  /** The lock-table entries of a batch's transaction held open at COMMIT in a writer process. */
  async function locksHeldAtCommit(items: PipelineItem[]): Promise<{ locktype: string; mode: string }[]> {
    await reset()
    const w = writers[0].write(items, 'COMMIT')
    const held = await w.paused
    if (!held) throw new Error('the batch committed without stopping at COMMIT')
    const { rows } = await pool.query<{ locktype: string; mode: string }>(
      'SELECT locktype, mode FROM pg_locks WHERE pid = $1 ORDER BY locktype, mode',
      [held.pid],
    )
    w.go()
    await w.done
    return rows
  }

  it('a batch of 10,000 frames from 10,000 accounts holds no more lock-table entries than a batch of one', async () => {
    const base32 = 'abcdefghijklmnopqrstuvwxyz234567'
    const did = (i: number) => `did:plc:${[...i.toString(32).padStart(24, '0')].map((c) => base32[parseInt(c, 32)]).join('')}`
    const big = Array.from({ length: 10_000 }, (_, i) =>
      create({ seq: 100 + i, rev: 100 + i, did: did(i), collection: LIKE, rkey: 'l1' }, records.like(POST_URI, POST_CID)),
    )
    const one = await locksHeldAtCommit([like(10)])
    const many = await locksHeldAtCommit(big)
    expect(many).toEqual(one)
    expect(many.filter((l) => l.locktype === 'advisory' || l.locktype === 'tuple')).toEqual([])
    const { rows } = await pool.query<{ n: number }>('SELECT count(*)::int AS n FROM likes')
    expect(rows[0]!.n).toBe(10_000)
  }, 60_000)
})
