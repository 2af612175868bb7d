// app.bsky.feed.getLikes: who liked a record, most recent like first, by served accounts only.
import type { AppBskyFeedGetLikes } from '@atproto/api'
import { limit as limitParam } from '../params.js'
import { afterCursorSql, cursorParam, nextCursor, sortKeySql } from './cursor.js'
import { servedSql } from './data.js'
import { profileViews } from './hydrate.js'
import type { XrpcQuery } from './method.js'
import { subjectParam } from './subject.js'

const LIKES_SQL = `
  SELECT l.uri, l.did, l.created_at, l.indexed_at, ${sortKeySql('l.created_at')} AS sort_key
    FROM likes l JOIN actors a ON a.did = l.did
   WHERE l.subject_uri = $1 AND ($4::text IS NULL OR l.subject_cid = $4::text) AND ${servedSql('a')}
     AND ${afterCursorSql('l.created_at', 'l.uri', 2, 3)}
   ORDER BY l.created_at DESC, l.uri ASC
   LIMIT $5`

export const getLikes: XrpcQuery = {
  nsid: 'app.bsky.feed.getLikes',
  async handler(ctx, query) {
    const limit = limitParam(query)
    const cursor = cursorParam(query)
    const subject = await subjectParam(ctx, query)
    const { rows } = await ctx.pool.query<{ uri: string; did: string; created_at: Date; indexed_at: Date; sort_key: string }>(
      LIKES_SQL,
      [subject.uri, cursor?.at ?? null, cursor?.uri ?? null, subject.cid ?? null, limit],
    )
    const actors = await profileViews(ctx, rows.map((r) => r.did))
    const byDid = new Map(actors.map((a) => [a.did, a]))
    const likes: AppBskyFeedGetLikes.Like[] = []
    for (const r of rows) {
      const actor = byDid.get(r.did)
      if (actor) likes.push({ indexedAt: r.indexed_at.toISOString(), createdAt: r.created_at.toISOString(), actor })
    }
    const out: AppBskyFeedGetLikes.OutputSchema = { uri: subject.uri, likes }
    if (subject.cid !== undefined) out.cid = subject.cid
    const next = nextCursor(rows, limit)
    if (next !== undefined) out.cursor = next
    return out
  },
}
