// app.bsky.feed.getLikes: who liked a record, most recent like first, by served accounts only.
import type { AppBskyFeedGetLikes } from '@atproto/api'
import { engagements } from './engagements.js'
import type { XrpcQuery } from './method.js'

export const getLikes: XrpcQuery = {
  nsid: 'app.bsky.feed.getLikes',
  async handler(ctx, query) {
    const { subject, items, cursor } = await engagements(ctx, query, 'likes')
    const out: AppBskyFeedGetLikes.OutputSchema = {
      uri: subject.uri,
      likes: items.map((l) => ({ indexedAt: l.indexedAt.toISOString(), createdAt: l.createdAt.toISOString(), actor: l.actor })),
    }
    if (subject.cid !== undefined) out.cid = subject.cid
    if (cursor !== undefined) out.cursor = cursor
    return out
  },
}
