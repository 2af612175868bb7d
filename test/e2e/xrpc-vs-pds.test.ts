// The XRPC reads, called through AtpAgent against our server after a real backfill from Bluesky's reference PDS,
// answer exactly what the PDS's own repos hold: every expectation below is computed from dumpPdsRepos, never from
// the database we read through.
import { AtpAgent } from '@atproto/api'
import type { AppBskyFeedDefs } from '@atproto/api'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { parseConfig } from '../../server/config/index.js'
import { startSkyfill, type Skyfill } from '../../server/main.js'
import { testDatabase } from '../harness/db.js'
import { startPds, type PdsHandle } from '../harness/pds.js'
import { dumpPdsRepos, type PdsDump } from '../harness/pds-repos.js'
import { freePort, type TestDatabase } from '../harness/postgres.js'
import { COLLECTIONS, seedWorkload, type SeededAccount, type SeedSummary } from '../harness/seed.js'
import { pdsIdentityEnv, until } from '../support/backfill.js'

type Rec = { uri: string; cid: string; value: Record<string, unknown> }
type Ref = { uri: string; cid: string }

let pds: PdsHandle
let seeded: SeedSummary
let dump: PdsDump
let db: TestDatabase
let sky: Skyfill
let agent: AtpAgent
/**
 * A reply chain written on purpose: root ← r1 ← r2 ← r3, with two more replies to r1 (r2b, r2c, at the same instant)
 * and one to root (r1b); every account reposts the root and likes r1.
 */
let chain: Record<'root' | 'r1' | 'r2' | 'r3' | 'r1b' | 'r2b' | 'r2c', Ref>
/** What the PDS answered to an app.bsky read (it proxies them to an appview, and the harness runs none). */

const PAGE = 3 // small pages, so the lists (follows included: at most 5 a side among 6 accounts) are paginated

beforeAll(async () => {
  pds = await startPds()
  seeded = await seedWorkload(pds.url, { accounts: 6, actionsPerAccount: 60, seed: 2024, maxBatch: 12 })
  chain = await writeReplyChain(seeded)
  dump = await dumpPdsRepos(pds.url)
  db = await testDatabase()
  sky = await startSkyfill(
    parseConfig({
      DATABASE_URL: db.url,
      HOST: '127.0.0.1',
      PORT: String(await freePort()),
      RELAY_URL: pds.url,
      BACKFILL_DAYS: '-1',
      BACKFILL_PROFILE: 'max',
      FIREHOSE_ENABLED: 'false',
      ...pdsIdentityEnv(pds),
    }),
    () => {},
  )
  await sky.backfill.whenDone()
  expect(sky.backfill.getProgress()).toMatchObject({ state: 'complete', counts: { invalid: 0 } })
  // Handles are served once verified against the PDS and its PLC, not as the #identity events claimed them.
  await until(
    () => {
      const identity = sky.identity.progress()
      return identity.countedAt !== null && identity.due === 0 && identity.verified === seeded.dids.length
    },
    20_000,
    'every account to have its handle verified',
  )
  agent = new AtpAgent({ service: sky.url })
}, 120_000)

afterAll(async () => {
  await sky?.stop()
  await db?.drop()
  await pds?.stop()
})

// ---------------------------------------------------------------- the PDS's repos, as expectations

const records = (collection: string): Rec[] =>
  [...(dump.records.get(collection) ?? new Map())].map(([uri, r]) => ({ uri, cid: r.cid, value: r.value as Record<string, unknown> }))
const authorOf = (uri: string) => uri.split('/')[2]!
const createdAt = (r: Rec) => Date.parse(r.value.createdAt as string)
/** The order every list is served in: newest createdAt first, ties by URI (byte order). */
const newestFirst = (a: Rec, b: Rec) => createdAt(b) - createdAt(a) || (a.uri < b.uri ? -1 : a.uri > b.uri ? 1 : 0)
/** Replies are served oldest first, ties again by URI. */
const oldestFirst = (a: Rec, b: Rec) => createdAt(a) - createdAt(b) || (a.uri < b.uri ? -1 : a.uri > b.uri ? 1 : 0)
const subjectUri = (r: Rec) => (r.value.subject as Ref).uri
const postByUri = () => new Map(records(COLLECTIONS.post).map((p) => [p.uri, p]))
const replyParent = (p: Rec) => (p.value.reply as { parent?: Ref } | undefined)?.parent?.uri

