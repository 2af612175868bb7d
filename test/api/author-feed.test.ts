// app.bsky.feed.getAuthorFeed through AtpAgent, against the standard world.
import { lexicons, type AppBskyFeedDefs } from '@atproto/api'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { ALICE, BOB, DAVE, Fixture, POST, at, blob, did, startWorld, type TestServer, type World } from './fixture.js'

let server: TestServer & { world: World }

beforeAll(async () => {
  server = await startWorld()
})

afterAll(async () => {
  await server?.close()
})

type Params = { actor: string; limit?: number; cursor?: string; filter?: string; includePins?: boolean }

async function feed(params: Params) {
  const { data } = await server.agent.app.bsky.feed.getAuthorFeed(params)
  lexicons.assertValidXrpcOutput('app.bsky.feed.getAuthorFeed', data)
  return data
}

/** Every page, following cursors, until the server gives none. */
async function allPages(params: Params): Promise<{ pages: AppBskyFeedDefs.FeedViewPost[][] }> {
  const pages: AppBskyFeedDefs.FeedViewPost[][] = []
  let cursor: string | undefined
  do {
    const data = await feed({ ...params, cursor })
    pages.push(data.feed)
    cursor = data.cursor
    if (pages.length > 50) throw new Error('pagination did not end')
  } while (cursor)
  return { pages }
}

/** Feed items as compact strings: the post's rkey, prefixed with 'repost:' for reposts. */
const keys = (items: AppBskyFeedDefs.FeedViewPost[]) =>
  items.map((i) => `${i.reason?.$type === 'app.bsky.feed.defs#reasonRepost' ? 'repost:' : ''}${i.post.uri.split('/').pop()}`)

// Alice's items by createdAt, newest first: repost of b2 (65), a6/a7 (60, tie broken by URI), a5 (50), a4 (40),
// ar (35), a3 (30), a2 (20), a1 (10).
const ALICE_FEED = ['repost:b2', 'a6', 'a7', 'a5', 'a4', 'ar', 'a3', 'a2', 'a1']

