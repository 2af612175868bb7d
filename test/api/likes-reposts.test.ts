// app.bsky.feed.getLikes and app.bsky.feed.getRepostedBy through AtpAgent, against the standard world.
import { lexicons } from '@atproto/api'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { ALICE, BOB, CAROL, ERIN, POST, at, startWorld, type TestServer, type World } from './fixture.js'

let server: TestServer & { world: World }

beforeAll(async () => {
  server = await startWorld()
})

afterAll(async () => {
  await server?.close()
})

async function likes(params: { uri: string; cid?: string; limit?: number; cursor?: string }) {
  const { data } = await server.agent.app.bsky.feed.getLikes(params)
  lexicons.assertValidXrpcOutput('app.bsky.feed.getLikes', data)
  return data
}

async function repostedBy(params: { uri: string; cid?: string; limit?: number; cursor?: string }) {
  const { data } = await server.agent.app.bsky.feed.getRepostedBy(params)
  lexicons.assertValidXrpcOutput('app.bsky.feed.getRepostedBy', data)
  return data
}

describe('app.bsky.feed.getLikes', () => {
  it('lists the likes of a post by served accounts, most recent first', async () => {
    const data = await likes({ uri: server.world.posts.a1.uri })
    expect(data.uri).toBe(server.world.posts.a1.uri)
    // dave (takendown) liked at 28 and is left out
    expect(data.likes.map((l) => l.actor.did)).toEqual([ERIN, CAROL, BOB])
    expect(data.likes.map((l) => l.createdAt)).toEqual([at(29), at(27), at(16)])
    expect(data.likes[2]!.actor).toMatchObject({ handle: 'bob.test', displayName: 'Bob', description: 'about Bob' })
    expect(data.likes[0]!.actor.handle).toBe('handle.invalid')
    expect(data.cursor).toBeUndefined()
  })

  it('pages through every like exactly once with limit 1', async () => {
    const seen: string[] = []
    let cursor: string | undefined
    let pages = 0
    do {
      const data = await likes({ uri: server.world.posts.a1.uri, limit: 1, cursor })
      seen.push(...data.likes.map((l) => l.actor.did))
      cursor = data.cursor
      pages++
    } while (cursor && pages < 10)
    expect(seen).toEqual([ERIN, CAROL, BOB])
  })

  it('filters by the subject CID when one is given', async () => {
    const { a1, a2 } = server.world.posts
    expect((await likes({ uri: a1.uri, cid: a1.cid })).likes).toHaveLength(3)
    const other = await likes({ uri: a1.uri, cid: a2.cid })
    expect(other).toEqual({ uri: a1.uri, cid: a2.cid, likes: [] })
  })

  it('answers 400 for a post that is not indexed', async () => {
    await expect(server.agent.app.bsky.feed.getLikes({ uri: `at://${ALICE}/${POST}/nope` })).rejects.toMatchObject({
      status: 400,
      error: 'InvalidRequest',
    })
  })

  it('answers 400 for a post by a takendown account', async () => {
    await expect(server.agent.app.bsky.feed.getLikes({ uri: server.world.posts.d1.uri })).rejects.toMatchObject({ status: 400 })
  })
})

describe('app.bsky.feed.getRepostedBy', () => {
  it('lists who reposted a post, most recent first, without takendown accounts', async () => {
    const data = await repostedBy({ uri: server.world.posts.a1.uri })
    expect(data.repostedBy.map((p) => p.did)).toEqual([CAROL, BOB])
    expect(data.cursor).toBeUndefined()
  })

  it('pages with limit 1 and covers every reposter once', async () => {
    const first = await repostedBy({ uri: server.world.posts.a1.uri, limit: 1 })
    const second = await repostedBy({ uri: server.world.posts.a1.uri, limit: 1, cursor: first.cursor })
    const third = await repostedBy({ uri: server.world.posts.a1.uri, limit: 1, cursor: second.cursor })
    expect([...first.repostedBy, ...second.repostedBy, ...third.repostedBy].map((p) => p.did)).toEqual([CAROL, BOB])
    expect(third.cursor).toBeUndefined()
  })

  it('resolves a handle in the AT-URI and answers with the DID form', async () => {
    const data = await repostedBy({ uri: `at://alice.test/${POST}/a2` })
    expect(data.uri).toBe(server.world.posts.a2.uri)
    expect(data.repostedBy.map((p) => p.did)).toEqual([BOB])
  })
})
