// app.bsky.feed.getPostThread: a post with its parent chain (up to parentHeight) and its replies (down to depth),
// as nested threadViewPost. A parent that is not served ends the chain as notFoundPost; replies by accounts not
// served are left out with their subtrees. Replies are oldest first. At most MAX_REPLIES replies are loaded, the
// shallowest first, however deep the request.
import type { $Typed, AppBskyFeedDefs } from '@atproto/api'
import { ApiError, integer, recordUri } from '../params.js'
import { authorityDid, POST_COLLECTION, servedSql } from './data.js'
import { hydratePosts, type PostViews } from './hydrate.js'
import type { XrpcQuery } from './method.js'
import { notFoundPost } from './views.js'

export const MAX_REPLIES = 1000

const PARENTS_SQL = `
  WITH RECURSIVE chain(uri, reply_parent, height) AS (
    SELECT p.uri, p.reply_parent, 0 FROM posts p WHERE p.uri = $1
    UNION ALL
    SELECT p.uri, p.reply_parent, c.height + 1
      FROM chain c
      JOIN posts p ON p.uri = c.reply_parent
      JOIN actors a ON a.did = p.did
     WHERE c.height < $2 AND ${servedSql('a')}
  )
  SELECT uri, reply_parent, height FROM chain ORDER BY height`

// No ORDER BY: Postgres then stops the recursion once LIMIT rows are out, and the rows come level by level.
const REPLIES_SQL = `
  WITH RECURSIVE tree(uri, parent, depth, created_at) AS (
    SELECT p.uri, p.reply_parent, 1, p.created_at
      FROM posts p JOIN actors a ON a.did = p.did
     WHERE p.reply_parent = $1 AND ${servedSql('a')}
    UNION ALL
    SELECT p.uri, p.reply_parent, t.depth + 1, p.created_at
      FROM tree t
      JOIN posts p ON p.reply_parent = t.uri
      JOIN actors a ON a.did = p.did
     WHERE t.depth < $2 AND ${servedSql('a')}
  )
  SELECT uri, parent, created_at FROM tree LIMIT $3`

type Thread = $Typed<AppBskyFeedDefs.ThreadViewPost> | $Typed<AppBskyFeedDefs.NotFoundPost>

export const getPostThread: XrpcQuery = {
  nsid: 'app.bsky.feed.getPostThread',
  async handler(ctx, query) {
    const uri = recordUri(query, 'uri')
    const depth = integer(query, 'depth', { min: 0, max: 1000, fallback: 6 })
    const parentHeight = integer(query, 'parentHeight', { min: 0, max: 1000, fallback: 80 })
    const did = await authorityDid(ctx.pool, uri.authority)
    const asked = query.uri as string
    const notFound = () => new ApiError(400, 'NotFound', `Post not found: ${asked}`)
    if (did === null || uri.collection !== POST_COLLECTION) throw notFound()
    const anchor = `at://${did}/${POST_COLLECTION}/${uri.rkey}`

    const parents = await ctx.pool.query<{ uri: string; reply_parent: string | null; height: number }>(PARENTS_SQL, [anchor, parentHeight])
    if (parents.rows.length === 0) throw notFound()
    const replies =
      depth > 0
        ? (await ctx.pool.query<{ uri: string; parent: string; created_at: Date }>(REPLIES_SQL, [anchor, depth, MAX_REPLIES])).rows
        : []
    const views = await hydratePosts(ctx, [...parents.rows.map((r) => r.uri), ...replies.map((r) => r.uri)])
    const post = views.get(anchor)
    if (!post) throw notFound()

    const children = new Map<string, { uri: string; at: number }[]>()
    for (const r of replies) {
      const list = children.get(r.parent) ?? []
      list.push({ uri: r.uri, at: r.created_at.getTime() })
      children.set(r.parent, list)
    }
    for (const list of children.values()) list.sort((a, b) => a.at - b.at || (a.uri < b.uri ? -1 : a.uri > b.uri ? 1 : 0))

    const thread: $Typed<AppBskyFeedDefs.ThreadViewPost> = { $type: 'app.bsky.feed.defs#threadViewPost', post }
    const parent = parentChain(views, parents.rows, parentHeight)
    if (parent) thread.parent = parent
    if (depth > 0) thread.replies = replyNodes(views, children, anchor, 1, depth)
    return { thread }
  },
}

/** The anchor's parent as a chain of threadViewPost (each with its own parent), ending in notFoundPost if broken. */
function parentChain(views: PostViews, chain: { uri: string; reply_parent: string | null; height: number }[], parentHeight: number): Thread | undefined {
  // chain[h] is the ancestor h levels up (0 = the anchor); it stops at the first ancestor not found or not served.
  let top: Thread | undefined
  const last = chain[chain.length - 1]!
  if (last.reply_parent !== null && last.height < parentHeight) top = notFoundPost(last.reply_parent)
  for (let h = chain.length - 1; h >= 1; h--) {
    const view = views.get(chain[h]!.uri)
    if (!view) {
      top = notFoundPost(chain[h]!.uri)
      continue
    }
    const node: $Typed<AppBskyFeedDefs.ThreadViewPost> = { $type: 'app.bsky.feed.defs#threadViewPost', post: view }
    if (top) node.parent = top
    top = node
  }
  return top
}

function replyNodes(views: PostViews, children: Map<string, { uri: string }[]>, parent: string, level: number, depth: number): Thread[] {
  const out: Thread[] = []
  for (const child of children.get(parent) ?? []) {
    const view = views.get(child.uri)
    if (!view) continue
    const node: $Typed<AppBskyFeedDefs.ThreadViewPost> = { $type: 'app.bsky.feed.defs#threadViewPost', post: view }
    if (level < depth) node.replies = replyNodes(views, children, child.uri, level + 1, depth)
    out.push(node)
  }
  return out
}