describe('app.bsky.feed.getAuthorFeed', () => {
  it("returns alice's posts and reposts newest first, ties in URI order", async () => {
    const data = await feed({ actor: ALICE })
    expect(keys(data.feed)).toEqual(ALICE_FEED)
    expect(data.cursor).toBeUndefined()
  })

  it('gives each post its author, record, counts and indexedAt', async () => {
    const { a1 } = server.world.posts
    const data = await feed({ actor: ALICE })
    const item = data.feed.find((i) => i.post.uri === a1.uri)!
    expect(item.post).toMatchObject({
      uri: a1.uri,
      cid: a1.cid,
      author: { did: ALICE, handle: 'alice.test', displayName: 'Alice' },
      record: { $type: POST, text: 'hello world', createdAt: at(10) },
      // b1 (dave's d1 is hidden); bob and carol reposted, dave hidden; bob, carol, erin liked, dave hidden
      replyCount: 1,
      repostCount: 2,
      likeCount: 3,
    })
    expect(item.post.indexedAt).toMatch(/Z$/)
    expect(item.post.author.avatar).toContain(blob('alice-avatar').ref.toString())
  })

  it('marks a repost with reasonRepost by the reposter, and serves the reposted post', async () => {
    const data = await feed({ actor: ALICE })
    const item = data.feed[0]!
    expect(item.post.uri).toBe(server.world.posts.b2.uri)
    expect(item.post.author.did).toBe(BOB)
    expect(item.reason).toEqual({
      $type: 'app.bsky.feed.defs#reasonRepost',
      by: expect.objectContaining({ did: ALICE, handle: 'alice.test' }),
      uri: server.world.reposts.aliceB2.uri,
      cid: server.world.reposts.aliceB2.cid,
      indexedAt: expect.stringMatching(/Z$/),
    })
  })

  it('gives a reply its root and parent', async () => {
    const { a1, c1, ar } = server.world.posts
    const data = await feed({ actor: ALICE })
    const item = data.feed.find((i) => i.post.uri === ar.uri)!
    expect(item.reply?.root).toMatchObject({ $type: 'app.bsky.feed.defs#postView', uri: a1.uri })
    expect(item.reply?.parent).toMatchObject({ $type: 'app.bsky.feed.defs#postView', uri: c1.uri })
  })

  it('serves embeds as views: images, external links, and a quoted post with media', async () => {
    const { a2, a3, a4, b2 } = server.world.posts
    const data = await feed({ actor: ALICE })
    const post = (uri: string) => data.feed.find((i) => i.post.uri === uri)!.post
    const image = blob('a3-image').ref.toString()
    expect(post(a3.uri).embed).toEqual({
      $type: 'app.bsky.embed.images#view',
      images: [
        {
          thumb: `https://cdn.bsky.app/img/feed_thumbnail/plain/${ALICE}/${image}@jpeg`,
          fullsize: `https://cdn.bsky.app/img/feed_fullsize/plain/${ALICE}/${image}@jpeg`,
          alt: 'a cat',
          aspectRatio: { width: 4, height: 3 },
        },
      ],
    })
    expect(post(a4.uri).embed).toMatchObject({
      $type: 'app.bsky.embed.external#view',
      external: { uri: 'https://example.com/', title: 'Example', description: 'An example' },
    })
    expect(post(b2.uri).embed).toMatchObject({
      $type: 'app.bsky.embed.recordWithMedia#view',
      record: { record: { $type: 'app.bsky.embed.record#viewRecord', uri: a2.uri, cid: a2.cid, author: { did: ALICE } } },
      media: { $type: 'app.bsky.embed.images#view' },
    })
  })

  it("turns a post's self-labels into labels", async () => {
    const { a2 } = server.world.posts
    const data = await feed({ actor: ALICE })
    const post = data.feed.find((i) => i.post.uri === a2.uri)!.post
    expect(post.labels).toEqual([{ src: ALICE, uri: a2.uri, cid: a2.cid, val: 'sexual', cts: at(20) }])
  })

  it('pages through every item exactly once, in order, with limit 2', async () => {
    const { pages } = await allPages({ actor: ALICE, limit: 2 })
    expect(pages.map((p) => p.length)).toEqual([2, 2, 2, 2, 1])
    expect(keys(pages.flat())).toEqual(ALICE_FEED)
  })

  it('gives no cursor when a page ends the feed exactly', async () => {
    const first = await feed({ actor: ALICE, limit: 8 })
    const second = await feed({ actor: ALICE, limit: 8, cursor: first.cursor })
    expect(keys(second.feed)).toEqual(['a1'])
    expect(second.cursor).toBeUndefined()
  })

  it('leaves reposts of posts by takendown actors out', async () => {
    const data = await feed({ actor: BOB })
    expect(keys(data.feed)).toEqual(['repost:a2', 'b2', 'repost:a1', 'b1'])
    expect(data.feed.some((i) => i.post.author.did === DAVE)).toBe(false)
  })

  it('leaves replies out with filter posts_no_replies', async () => {
    const data = await feed({ actor: ALICE, filter: 'posts_no_replies' })
    expect(keys(data.feed)).toEqual(ALICE_FEED.filter((k) => k !== 'ar'))
  })

  it('keeps only posts with images or video with filter posts_with_media', async () => {
    const data = await feed({ actor: ALICE, filter: 'posts_with_media' })
    expect(keys(data.feed)).toEqual(['a3'])
  })

  it("keeps top-level posts and replies within alice's own threads with filter posts_and_author_threads", async () => {
    // ar replies to carol's c1 in a thread alice started: the parent is not alice's, so it is left out
    const data = await feed({ actor: ALICE, filter: 'posts_and_author_threads' })
    expect(keys(data.feed)).toEqual(ALICE_FEED.filter((k) => k !== 'ar'))
  })

  it('treats an unknown filter value as the default', async () => {
    const data = await feed({ actor: ALICE, filter: 'posts_from_the_future' })
    expect(keys(data.feed)).toEqual(ALICE_FEED)
  })

  it('puts the pinned post first with reasonPin when includePins is set', async () => {
    const data = await feed({ actor: ALICE, includePins: true, limit: 3 })
    expect(keys(data.feed)).toEqual(['a1', 'repost:b2', 'a6', 'a7'])
    expect(data.feed[0]!.reason).toEqual({ $type: 'app.bsky.feed.defs#reasonPin' })
  })

  it('accepts a handle for actor', async () => {
    const data = await feed({ actor: 'alice.test', limit: 1 })
    expect(keys(data.feed)).toEqual(['repost:b2'])
  })

  it('answers 400 "Profile not found" for a takendown actor', async () => {
    await expect(server.agent.app.bsky.feed.getAuthorFeed({ actor: DAVE })).rejects.toMatchObject({
      status: 400,
      error: 'InvalidRequest',
      message: 'Profile not found',
    })
  })

  it('shows a quoted post by a takendown account as viewNotFound', async () => {
    const kim = did('kim')
    const fx = new Fixture()
    const { d1 } = server.world.posts
    fx.post(kim, 'k1', 'quoting a hidden post', {
      createdAt: at(500),
      embed: { $type: 'app.bsky.embed.record', record: { uri: d1.uri, cid: d1.cid } },
    })
    await fx.write(server.db.url)
    const data = await feed({ actor: kim })
    expect(data.feed[0]!.post.embed).toEqual({
      $type: 'app.bsky.embed.record#view',
      record: { $type: 'app.bsky.embed.record#viewNotFound', uri: d1.uri, notFound: true },
    })
  })

  it('keeps pages stable when posts are inserted between them: nothing repeated, nothing skipped', async () => {
    const henry = did('henry')
    const fx = new Fixture()
    fx.handle(henry, 'henry.test')
    const originals = [1, 2, 3, 4, 5].map((n) => fx.post(henry, `h${n}`, `post ${n}`, { createdAt: at(100 + n) }))
    await fx.write(server.db.url)

    const first = await feed({ actor: henry, limit: 2 })
    expect(keys(first.feed)).toEqual(['h5', 'h4'])
    // New posts land at the top (newer) and one exactly at the cursor's time, before its URI.
    const later = new Fixture()
    later.post(henry, 'h9', 'newest', { createdAt: at(200) })
    later.post(henry, 'h0', 'same time as h4', { createdAt: at(104) })
    await later.write(server.db.url)

    const rest: string[] = []
    let cursor = first.cursor
    while (cursor) {
      const page = await feed({ actor: henry, limit: 2, cursor })
      rest.push(...keys(page.feed))
      cursor = page.cursor
    }
    expect(rest).toEqual(['h3', 'h2', 'h1'])
    expect([...keys(first.feed), ...rest].sort()).toEqual(originals.map((o) => o.rkey).sort())
  })
})