/** Pages through an XRPC list to the end (each cursor must move on). */
async function allPages<T>(fetchPage: (cursor?: string) => Promise<{ cursor?: string; items: T[] }>): Promise<T[]> {
  const out: T[] = []
  let cursor: string | undefined
  for (let pages = 0; pages < 1000; pages++) {
    const page = await fetchPage(cursor)
    out.push(...page.items)
    if (!page.cursor) return out
    expect(page.cursor).not.toBe(cursor)
    cursor = page.cursor
  }
  throw new Error('more than 1000 pages')
}

async function writeReplyChain(s: SeedSummary): Promise<typeof chain> {
  const [a, b, c, d] = s.accounts
  const at = (minute: number) => new Date(Date.UTC(2025, 0, 1, 0, minute)).toISOString()
  const create = async (who: SeededAccount, collection: string, record: Record<string, unknown>): Promise<Ref> => {
    const res = await who.agent.com.atproto.repo.createRecord({ repo: who.did, collection, record: { $type: collection, ...record } })
    return { uri: res.data.uri, cid: res.data.cid }
  }
  const post = (who: SeededAccount, minute: number, text: string, parent?: Ref, root?: Ref) =>
    create(who, COLLECTIONS.post, { text, createdAt: at(minute), ...(parent ? { reply: { root: root ?? parent, parent } } : {}) })
  const root = await post(a!, 1, 'thread root')
  const r1 = await post(b!, 2, 'first reply', root)
  const r2 = await post(c!, 3, 'reply to the first reply', r1, root)
  const r3 = await post(a!, 4, 'third level', r2, root)
  const r1b = await post(d!, 5, 'another reply to the root', root)
  // Two later replies to r1 at the same instant: served by URI among themselves.
  const r2b = await post(a!, 6, 'a later reply to the first reply', r1, root)
  const r2c = await post(d!, 6, 'another one at the same time', r1, root)
  // A popular thread, with ties that pages must cut through: every account reposts the root at one instant (the
  // root's author also posts at that instant) and likes r1 at another.
  await post(a!, 10, 'posted as everyone reposts the root')
  for (const who of s.accounts) {
    await create(who, COLLECTIONS.repost, { subject: root, createdAt: at(10) })
    await create(who, COLLECTIONS.like, { subject: r1, createdAt: at(11) })
  }
  return { root, r1, r2, r3, r1b, r2b, r2c }
}

// ---------------------------------------------------------------- the tests

