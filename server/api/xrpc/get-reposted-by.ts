// app.bsky.feed.getRepostedBy: who reposted a record, most recent repost first, by served accounts only.
import type { AppBskyFeedGetRepostedBy } from '@atproto/api'
import { limit as limitParam } from '../params.js'
import { afterCursorSql, cursorParam, nextCursor, sortKeySql } from './cursor.js'
import { servedSql } from './data.js'
import { profileViews } from './hydrate.js'
import type { XrpcQuery } from './method.js'
import { subjectParam } from './subject.js'

const REPOSTS_SQL = `
  SELECT r.uri, r.did, ${sortKeySql('r.created_at')} AS sort_key
    FROM reposts r JOIN actors a ON a.did = r.did
   WHERE r.subject_uri = $1 AND ($4::text IS NULL OR r.subject_cid = $4::text) AND ${servedSql('a')}
     AND ${afterCursorSql('r.created_at', 'r.uri', 2, 3)}
   ORDER BY r.created_at DESC, r.uri ASC
   LIMIT $5`

export const getRepostedBy: XrpcQuery = {
  nsid: 'app.bsky.feed.getRepostedBy',
  async handler(ctx, query) {
    const limit = limitParam(query)
    const cursor = cursorParam(query)
    const subject = await subjectParam(ctx, query)
    const { rows } = await ctx.pool.query<{ uri: string; did: string; sort_key: string }>(REPOSTS_SQL, [
      subject.uri,
      cursor?.at ?? null,
      cursor?.uri ?? null,
      subject.cid ?? null,
      limit,
    ])
    const out: AppBskyFeedGetRepostedBy.OutputSchema = {
      uri: subject.uri,
      repostedBy: await profileViews(ctx, rows.map((r) => r.did)),
    }
    if (subject.cid !== undefined) out.cid = subject.cid
    const next = nextCursor(rows, limit)
    if (next !== undefined) out.cursor = next
    return out
  },
}
