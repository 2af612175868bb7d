// Loads what views need, in a few batched queries per request, and builds them with ./views.ts.
import type pg from 'pg'
import type { AppBskyActorDefs, AppBskyFeedDefs } from '@atproto/api'
import { loadActors, loadPostCounts, loadPosts, POST_COLLECTION, type ActorRow, type PostRow } from './data.js'
import {
  notFoundPost,
  notFoundRecord,
  postView,
  profileView,
  profileViewBasic,
  quotedPostView,
  quotedUri,
  typedPostView,
  unknownActor,
  type MediaUrls,
} from './views.js'

export type ViewContext = { pool: pg.Pool; media: MediaUrls }

export type PostViews = {
  /** The view of a served post, or undefined. */
  get(uri: string): AppBskyFeedDefs.PostView | undefined
  /** The post as a union member: a postView, or notFoundPost when it is not served. */
  ref(uri: string): AppBskyFeedDefs.ReplyRef['parent']
  row(uri: string): PostRow | undefined
  actor(did: string): ActorRow | undefined
}

const isPostUri = (uri: string) => uri.split('/')[3] === POST_COLLECTION

/** Post views for `uris`: posts of served authors, with counts and their quoted posts (one level). */
export async function hydratePosts(ctx: ViewContext, uris: readonly string[], extraActors: readonly string[] = []): Promise<PostViews> {
  const posts = await loadPosts(ctx.pool, uris)
  const quotedUris = [...posts.values()]
    .map((p) => p.embedUri ?? quotedUri(p.record.embed))
    .filter((u): u is string => u !== undefined && u !== null && isPostUri(u) && !posts.has(u))
  const quoted = await loadPosts(ctx.pool, quotedUris)
  const all = [...posts.values(), ...quoted.values()]
  const [actors, counts] = await Promise.all([
    loadActors(ctx.pool, [...all.map((p) => p.did), ...extraActors]),
    loadPostCounts(ctx.pool, all.map((p) => p.uri)),
  ])
  const quotedView = (uri: string) => {
    const q = posts.get(uri) ?? quoted.get(uri)
    const author = q && actors.get(q.did)
    return q && author ? quotedPostView(q, author, counts.get(uri), ctx.media) : notFoundRecord(uri)
  }
  const views = new Map<string, AppBskyFeedDefs.PostView>()
  for (const post of posts.values()) {
    const author = actors.get(post.did)
    if (author) views.set(post.uri, postView(post, author, counts.get(post.uri), ctx.media, quotedView))
  }
  return {
    get: (uri) => views.get(uri),
    ref: (uri) => {
      const view = views.get(uri)
      return view ? typedPostView(view) : notFoundPost(uri)
    },
    row: (uri) => (views.has(uri) ? posts.get(uri) : undefined),
    actor: (did) => actors.get(did),
  }
}

/** The reply context of a feed item whose post is a reply: its root and parent, each a post or notFoundPost. */
export function replyRef(views: PostViews, post: PostRow): AppBskyFeedDefs.ReplyRef | undefined {
  if (!post.replyParent) return undefined
  return { root: views.ref(post.replyRoot ?? post.replyParent), parent: views.ref(post.replyParent) }
}

/**
 * Profile views for `dids` in their order: served actors, and DIDs with no actors row at all (`unknown`) as
 * identity-only views; hidden actors are dropped.
 */
export async function profileViews(
  ctx: ViewContext,
  dids: readonly string[],
  unknown: ReadonlySet<string> = new Set(),
): Promise<AppBskyActorDefs.ProfileView[]> {
  const actors = await loadActors(ctx.pool, dids)
  const out: AppBskyActorDefs.ProfileView[] = []
  for (const did of dids) {
    const actor = actors.get(did) ?? (unknown.has(did) ? unknownActor(did) : undefined)
    if (actor) out.push(profileView(actor, ctx.media))
  }
  return out
}

export function basicView(ctx: ViewContext, actor: ActorRow): AppBskyActorDefs.ProfileViewBasic {
  return profileViewBasic(actor, ctx.media)
}
