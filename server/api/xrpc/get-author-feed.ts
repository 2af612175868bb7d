// app.bsky.feed.getAuthorFeed: an actor's posts and reposts, newest first (by the record's createdAt), with keyset
// pagination. Reposts carry reason#reasonRepost; replies carry their reply context; with includePins, the pinned
// post leads the first page with reason#reasonPin.
import type { AppBskyFeedDefs } from '@atproto/api'
import { atIdentifier, boolean, limit as limitParam, optionalString } from '../params.js'
import { afterCursorSql, cursorParam, nextCursor, sortKeySql } from './cursor.js'
import { POST_COLLECTION, PROFILE_COLLECTION, resolveActor } from './data.js'
import { profileNotFound } from './get-profile.js'
import { basicView, hydratePosts, replyRef } from './hydrate.js'
import type { XrpcQuery } from './method.js'

const IMAGES = `'app.bsky.embed.images', 'app.bsky.embed.images#main'`
const VIDEO = `'app.bsky.embed.video', 'app.bsky.embed.video#main'`
const WITH_MEDIA = `'app.bsky.embed.recordWithMedia', 'app.bsky.embed.recordWithMedia#main'`
const EMBED = `p.record->'embed'->>'$type'`
const MEDIA = `p.record->'embed'->'media'->>'$type'`

/** Per filter: which posts (a constant SQL condition on posts p, $1 being the author) and whether reposts count. */
const FILTERS: Record<string, { posts: string; reposts: boolean }> = {
  posts_with_replies: { posts: 'TRUE', reposts: true },
  posts_no_replies: { posts: 'p.reply_parent IS NULL', reposts: true },
  posts_with_media: {
    posts: `(${EMBED} IN (${IMAGES}, ${VIDEO}) OR (${EMBED} IN (${WITH_MEDIA}) AND ${MEDIA} IN (${IMAGES}, ${VIDEO})))`,
    reposts: false,
  },
  posts_with_video: {
    posts: `(${EMBED} IN (${VIDEO}) OR (${EMBED} IN (${WITH_MEDIA}) AND ${MEDIA} IN (${VIDEO})))`,
    reposts: false,
  },
  posts_and_author_threads: {
    posts: `(p.reply_parent IS NULL OR (starts_with(p.reply_root, 'at://' || $1 || '/') AND starts_with(p.reply_parent, 'at://' || $1 || '/')))`,
    reposts: true,
  },
}

const sqlCache = new Map<string, string>()

function feedSql(filter: string): string {
  const cached = sqlCache.get(filter)
  if (cached) return cached
  const f = FILTERS[filter]!
  const sql = `
    SELECT i.kind, i.uri, i.cid, i.post_uri, i.indexed_at, i.reply_parent, i.reply_root, ${sortKeySql('i.ts')} AS sort_key
      FROM (
        (SELECT 'post' AS kind, p.uri, p.cid, p.uri AS post_uri, p.indexed_at, p.reply_parent, p.reply_root, p.sort_at AS ts
           FROM posts p
          WHERE p.did = $1 AND ${afterCursorSql('p.sort_at', 'p.uri', 2, 3)} AND ${f.posts}
          ORDER BY p.sort_at DESC, p.uri ASC
          LIMIT $4)
        UNION ALL
        (SELECT 'repost', r.uri, r.cid, r.subject_uri, r.indexed_at, sp.reply_parent, sp.reply_root, r.sort_at
           FROM reposts r
           LEFT JOIN posts sp ON sp.uri = r.subject_uri
          WHERE r.did = $1 AND ${afterCursorSql('r.sort_at', 'r.uri', 2, 3)} AND ${f.reposts ? 'TRUE' : 'FALSE'}
          ORDER BY r.sort_at DESC, r.uri ASC
          LIMIT $4)
      ) i
     ORDER BY i.ts DESC, i.uri ASC
     LIMIT $4`
  sqlCache.set(filter, sql)
  return sql
}

type Row = {
  kind: 'post' | 'repost'
  uri: string
  cid: string
  post_uri: string
  indexed_at: Date
  reply_parent: string | null
  reply_root: string | null
  sort_key: string
}

export const getAuthorFeed: XrpcQuery = {
  nsid: 'app.bsky.feed.getAuthorFeed',
  async handler(ctx, query) {
    const actor = atIdentifier(query, 'actor')
    const limit = limitParam(query)
    const cursor = cursorParam(query)
    // filter's values are open-ended (knownValues): one this server does not know gets the default.
    const requested = optionalString(query, 'filter', 64) ?? 'posts_with_replies'
    const filter = Object.hasOwn(FILTERS, requested) ? requested : 'posts_with_replies'
    const includePins = boolean(query, 'includePins', false)

    const did = await resolveActor(ctx.pool, actor)
    if (did === null) throw profileNotFound()
    const { rows } = await ctx.pool.query<Row>(feedSql(filter), [did, cursor?.at ?? null, cursor?.uri ?? null, limit])

    let pinned: string | null = null
    if (includePins && cursor === null) {
      const result = await ctx.pool.query<{ uri: string | null }>(
        `SELECT record->'pinnedPost'->>'uri' AS uri FROM profiles WHERE uri = $1`,
        [`at://${did}/${PROFILE_COLLECTION}/self`],
      )
      const uri = result.rows[0]?.uri ?? null
      pinned = uri !== null && uri.startsWith(`at://${did}/${POST_COLLECTION}/`) ? uri : null
    }

    const uris = rows.flatMap((r) => [r.post_uri, r.reply_parent, r.reply_root]).filter((u): u is string => u !== null)
    const views = await hydratePosts(ctx, pinned ? [pinned, ...uris] : uris, [did])
    const feed: AppBskyFeedDefs.FeedViewPost[] = []
    if (pinned) {
      const post = views.get(pinned)
      if (post) feed.push({ post, reason: { $type: 'app.bsky.feed.defs#reasonPin' } })
    }
    const reposter = views.actor(did)
    for (const row of rows) {
      const post = views.get(row.post_uri)
      if (!post) continue // a repost of a post not indexed, or by an account not served
      const item: AppBskyFeedDefs.FeedViewPost = { post }
      const reply = replyRef(views, views.row(row.post_uri)!)
      if (reply) item.reply = reply
      if (row.kind === 'repost') {
        if (!reposter) continue
        item.reason = {
          $type: 'app.bsky.feed.defs#reasonRepost',
          by: basicView(ctx, reposter),
          uri: row.uri,
          cid: row.cid,
          indexedAt: row.indexed_at.toISOString(),
        }
      }
      feed.push(item)
    }
    const next = nextCursor(rows, limit)
    return next === undefined ? { feed } : { cursor: next, feed }
  },
}