describe('XRPC reads after a backfill from the reference PDS', () => {
  it('getProfile gives every account the follower, follow and post counts and the profile its repo holds', async () => {
    const follows = records(COLLECTIONS.follow)
    const posts = records(COLLECTIONS.post)
    for (const did of seeded.dids) {
      const { data } = await agent.getProfile({ actor: did })
      const profile = dump.records.get(COLLECTIONS.profile)?.get(`at://${did}/${COLLECTIONS.profile}/self`)?.value as
        | Record<string, unknown>
        | undefined
      expect({
        did: data.did,
        handle: data.handle,
        followersCount: data.followersCount,
        followsCount: data.followsCount,
        postsCount: data.postsCount,
        displayName: data.displayName,
        description: data.description,
      }).toEqual({
        did,
        handle: dump.handles.get(did),
        followersCount: follows.filter((f) => f.value.subject === did).length,
        followsCount: follows.filter((f) => authorOf(f.uri) === did).length,
        postsCount: posts.filter((p) => authorOf(p.uri) === did).length,
        displayName: profile?.displayName,
        description: profile?.description,
      })
    }
    // The same answer by handle.
    const first = seeded.accounts[0]!
    expect((await agent.getProfile({ actor: first.handle })).data.did).toBe(first.did)
  })

  it("getAuthorFeed, paged to the end, is exactly the account's posts and reposts, newest first", async () => {
    const posts = postByUri()
    let repostsOfDeleted = 0
    let repostItems = 0
    for (const did of seeded.dids) {
      const own = records(COLLECTIONS.post).filter((p) => authorOf(p.uri) === did)
      // A repost of a post that no longer exists has nothing to show: it is left out, as Bluesky's appview does.
      const reposts = records(COLLECTIONS.repost).filter((r) => authorOf(r.uri) === did)
      const shown = reposts.filter((r) => posts.has(subjectUri(r)))
      repostsOfDeleted += reposts.length - shown.length
      const expected = [...own, ...shown].sort(newestFirst).map((r) => r.uri)

      const items = await allPages(async (cursor) => {
        const { data } = await agent.getAuthorFeed({ actor: did, limit: PAGE, cursor })
        return { cursor: data.cursor, items: data.feed }
      })
      const uris = items.map((i) => ((i.reason as AppBskyFeedDefs.ReasonRepost | undefined)?.uri ?? i.post.uri) as string)
      expect(uris).toEqual(expected)
      // Each repost item shows the reposted post, and each post item is one of the account's own.
      for (const item of items) {
        const reason = item.reason as AppBskyFeedDefs.ReasonRepost | undefined
        if (reason) repostItems++
        if (reason) expect(item.post.uri).toBe(subjectUri(records(COLLECTIONS.repost).find((r) => r.uri === reason.uri)!))
        else expect(item.post.author.did).toBe(did)
        expect(item.post.cid).toBe(posts.get(item.post.uri)!.cid)
      }
    }
    // Both kinds of item were served, and the workload did delete reposted posts, so the rule above was exercised.
    expect(repostItems).toBeGreaterThan(0)
    expect(repostsOfDeleted).toBeGreaterThan(0)
  })

  it("getFollowers and getFollows list exactly the repos' follow records, most recent first", async () => {
    const follows = records(COLLECTIONS.follow).sort(newestFirst)
    for (const did of seeded.dids) {
      const followers = await allPages(async (cursor) => {
        const { data } = await agent.app.bsky.graph.getFollowers({ actor: did, limit: PAGE, cursor })
        expect(data.subject.did).toBe(did)
        return { cursor: data.cursor, items: data.followers.map((p) => p.did) }
      })
      expect(followers).toEqual(follows.filter((f) => f.value.subject === did).map((f) => authorOf(f.uri)))

      const following = await allPages(async (cursor) => {
        const { data } = await agent.app.bsky.graph.getFollows({ actor: did, limit: PAGE, cursor })
        expect(data.subject.did).toBe(did)
        return { cursor: data.cursor, items: data.follows.map((p) => p.did) }
      })
      expect(following).toEqual(follows.filter((f) => authorOf(f.uri) === did).map((f) => f.value.subject as string))
    }
  })

  it("getLikes and getRepostedBy list exactly the repos' likes and reposts of a post, most recent first", async () => {
    const likes = records(COLLECTIONS.like).sort(newestFirst)
    const reposts = records(COLLECTIONS.repost).sort(newestFirst)
    // Of posts that still exist: the server answers "Post not found" for a deleted post, likes or not.
    const live = postByUri()
    const countBy = (rs: Rec[]) => {
      const m = new Map<string, number>()
      for (const r of rs) if (live.has(subjectUri(r))) m.set(subjectUri(r), (m.get(subjectUri(r)) ?? 0) + 1)
      return [...m].sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1))
    }
    // The most liked and most reposted posts (several pages each), and a post nobody liked or reposted.
    const mostLiked = countBy(likes).slice(0, 5).map(([uri]) => uri)
    const mostReposted = countBy(reposts).slice(0, 5).map(([uri]) => uri)
    const quiet = records(COLLECTIONS.post).find((p) => !likes.some((l) => subjectUri(l) === p.uri) && !reposts.some((r) => subjectUri(r) === p.uri))!
    // Pages of 2 make the longest lists (6 likes of r1, 6 reposts of the root, each at one instant) several pages long.
    const small = 2
    expect(countBy(likes)[0]![1]).toBeGreaterThan(small)
    expect(countBy(reposts)[0]![1]).toBeGreaterThan(small)

    for (const uri of [...mostLiked, quiet.uri]) {
      const likers = await allPages(async (cursor) => {
        const { data } = await agent.app.bsky.feed.getLikes({ uri, limit: small, cursor })
        expect(data.uri).toBe(uri)
        return { cursor: data.cursor, items: data.likes.map((l) => [l.actor.did, l.createdAt]) }
      })
      expect(likers).toEqual(likes.filter((l) => subjectUri(l) === uri).map((l) => [authorOf(l.uri), l.value.createdAt]))
    }
    for (const uri of [...mostReposted, quiet.uri]) {
      const reposters = await allPages(async (cursor) => {
        const { data } = await agent.app.bsky.feed.getRepostedBy({ uri, limit: small, cursor })
        expect(data.uri).toBe(uri)
        return { cursor: data.cursor, items: data.repostedBy.map((p) => p.did) }
      })
      expect(reposters).toEqual(reposts.filter((r) => subjectUri(r) === uri).map((r) => authorOf(r.uri)))
    }
  })

  it('getPostThread of a reply chain has the parents and replies the repos hold', async () => {
    // By hand, for the chain written on purpose: r1 sits under the root and has r2 (with r3 under it), then r2b and
    // r2c (same createdAt, so in URI order).
    const { data } = await agent.getPostThread({ uri: chain.r1.uri })
    expect(threadShape(data.thread, 0)).toEqual({
      uri: chain.r1.uri,
      parent: { uri: chain.root.uri },
      replies: [
        { uri: chain.r2.uri, replies: [{ uri: chain.r3.uri, replies: [] }] },
        ...[chain.r2b.uri, chain.r2c.uri].sort().map((uri) => ({ uri, replies: [] })),
      ],
    })
    // And from the dump, for every post of that chain and the seeded replies with the longest parent chains.
    const posts = postByUri()
    const height = (uri: string): number => {
      const parent = replyParent(posts.get(uri)!)
      return parent && posts.has(parent) ? 1 + height(parent) : parent ? 1 : 0
    }
    const seededDeepest = [...posts.keys()].sort((a, b) => height(b) - height(a)).slice(0, 5)
    expect(height(seededDeepest[0]!)).toBeGreaterThanOrEqual(2)
    for (const uri of [...Object.values(chain).map((r) => r.uri), ...seededDeepest]) {
      const { data } = await agent.getPostThread({ uri })
      expect(threadShape(data.thread, 0), uri).toEqual(expectedThread(posts, uri))
      if (data.thread.$type === 'app.bsky.feed.defs#threadViewPost') {
        expect((data.thread as AppBskyFeedDefs.ThreadViewPost).post.record).toEqual(posts.get(uri)!.value)
      }
    }
  })
})

