// getLikes and getRepostedBy are one query over two tables: who liked (reposted) a subject, most recent first, by
// served accounts only, paged by (created_at, uri). The methods differ only in how they shape the answer.
import type { AppBskyActorDefs } from '@atproto/api'
import { limit as limitParam, type Query } from '../params.js'
import { afterCursorSql, cursorParam, nextCursor, sortKeySql } from './cursor.js'
import { servedSql } from './data.js'
import { profileViews, type ViewContext } from './hydrate.js'
import { subjectParam, type Subject } from './subject.js'

export type EngagementTable = 'likes' | 'reposts'

export type Engagement = { uri: string; did: string; createdAt: Date; indexedAt: Date; actor: AppBskyActorDefs.ProfileView }

const sqlCache = new Map<EngagementTable, string>()

function engagementSql(table: EngagementTable): string {
  let sql = sqlCache.get(table)
  if (!sql) {
    sql = `
      SELECT e.uri, e.did, e.created_at, e.indexed_at, ${sortKeySql('e.created_at')} AS sort_key
        FROM ${table} e JOIN actors a ON a.did = e.did
       WHERE e.subject_uri = $1 AND ($4::text IS NULL OR e.subject_cid = $4::text) AND ${servedSql('a')}
         AND ${afterCursorSql('e.created_at', 'e.uri', 2, 3)}
       ORDER BY e.created_at DESC, e.uri ASC
       LIMIT $5`
    sqlCache.set(table, sql)
  }
  return sql
}

/** One page of engagements with `query`'s subject, each with its actor's profile view. */
export async function engagements(
  ctx: ViewContext,
  query: Query,
  table: EngagementTable,
): Promise<{ subject: Subject; items: Engagement[]; cursor: string | undefined }> {
  const limit = limitParam(query)
  const cursor = cursorParam(query)
  const subject = await subjectParam(ctx, query)
  const { rows } = await ctx.pool.query<{ uri: string; did: string; created_at: Date; indexed_at: Date; sort_key: string }>(
    engagementSql(table),
    [subject.uri, cursor?.at ?? null, cursor?.uri ?? null, subject.cid ?? null, limit],
  )
  const actors = new Map((await profileViews(ctx, rows.map((r) => r.did))).map((a) => [a.did, a]))
  const items: Engagement[] = []
  for (const r of rows) {
    const actor = actors.get(r.did)
    if (actor) items.push({ uri: r.uri, did: r.did, createdAt: r.created_at, indexedAt: r.indexed_at, actor })
  }
  return { subject, items, cursor: nextCursor(rows, limit) }
}
