// app.bsky.actor.getProfile through AtpAgent, against the standard world.
import { lexicons } from '@atproto/api'
import type pg from 'pg'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { HIDDEN_STATUSES, hiddenSql } from '../../server/api/xrpc/data.js'
import { ALICE, BOB, DAVE, ERIN, GRACE, at, blob, did, sql, startWorld, type TestServer, type World } from './fixture.js'

let server: TestServer & { world: World }

beforeAll(async () => {
  server = await startWorld()
})

afterAll(async () => {
  await server?.close()
})

const getProfile = (actor: string) => server.agent.app.bsky.actor.getProfile({ actor })

describe('app.bsky.actor.getProfile', () => {
  it("returns alice's detailed profile with exact counts, valid against the lexicon", async () => {
    const { data } = await getProfile(ALICE)
    lexicons.assertValidXrpcOutput('app.bsky.actor.getProfile', data)
    const avatar = blob('alice-avatar').ref.toString()
    const banner = blob('alice-banner').ref.toString()
    expect(data).toEqual({
      did: ALICE,
      handle: 'alice.test',
      displayName: 'Alice',
      description: 'about Alice',
      avatar: `https://cdn.bsky.app/img/avatar/plain/${ALICE}/${avatar}@jpeg`,
      banner: `https://cdn.bsky.app/img/banner/plain/${ALICE}/${banner}@jpeg`,
      // bob, carol, erin; dave (takendown) and grace (deactivated) are not counted
      followersCount: 3,
      // bob and frank (never seen); dave (takendown) is not counted
      followsCount: 2,
      // a1..a7 and the reply ar
      postsCount: 8,
      pinnedPost: { uri: server.world.posts.a1.uri, cid: server.world.posts.a1.cid },
      labels: [],
      createdAt: at(1),
      indexedAt: expect.stringMatching(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/),
    })
  })

  it('accepts a handle, in any case, as well as a DID', async () => {
    const byHandle = await getProfile('Alice.TEST')
    expect(byHandle.data.did).toBe(ALICE)
    expect(byHandle.data.followersCount).toBe(3)
  })

  it('serves an actor with no handle as handle.invalid and with no profile record as counts only', async () => {
    const { data } = await getProfile(ERIN)
    lexicons.assertValidXrpcOutput('app.bsky.actor.getProfile', data)
    expect(data).toMatchObject({ did: ERIN, handle: 'handle.invalid', followersCount: 0, followsCount: 1, postsCount: 1 })
    expect(data.displayName).toBeUndefined()
    expect(data.avatar).toBeUndefined()
  })

  it('answers an unknown DID with 400 InvalidRequest "Profile not found"', async () => {
    await expect(getProfile(did('nobody'))).rejects.toMatchObject({ status: 400, error: 'InvalidRequest', message: 'Profile not found' })
  })

  it('answers an unknown handle with 400 InvalidRequest "Profile not found"', async () => {
    await expect(getProfile('nobody.test')).rejects.toMatchObject({ status: 400, error: 'InvalidRequest', message: 'Profile not found' })
  })

  it('does not serve a takendown actor', async () => {
    await expect(getProfile(DAVE)).rejects.toMatchObject({ status: 400, message: 'Profile not found' })
    await expect(getProfile('dave.test')).rejects.toMatchObject({ status: 400, message: 'Profile not found' })
  })

  it('does not serve a deactivated actor', async () => {
    await expect(getProfile(GRACE)).rejects.toMatchObject({ status: 400, message: 'Profile not found' })
  })

  it("counts bob's follows of served accounts only", async () => {
    const { data } = await getProfile(BOB)
    expect(data).toMatchObject({ followersCount: 1, followsCount: 1, postsCount: 2, displayName: 'Bob' })
  })

  it("reaches the hidden actors through actors_hidden_idx, whose list is HIDDEN_STATUSES", async () => {
    const { rows } = await sql(server.db.url, `SELECT pg_get_indexdef('actors_hidden_idx'::regclass) AS def`)
    const listed = [...(rows[0].def as string).matchAll(/'([a-z]+)'::text/g)].map((m) => m[1])
    expect(listed.sort()).toEqual([...HIDDEN_STATUSES].sort())
    // With sequential scans priced out, Postgres reads the hidden actors from the partial index only if it can
    // prove that hiddenSql's condition implies the index's.
    const results = (await sql(
      server.db.url,
      `SET enable_seqscan = off; EXPLAIN SELECT a.did FROM actors a WHERE ${hiddenSql('a')}`,
    )) as unknown as pg.QueryResult[]
    const plan = results[1]!.rows.map((r) => r['QUERY PLAN']).join('\n')
    expect(plan).toContain('actors_hidden_idx')
  })
})
