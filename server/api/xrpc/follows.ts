// The shared half of getFollowers and getFollows: the actor as the subject's profileView, and a page of follows.
import type { AppBskyActorDefs } from '@atproto/api'
import { atIdentifier, limit as limitParam, type Query } from '../params.js'
import { cursorParam, nextCursor } from './cursor.js'
import { loadActors, resolveActor } from './data.js'
import { profileNotFound } from './get-profile.js'
import { profileViews, type ViewContext } from './hydrate.js'
import { profileView } from './views.js'

export type FollowRow = { uri: string; other: string; unknown: boolean; sort_key: string }

/**
 * Runs `sql` ($1 the actor's DID, $2/$3 the cursor, $4 the limit; rows name the other side of each follow) and
 * returns the subject, the other sides' profile views in order, and the next cursor.
 */
export async function followPage(
  ctx: ViewContext,
  query: Query,
  sql: string,
): Promise<{ subject: AppBskyActorDefs.ProfileView; profiles: AppBskyActorDefs.ProfileView[]; cursor?: string }> {
  const actor = atIdentifier(query, 'actor')
  const limit = limitParam(query)
  const cursor = cursorParam(query)
  const did = await resolveActor(ctx.pool, actor)
  if (did === null) throw profileNotFound()
  const [subjects, page] = await Promise.all([
    loadActors(ctx.pool, [did]),
    ctx.pool.query<FollowRow>(sql, [did, cursor?.at ?? null, cursor?.uri ?? null, limit]),
  ])
  const subject = subjects.get(did)
  if (!subject) throw profileNotFound()
  const rows = page.rows
  const unknown = new Set(rows.filter((r) => r.unknown).map((r) => r.other))
  const profiles = await profileViews(ctx, rows.map((r) => r.other), unknown)
  const next = nextCursor(rows, limit)
  return next === undefined ? { subject: profileView(subject, ctx.media), profiles } : { subject: profileView(subject, ctx.media), profiles, cursor: next }
}
