// GET /api/stats: indexed records per collection, actors, rejects, unindexed collections and database size.
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { ALICE, POST, at, getJson, sql, standardWorld, startServer, type TestServer } from './fixture.js'

let server: TestServer

beforeAll(async () => {
  const { fx } = standardWorld()
  fx.raw(ALICE, POST, 'invalid', { $type: POST, createdAt: at(1) }) // no text: rejected by the lexicon
  fx.reject('frame could not be decoded', 'frame')
  for (const rkey of ['t1', 't2', 't3']) fx.raw(ALICE, 'com.example.thing', rkey, { $type: 'com.example.thing' })
  fx.raw(ALICE, 'com.example.other', 'o1', { $type: 'com.example.other' })
  server = await startServer((url) => fx.write(url))
})

afterAll(async () => {
  await server?.close()
})

const stats = async () => {
  const { status, body } = await getJson(server.url, '/api/stats')
  expect(status).toBe(200)
  return body
}

describe('GET /api/stats', () => {
  it('counts the seeded records per collection exactly', async () => {
    const body = await stats()
    expect(body.collections).toEqual([
      { collection: 'app.bsky.feed.post', table: 'posts', count: 14, exact: true },
      { collection: 'app.bsky.feed.like', table: 'likes', count: 4, exact: true },
      { collection: 'app.bsky.feed.repost', table: 'reposts', count: 6, exact: true },
      { collection: 'app.bsky.graph.follow', table: 'follows', count: 8, exact: true },
      { collection: 'app.bsky.graph.block', table: 'blocks', count: 0, exact: true },
      { collection: 'app.bsky.graph.list', table: 'lists', count: 0, exact: true },
      { collection: 'app.bsky.graph.listitem', table: 'list_items', count: 0, exact: true },
      { collection: 'app.bsky.actor.profile', table: 'profiles', count: 4, exact: true },
    ])
    expect(body.records).toEqual({ count: 36, exact: true })
  })

  it('counts every actor row, served or not', async () => {
    const body = await stats()
    // alice, bob, carol, dave (takendown), erin, grace (deactivated)
    expect(body.actors).toEqual({ count: 6, exact: true })
  })

  it('counts rejects by category', async () => {
    const body = await stats()
    expect(body.rejects).toEqual({
      count: 2,
      exact: true,
      byCategory: [
        { category: 'frame', count: 1 },
        { category: 'record', count: 1 },
      ],
    })
  })

  it('lists unindexed collections by ops, most first', async () => {
    const body = await stats()
    expect(body.unindexedCollections).toEqual({
      collections: 2,
      ops: 4,
      top: [
        { collection: 'com.example.thing', ops: 3, lastSeq: expect.any(Number), updatedAt: expect.any(String) },
        { collection: 'com.example.other', ops: 1, lastSeq: expect.any(Number), updatedAt: expect.any(String) },
      ],
    })
  })

  it('reports the database size and when the numbers were taken', async () => {
    const body = await stats()
    expect(body.database.sizeBytes).toBeGreaterThan(1_000_000)
    expect(Date.parse(body.generatedAt)).toBeGreaterThan(Date.now() - 60_000)
    expect(body.exactBelow).toBe(100_000)
  })

  it('reports big tables from planner estimates, marked as not exact', async () => {
    const before = Date.now()
    await sql(
      server.db.url,
      `INSERT INTO likes (uri, did, rkey, rev, cid, seq, subject_uri, subject_cid, created_at)
       SELECT 'at://did:plc:bulk/app.bsky.feed.like/' || n, 'did:plc:bulk', n::text, 'r', 'c', n, 'at://x', 'c', now()
         FROM generate_series(1, 120000) AS n`,
    )
    await sql(
      server.db.url,
      `INSERT INTO rejects (seq, source, category, reason)
       SELECT n, 'bulk', CASE WHEN n % 4 = 0 THEN 'car' ELSE 'record' END, 'bulk' FROM generate_series(1, 120000) AS n`,
    )
    await sql(server.db.url, 'ANALYZE likes, rejects')
    // The endpoint serves a snapshot at most a couple of seconds old: wait for one taken after the inserts.
    let body = await stats()
    for (let i = 0; i < 50 && Date.parse(body.generatedAt) < before; i++) {
      await new Promise((r) => setTimeout(r, 200))
      body = await stats()
    }
    expect(Date.parse(body.generatedAt)).toBeGreaterThanOrEqual(before)
    const likes = body.collections.find((c: { table: string }) => c.table === 'likes')
    expect(likes.exact).toBe(false)
    expect(likes.count).toBeGreaterThan(110_000)
    expect(likes.count).toBeLessThan(130_000)
    expect(body.records.exact).toBe(false)
    expect(body.rejects.exact).toBe(false)
    const byCategory = Object.fromEntries(body.rejects.byCategory.map((c: { category: string; count: number }) => [c.category, c.count]))
    expect(byCategory.record).toBeGreaterThan(80_000)
    expect(byCategory.car).toBeGreaterThan(25_000)
  })
})
