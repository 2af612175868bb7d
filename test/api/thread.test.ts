// app.bsky.feed.getPostThread through AtpAgent, against the standard world.
import { lexicons } from '@atproto/api'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { ALICE, Fixture, POST, at, did, startWorld, type TestServer, type World } from './fixture.js'

let server: TestServer & { world: World }

beforeAll(async () => {
  server = await startWorld()
})

afterAll(async () => {
  await server?.close()
})

async function thread(params: { uri: string; depth?: number; parentHeight?: number }) {
  const { data } = await server.agent.app.bsky.feed.getPostThread(params)
  lexicons.assertValidXrpcOutput('app.bsky.feed.getPostThread', data)
  return data.thread
}

type Node = { $type?: string; post?: { uri: string }; uri?: string; parent?: Node; replies?: Node[] }

/** A thread's shape as rkeys: replies nested, 'notFound:<rkey>' for notFoundPost. */
function shape(node: Node): unknown {
  if (node.$type === 'app.bsky.feed.defs#notFoundPost') return `notFound:${node.uri!.split('/').pop()}`
  const key = node.post!.uri.split('/').pop()!
  return node.replies === undefined ? key : { [key]: node.replies.map(shape) }
}

/** The parent chain as rkeys, nearest first. */
function parents(node: Node): string[] {
  const out: string[] = []
  for (let p = node.parent; p; p = p.parent) {
    out.push(p.$type === 'app.bsky.feed.defs#notFoundPost' ? `notFound:${p.uri!.split('/').pop()}` : p.post!.uri.split('/').pop()!)
  }
  return out
}

describe('app.bsky.feed.getPostThread', () => {
  it('nests the replies of a root post, leaving out those by takendown accounts', async () => {
    const t = (await thread({ uri: server.world.posts.a1.uri })) as Node
    expect(t.$type).toBe('app.bsky.feed.defs#threadViewPost')
    expect(t.parent).toBeUndefined()
    // d1 (dave, takendown) is left out
    expect(shape(t)).toEqual({ a1: [{ b1: [{ c1: [{ ar: [] }] }] }] })
  })

  it('stops at the requested depth, leaving replies unset below it', async () => {
    const t = (await thread({ uri: server.world.posts.a1.uri, depth: 1 })) as Node
    expect(shape(t)).toEqual({ a1: ['b1'] })
  })

  it('gives no replies with depth 0', async () => {
    const t = (await thread({ uri: server.world.posts.a1.uri, depth: 0 })) as Node
    expect(shape(t)).toBe('a1')
  })

  it('walks the parent chain of a reply up to the root', async () => {
    const t = (await thread({ uri: server.world.posts.ar.uri })) as Node
    expect(parents(t)).toEqual(['c1', 'b1', 'a1'])
    expect(shape(t)).toEqual({ ar: [] })
  })

  it('limits the parent chain to parentHeight', async () => {
    const t = (await thread({ uri: server.world.posts.ar.uri, parentHeight: 2 })) as Node
    expect(parents(t)).toEqual(['c1', 'b1'])
  })

  it('ends the parent chain with notFoundPost when the parent was never indexed', async () => {
    const t = (await thread({ uri: server.world.posts.c2.uri })) as Node
    expect(t.parent).toEqual({ $type: 'app.bsky.feed.defs#notFoundPost', uri: `at://${did('zed')}/${POST}/gone`, notFound: true })
  })

  it('serves each post with its counts: replies by served accounts only', async () => {
    const t = await thread({ uri: server.world.posts.a1.uri, depth: 0 })
    expect(t).toMatchObject({ post: { uri: server.world.posts.a1.uri, replyCount: 1, repostCount: 2, likeCount: 3 } })
  })

  it('resolves a handle in the AT-URI', async () => {
    const t = (await thread({ uri: `at://alice.test/${POST}/a1`, depth: 0 })) as Node
    expect(t.post!.uri).toBe(server.world.posts.a1.uri)
  })

  it('answers 400 NotFound for a post that is not indexed', async () => {
    const uri = `at://${ALICE}/${POST}/nope`
    await expect(server.agent.app.bsky.feed.getPostThread({ uri })).rejects.toMatchObject({
      status: 400,
      error: 'NotFound',
      message: `Post not found: ${uri}`,
    })
  })

  it('answers 400 NotFound for a post by a takendown account', async () => {
    await expect(server.agent.app.bsky.feed.getPostThread({ uri: server.world.posts.d1.uri })).rejects.toMatchObject({
      status: 400,
      error: 'NotFound',
    })
  })

  it('ends the parent chain with notFoundPost at a parent by a takendown account', async () => {
    const ivy = did('ivy')
    const fx = new Fixture()
    fx.handle(ivy, 'ivy.test')
    const { d1, a1 } = server.world.posts
    const reply = fx.reply(ivy, 'i1', 'reply to a hidden post', a1, d1, at(300))
    await fx.write(server.db.url)
    const t = (await thread({ uri: reply.uri })) as Node
    expect(t.parent).toEqual({ $type: 'app.bsky.feed.defs#notFoundPost', uri: d1.uri, notFound: true })
  })

  it('orders replies oldest first', async () => {
    const jo = did('jo')
    const fx = new Fixture()
    const root = fx.post(jo, 'root', 'root', { createdAt: at(400) })
    fx.reply(jo, 'r3', 'third', root, root, at(403))
    fx.reply(jo, 'r1', 'first', root, root, at(401))
    fx.reply(jo, 'r2', 'second', root, root, at(402))
    await fx.write(server.db.url)
    const t = (await thread({ uri: root.uri })) as Node
    expect(shape(t)).toEqual({ root: [{ r1: [] }, { r2: [] }, { r3: [] }] })
  })
})