// ---------------------------------------------------------------- threads, reduced to their shape

type Shape = { uri?: string; notFound?: string; parent?: Shape; replies?: Shape[] }

const DEPTH = 6 // getPostThread's default depth

/** The served thread reduced to URIs: parents (up the chain) and replies (down to DEPTH). */
function threadShape(node: unknown, level: number): Shape {
  const n = node as { $type: string; uri?: string; post?: { uri: string }; parent?: unknown; replies?: unknown[] }
  if (n.$type === 'app.bsky.feed.defs#notFoundPost') return { notFound: n.uri! }
  if (n.$type !== 'app.bsky.feed.defs#threadViewPost') throw new Error(`unexpected thread node ${n.$type}`)
  const out: Shape = { uri: n.post!.uri }
  if (n.parent !== undefined && level <= 0) out.parent = threadShape(n.parent, level - 1)
  if (n.replies !== undefined && level >= 0) out.replies = n.replies.map((r) => threadShape(r, level + 1))
  return out
}

/** The same, from the dump: the parent chain to the root (a deleted parent ends it), replies oldest first. */
function expectedThread(posts: Map<string, Rec>, uri: string): Shape {
  const parentOf = (u: string): Shape | undefined => {
    const parent = replyParent(posts.get(u)!)
    if (!parent) return undefined
    if (!posts.has(parent)) return { notFound: parent }
    const up = parentOf(parent)
    return up ? { uri: parent, parent: up } : { uri: parent }
  }
  const children = (u: string) => [...posts.values()].filter((p) => replyParent(p) === u).sort(oldestFirst)
  const down = (u: string, level: number): Shape => {
    const node: Shape = { uri: u }
    if (level < DEPTH) node.replies = children(u).map((c) => down(c.uri, level + 1))
    return node
  }
  const top: Shape = { uri }
  const parent = parentOf(uri)
  if (parent) top.parent = parent
  top.replies = children(uri).map((c) => down(c.uri, 1))
  return top
}
